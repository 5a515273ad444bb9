"""Servers shared by the whole session: each starts on first use and stops at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fsspec_research.testing import SwiftServerHandle, swift_server


@pytest.fixture(scope="session")
def swift() -> Iterator[SwiftServerHandle]:
    """A real Swift with tempauth (and s3api) on 127.0.0.1."""
    with swift_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def swift_keystone() -> Iterator[SwiftServerHandle]:
    """A real Swift behind a real Keystone v3 (the tempauth proxy runs too)."""
    with swift_server(keystone=True) as srv:
        yield srv

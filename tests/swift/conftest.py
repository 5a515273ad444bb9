"""A fresh container per test on the session's real Swift, and filesystems logged in to it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fsspec
import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.testing.swift import SwiftServerHandle


def make_fs(options: dict, **extra) -> SwiftFileSystem:
    return fsspec.filesystem("swift", skip_instance_cache=True, **options, **extra)


@pytest.fixture
def login() -> Callable[..., SwiftFileSystem]:
    """``login(storage_options, **extra)``: a new filesystem (not from fsspec's instance cache)."""
    return make_fs


@pytest.fixture
def fs(swift: SwiftServerHandle) -> SwiftFileSystem:
    return make_fs(swift.storage_options)


@pytest.fixture
def root(swift: SwiftServerHandle, fs: SwiftFileSystem) -> Iterator[str]:
    """``host/AUTH_test/<fresh container>``, removed with its segments afterwards."""
    path = f"{fs._strip_protocol(swift.root)}/t-{uuid.uuid4().hex[:10]}"
    fs.mkdir(path)
    yield path
    for container in (path, path + "_segments"):
        if fs.exists(container):
            fs.rm(container, recursive=True)

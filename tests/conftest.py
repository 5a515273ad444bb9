"""Servers shared by the whole session: each starts on first use and stops at the end."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Iterator

import pytest

from fsspec_research.testing import (
    IRODSServerHandle,
    PFSServerHandle,
    S3ServerHandle,
    SwiftServerHandle,
    irods_server,
    pfs_server,
    s3_server,
    swift_server,
)


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


@pytest.fixture(scope="session")
def irods() -> Iterator[IRODSServerHandle]:
    """The iRODS protocol server, announcing iRODS 4.3.4 (native auth 4.3, parallel transfers)."""
    with irods_server(version="4.3.4") as srv:
        yield srv


@pytest.fixture(scope="session")
def irods_legacy() -> Iterator[IRODSServerHandle]:
    """The iRODS protocol server announcing 4.2.8 (legacy auth, single-stream transfers)."""
    with irods_server(version="4.2.8") as srv:
        yield srv


@pytest.fixture(scope="session")
def pfs() -> Iterator[PFSServerHandle]:
    """The PFS gRPC server (python-pachyderm talks to it over TCP)."""
    for name in ("PACH_CONFIG", "PACH_PYTHON_AUTH_TOKEN", "PACH_PYTHON_OIDC_TOKEN"):
        os.environ.pop(name, None)  # never the user's pachctl context
    with pfs_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def s3() -> Iterator[S3ServerHandle]:
    """moto's S3 on 127.0.0.1, with a fresh bucket."""
    with s3_server() as srv:
        yield srv


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A stuck non-daemon thread must not hold the finished run open: if the interpreter has not exited
    60 s after the run, print every thread's stack (for diagnosis) and exit with the run's status."""

    def give_up() -> None:
        sys.stderr.write("\ninterpreter still running 60 s after the test run; thread stacks:\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(int(exitstatus))

    timer = threading.Timer(60, give_up)
    timer.daemon = True
    timer.start()

"""A server that drops, half-answers or stalls: reads recover on a new connection or fail, never hang."""

from __future__ import annotations

import random

import pytest

from fsspec_research.testing import irods_server

DATA_OBJ_READ = 675
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def irods():
    """A server of this module's own: injected faults must not reach other tests."""
    with irods_server() as srv:
        yield srv


def payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("action", ["drop", "half", "stall"])
def test_a_failed_read_is_retried_on_a_new_connection(irods, login, root, action):
    fs = login(irods.storage_options, timeout=2)
    path = f"{root}/fault-{action}.bin"
    data = payload(300_000)
    fs.pipe(path, data)
    irods.inject(DATA_OBJ_READ, action, count=1)
    try:
        assert fs.cat_file(path, 1000, 250_000) == data[1000:250_000]
    finally:
        fs.close()


def test_a_server_that_keeps_failing_gives_a_clear_error(irods, login, root):
    fs = login(irods.storage_options, timeout=1, retries={"retries": 1, "backoff": 0.01})
    path = f"{root}/always-failing.bin"
    fs.pipe(path, payload(1000))
    irods.inject(DATA_OBJ_READ, "half", count=20)
    try:
        with pytest.raises(ConnectionError, match="always-failing"):
            fs.cat_file(path)
    finally:
        fs.close()

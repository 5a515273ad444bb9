"""A server that drops, half-answers or stalls: reads and writes recover on a new connection or fail,
never hang, and a failed upload leaves nothing."""

from __future__ import annotations

import ast
import base64
import hashlib
import inspect
import random

import pytest

import fsspec_research.core.ranges
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


DATA_OBJ_WRITE = 676


def test_a_part_whose_connection_drops_is_rewritten_on_a_new_one(irods, login, root):
    fs = login(irods.storage_options, timeout=2)
    path = f"{root}/rewritten.bin"
    data = payload(3 * fs.upload_part_size + 7)
    irods.inject(DATA_OBJ_WRITE, "drop", count=1)
    try:
        fs.pipe(path, data)
        assert fs.cat_file(path) == data
        assert fs.checksum(path) == "sha2:" + base64.b64encode(hashlib.sha256(data).digest()).decode()
    finally:
        irods.clear_faults()
        fs.close()


def test_an_upload_that_keeps_failing_leaves_nothing(irods, login, root):
    fs = login(irods.storage_options, timeout=1, retries={"retries": 1, "backoff": 0.01})
    path = f"{root}/never.bin"
    irods.inject(DATA_OBJ_WRITE, "drop", count=50)
    try:
        with pytest.raises(ConnectionError, match=r"never\.bin"):
            fs.pipe(path, payload(3 * fs.upload_part_size + 7))
        irods.clear_faults()
        fs.invalidate_cache()
        assert fs.ls(root, detail=False) == []
        # the dropped connections were finalized already, not in the middle of a later parse
        # (python-irodsclient's close runs ast.literal_eval: see client._drop)
        ast.parse(inspect.getsource(fsspec_research.core.ranges))
    finally:
        fs.close()

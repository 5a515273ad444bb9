"""Faults on a real socket path: resets and stalls injected by Netem between fsspec's HTTP client and the
test server. Transient faults are retried; persistent ones end in a clear builtin exception, never a hang
or wrong bytes."""

from __future__ import annotations

import os

import aiohttp
import pytest

from fsspec_research.parallel import ParallelFileSystem
from fsspec_research.testing import Netem, http_server

pytestmark = pytest.mark.timeout(60)
KiB = 1024
DATA = os.urandom(1024 * KiB)


@pytest.fixture
def served():
    with http_server() as srv:
        with open(os.path.join(srv.directory, "obj.bin"), "wb") as f:
            f.write(DATA)
        with Netem(("127.0.0.1", srv.port)) as net:
            yield net, f"{net.url('http')}/obj.bin"


def parallel_fs(**options) -> ParallelFileSystem:
    return ParallelFileSystem(
        target_protocol="http",
        target_options={"skip_instance_cache": True, **options.pop("target_options", {})},
        skip_instance_cache=True,
        **options,
    )


def test_resets_mid_transfer_are_retried_to_exact_bytes(served):
    net, url = served
    net.set_faults(reset_after=300 * KiB)  # every connection dies after 300 KiB sent to the client
    fs = parallel_fs(part_size=256 * KiB, concurrency=2, retries={"retries": 8, "backoff": 0.01})
    assert fs.cat_file(url) == DATA
    assert net.stats.connections > 2  # connections were reset and replaced


def test_persistent_resets_raise_connection_error_naming_the_path(served):
    net, url = served
    net.set_faults(reset_after=1000)
    fs = parallel_fs(retries={"retries": 2, "backoff": 0.01})
    with pytest.raises(ConnectionError, match=r"obj\.bin") as info:
        fs.cat_ranges([url], [0], [200 * KiB], on_error="raise")
    assert info.value.__cause__ is not None


def test_stalled_server_times_out_instead_of_hanging(served):
    net, url = served
    net.set_faults(stall_after=10 * KiB)
    fs = parallel_fs(
        retries={"retries": 1, "backoff": 0.01},
        target_options={"client_kwargs": {"timeout": aiohttp.ClientTimeout(sock_read=0.5)}},
    )
    with pytest.raises(ConnectionError, match=r"obj\.bin"):
        fs.cat_file(url, 0, 500 * KiB)


def test_cache_read_with_failing_connections_raises_not_wrong_bytes(served):
    net, url = served
    net.set_faults(reset_after=1000)  # every connection dies after 1000 bytes: headers pass, bodies do not
    fs = parallel_fs(retries={"retries": 1, "backoff": 0.01})
    with fs.open(url, block_size=64 * KiB) as f:
        f.seek(500 * KiB)
        with pytest.raises(ConnectionError, match=r"obj\.bin"):
            f.read(300 * KiB)

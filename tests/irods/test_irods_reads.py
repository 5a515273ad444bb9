"""Reads on ``irods://``: byte-exact against a local copy, parallel over several connections, pinned."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsspec_research.core.errors import ObjectChangedError

MiB = 2**20
DATA_OBJ_OPEN = 602


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def test_cat_file_whole_and_limits_are_byte_exact(fs, root):
    data = payload(9 * MiB + 321)
    path = f"{root}/a.bin"
    fs.pipe(path, data)
    assert fs.cat_file(path) == data
    assert fs.cat_file(path, 5, 100) == data[5:100]
    assert fs.cat_file(path, -10) == data[-10:]
    assert fs.cat_file(path, len(data) - 3, len(data) + 50) == data[-3:]
    assert fs.cat_file(path, 7, 7) == b""


def test_cat_ranges_merged_and_scattered(fs, root):
    data = payload(6 * MiB, seed=1)
    path = f"{root}/r.bin"
    fs.pipe(path, data)
    rng = random.Random(2)
    starts = sorted(rng.randrange(len(data) - 20_000) for _ in range(60))
    ends = [s + rng.randrange(1, 20_000) for s in starts]
    assert fs.cat_ranges([path] * len(starts), starts, ends) == [data[s:e] for s, e in zip(starts, ends)]
    assert fs.cat_ranges([path] * len(starts), starts, ends, max_gap=0) == [
        data[s:e] for s, e in zip(starts, ends)
    ]


def test_a_missing_path_in_cat_ranges_is_returned_as_its_error(fs, root):
    fs.pipe(f"{root}/here", b"0123456789")
    out = fs.cat_ranges([f"{root}/here", f"{root}/gone"], [1, 0], [4, 3])
    assert out[0] == b"123"
    assert isinstance(out[1], FileNotFoundError) and f"{root}/gone" in str(out[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(st.tuples(st.integers(0, 3 * MiB + 100), st.integers(0, 600_000)), min_size=1, max_size=12)
)
def test_random_seek_and_read_match_a_local_copy(fs, root, ops):
    data = payload(3 * MiB + 7, seed=3)
    path = f"{root}/h.bin"
    if not fs.exists(path):
        fs.pipe(path, data)
    local = io.BytesIO(data)
    with fs.open(path, "rb", block_size=256 * 1024) as f:
        for offset, length in ops:
            f.seek(offset)
            local.seek(offset)
            assert f.read(length) == local.read(length)
            assert f.tell() == local.tell()


def test_blockcache_reads_match_for_xarray_style_opens(fs, root):
    data = payload(10 * MiB + 5, seed=4)
    path = f"{root}/b.bin"
    fs.pipe(path, data)
    with fs.open(path, "rb", cache_type="blockcache", block_size=4 * MiB) as f:
        f.seek(3 * MiB + 17)
        assert f.read(5 * MiB) == data[3 * MiB + 17 : 8 * MiB + 17]
        assert f.read() == data[8 * MiB + 17 :]


def test_a_big_read_goes_over_several_connections_and_descriptors_are_reused(irods, fs, root):
    data = payload(24 * MiB, seed=5)
    path = f"{root}/big.bin"
    fs.pipe(path, data)
    irods.reset_counts()
    assert fs.cat_file(path) == data
    opened = irods.api_counts[DATA_OBJ_OPEN]
    assert 2 <= opened <= fs.concurrency
    for _ in range(3):
        assert fs.cat_file(path) == data
    assert irods.api_counts[DATA_OBJ_OPEN] <= fs.concurrency  # the workers' descriptors stay open


def test_get_file_writes_a_byte_exact_local_copy(fs, root, tmp_path):
    data = payload(13 * MiB + 1, seed=6)
    fs.pipe(f"{root}/g.bin", data)
    fs.get(f"{root}/g.bin", str(tmp_path / "g.bin"))
    assert (tmp_path / "g.bin").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["g.bin"]  # no partial file left beside it


def test_an_object_replaced_while_open_raises_instead_of_mixing_bytes(fs, root):
    path = f"{root}/v.bin"
    fs.pipe(path, payload(2 * MiB, seed=7))
    with fs.open(path, "rb", block_size=256 * 1024) as f:
        assert f.read(10) == payload(2 * MiB, seed=7)[:10]
        fs.pipe(path, payload(2 * MiB, seed=8))  # same size, other bytes
        f.seek(MiB)
        with pytest.raises(ObjectChangedError, match=r"v\.bin"):
            f.read(10)


def test_cat_ranges_are_pinned_to_one_version(fs, root):
    path = f"{root}/p.bin"
    fs.pipe(path, b"a" * 1000)
    version = fs._pin_version(path)
    fs.pipe(path, b"b" * 1000)
    with pytest.raises(ObjectChangedError):
        fs.read_ranges(path, [(0, 10)], version=version)
    assert fs.read_ranges(path, [(0, 10)], version=fs._pin_version(path)) == [b"b" * 10]


def test_reading_a_collection_or_a_missing_object_raises(fs, root):
    with pytest.raises(IsADirectoryError):
        fs.open(root, "rb")
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        fs.cat_file(f"{root}/nothing-here")


def test_reads_on_an_old_server_are_byte_exact(irods_legacy, login):
    fs = login(irods_legacy.storage_options)
    assert fs.client.server_version == (4, 2, 8)
    path = f"{fs._strip_protocol(irods_legacy.root)}/legacy.bin"
    data = payload(5 * MiB + 3, seed=9)
    fs.pipe(path, data)
    try:
        assert fs.cat_file(path) == data
        assert fs.cat_ranges([path, path], [1, 4 * MiB], [9, 5 * MiB]) == [data[1:9], data[4 * MiB : 5 * MiB]]
    finally:
        fs.rm(path)
        fs.close()

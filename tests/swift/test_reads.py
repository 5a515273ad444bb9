"""Reads from a real Swift: inclusive ranges, block cache, merged cat_ranges, pinning, parallel get."""

from __future__ import annotations

import os
import random

import pytest
from fsspec.asyn import sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.swift import SwiftFileSystem

SIZE = 3 * 2**20 + 4321
DATA = random.Random(7).randbytes(SIZE)


@pytest.fixture
def blob(fs: SwiftFileSystem, root: str) -> str:
    path = f"{root}/dir/blob.bin"
    fs.pipe(path, DATA)
    return path


def test_cat_file_ranges_are_exclusive_at_the_end(fs: SwiftFileSystem, blob: str) -> None:
    # swiftspec sends bytes=start-end and returns one byte too many; this catches that off-by-one
    assert fs.cat_file(blob, 0, 10) == DATA[:10]
    assert fs.cat_file(blob, 5, 6) == DATA[5:6]
    assert fs.cat_file(blob, 10, 10) == b""
    assert fs.cat_file(blob, -100) == DATA[-100:]
    assert fs.cat_file(blob, SIZE - 3, SIZE + 50) == DATA[-3:]
    assert fs.cat_file(blob) == DATA


@pytest.mark.parametrize("cache_type", ["blockcache", "parallel", "readahead", "bytes", "none"])
def test_block_reads_across_block_boundaries(fs: SwiftFileSystem, blob: str, cache_type: str) -> None:
    with fs.open(blob, "rb", cache_type=cache_type, block_size=1024) as f:
        f.seek(1000)
        assert f.read(100) == DATA[1000:1100]
        f.seek(SIZE - 10)
        assert f.read(100) == DATA[-10:]
        f.seek(0)
        assert f.read() == DATA


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, SIZE + 100), st.integers(0, 300_000)), min_size=1, max_size=12))
def test_random_seek_read_matches_local_copy(fs: SwiftFileSystem, blob: str, ops: list) -> None:
    with fs.open(blob, "rb", block_size=64 * 1024) as f:
        for offset, length in ops:
            f.seek(offset)
            assert f.read(length) == DATA[offset : offset + length]


def test_cat_ranges_merges_and_slices(fs: SwiftFileSystem, blob: str) -> None:
    rng = random.Random(3)
    starts = sorted(rng.randrange(0, SIZE - 5000) for _ in range(60))
    ends = [s + rng.randrange(1, 5000) for s in starts]
    out = fs.cat_ranges([blob] * len(starts), starts, ends, max_gap=200_000)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]


def test_cat_ranges_reports_a_missing_path_without_failing_the_others(fs: SwiftFileSystem, blob: str) -> None:
    missing = blob + ".missing"
    out = fs.cat_ranges([blob, missing, blob], [0, 0, 100], [10, 10, 200])
    assert out[0] == DATA[:10] and out[2] == DATA[100:200]
    assert isinstance(out[1], FileNotFoundError)
    assert missing in str(out[1])


def test_a_replaced_object_raises_instead_of_mixing_bytes(fs: SwiftFileSystem, blob: str) -> None:
    with fs.open(blob, "rb", block_size=4096, cache_type="parallel") as f:
        assert f.read(10) == DATA[:10]
        fs.pipe(blob, b"x" * SIZE)
        f.seek(2 * 2**20)
        with pytest.raises(ObjectChangedError, match="changed while being read"):
            f.read(10)


def test_version_pinned_at_open_with_if_match_on_a_large_object(fs: SwiftFileSystem, root: str) -> None:
    big = SwiftFileSystem(**fs.storage_options, segment_size=2**20, skip_instance_cache=True)
    path = f"{root}/slo.bin"
    big.pipe(path, DATA)
    with big.open(path, "rb", block_size=4096) as f:
        assert f.read(10) == DATA[:10]
        big.pipe(path, DATA[::-1])
        f.seek(2**20 + 7)
        with pytest.raises(ObjectChangedError):
            f.read(10)
    assert big.cat_file(path, 0, 10) == DATA[::-1][:10]


def test_get_file_downloads_in_parallel_parts(fs: SwiftFileSystem, blob: str, tmp_path) -> None:
    small_parts = SwiftFileSystem(**fs.storage_options, part_size=256 * 1024, skip_instance_cache=True)
    target = tmp_path / "sub" / "blob.bin"
    small_parts.get(blob, str(target))
    assert target.read_bytes() == DATA
    assert not [p for p in os.listdir(target.parent) if p != "blob.bin"]


def test_cat_file_of_many_parts_assembles_them_in_place(fs: SwiftFileSystem, blob: str) -> None:
    small_parts = SwiftFileSystem(
        **fs.storage_options, part_size=256 * 1024, min_part_size=64 * 1024, skip_instance_cache=True
    )
    assert small_parts.cat_file(blob) == DATA  # 13 parts
    assert small_parts.cat_file(blob, -300_001) == DATA[-300_001:]  # 2 parts
    assert small_parts.cat_file(blob, 12_345, SIZE - 6789) == DATA[12_345 : SIZE - 6789]
    assert small_parts.cat_file(blob, 100_000, 200_000) == DATA[100_000:200_000]  # 1 part
    assert small_parts.cat_file(blob, SIZE + 1) == b""


def test_get_directory_recursively(fs: SwiftFileSystem, root: str, tmp_path) -> None:
    fs.pipe({f"{root}/d/a.txt": b"a", f"{root}/d/e/b.txt": b"bb"})
    fs.get(f"{root}/d", str(tmp_path / "out"), recursive=True)
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"a"
    assert (tmp_path / "out" / "e" / "b.txt").read_bytes() == b"bb"


def test_empty_object(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe(f"{root}/empty", b"")
    assert fs.cat(f"{root}/empty") == b""
    with fs.open(f"{root}/empty", "rb") as f:
        assert f.read() == b""
    assert fs.info(f"{root}/empty")["size"] == 0


def test_pinned_reads_of_a_plain_server_copy_of_a_large_object(fs: SwiftFileSystem, root: str) -> None:
    """Swift gives such a copy (as `swift copy` makes it) the source's SLO ETag metadata, so its If-Match
    answers are 412 although nothing changed: the read falls back to comparing the answer's ETag."""
    big = SwiftFileSystem(**fs.storage_options, segment_size=2**20, skip_instance_cache=True)
    big.pipe(f"{root}/slo.bin", DATA)
    container = root.rsplit("/", 1)[1]
    copy = {"X-Copy-From": f"/{container}/slo.bin", "Content-Length": "0"}
    sync(big.loop, big._request, "PUT", f"{root}/copied.bin", headers=copy, data=b"")
    assert not big.info(f"{root}/copied.bin")["static_large_object"]
    with big.open(f"{root}/copied.bin", "rb", block_size=4096) as f:
        f.seek(2**20 - 7)
        assert f.read(5000) == DATA[2**20 - 7 : 2**20 + 4993]
        big.pipe(f"{root}/copied.bin", b"replaced")
        f.seek(3 * 2**20)
        with pytest.raises(ObjectChangedError):
            f.read(10)

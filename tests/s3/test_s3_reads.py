"""Reads of ``s3r://`` from moto and from Swift's s3api: exact ranges, the block cache, merged parallel
``cat_ranges``, ETag pinning and parallel downloads."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsspec_research.core.cache import ParallelBlockCache
from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.core.file import ResearchFile
from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import S3ServerHandle

SIZE = 3 * 2**20 + 4321
DATA = random.Random(11).randbytes(SIZE)


@pytest.fixture
def blob(fs: ResearchS3FileSystem, root: str) -> str:
    path = f"{root}/dir/blob.bin"
    fs.pipe(path, DATA)
    return path


def test_cat_file_limits(fs: ResearchS3FileSystem, blob: str) -> None:
    assert fs.cat_file(blob, 0, 10) == DATA[:10]
    assert fs.cat_file(blob, 5, 6) == DATA[5:6]
    assert fs.cat_file(blob, 10, 10) == b""
    assert fs.cat_file(blob, -100) == DATA[-100:]
    assert fs.cat_file(blob, SIZE - 3, SIZE + 50) == DATA[-3:]
    assert fs.cat_file(blob, SIZE + 10, SIZE + 20) == b""  # past the end: nothing, as a file read gives
    assert fs.cat_file(blob) == DATA
    assert fs.cat(f"s3r://{blob}") == DATA


@pytest.mark.parametrize("cache_type", ["blockcache", "parallel", "readahead", "bytes", "none"])
def test_block_reads_across_block_boundaries(fs: ResearchS3FileSystem, blob: str, cache_type: str) -> None:
    with fs.open(blob, "rb", cache_type=cache_type, block_size=1024) as f:
        assert isinstance(f, ResearchFile)
        f.seek(1000)
        assert f.read(100) == DATA[1000:1100]
        f.seek(SIZE - 10)
        assert f.read(100) == DATA[-10:]
        f.seek(0)
        assert f.read() == DATA


def test_default_open_uses_the_parallel_block_cache(fs: ResearchS3FileSystem, blob: str, s3) -> None:
    s3.reset_stats()
    with fs.open(blob, "rb", block_size=256 * 1024) as f:
        cache = f.cache
        assert isinstance(cache, ParallelBlockCache)
        assert f.read() == DATA
        assert cache.requests >= 2  # the missed blocks went out as parallel ranged GETs
    assert s3.stats.by_method.get("GET", 0) == cache.requests


def test_a_batch_of_missed_blocks_goes_out_as_a_few_large_parts(s3, login) -> None:
    fs = login(s3.storage_options)
    assert (fs.read_streams, fs.min_part_size, fs.concurrency) == (16, 2**20, 64)
    assert fs._part_size_for(68 * 2**20) == 68 * 2**20 // 16  # 17 blocks of 4 MiB: 16 parts, not 64
    assert fs._part_size_for(4 * 2**20) == 2**20  # one block: parts of at least min_part_size
    assert fs._part_size_for(2**30) == fs.part_size  # a huge read: part_size parts, concurrency in flight
    assert login(s3.storage_options, read_streams=4)._part_size_for(64 * 2**20) == 8 * 2**20


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    block=st.integers(1000, 300_000),
    ops=st.lists(st.tuples(st.integers(0, SIZE + 100), st.integers(0, 300_000)), min_size=1, max_size=10),
)
def test_random_seek_read_matches_a_local_copy(
    fs: ResearchS3FileSystem, blob: str, tmp_path_factory, block, ops
):
    local = tmp_path_factory.getbasetemp() / "s3-blob-local.bin"
    if not local.exists():
        fs.get(blob, str(local))
    assert local.read_bytes() == DATA
    with fs.open(blob, "rb", block_size=block) as f, open(local, "rb") as g:
        for offset, length in ops:
            f.seek(offset)
            g.seek(offset)
            assert f.read(length) == g.read(length)
            assert f.tell() == g.tell()


def test_cat_ranges_merges_into_fewer_requests(
    fs: ResearchS3FileSystem, blob: str, s3: S3ServerHandle
) -> None:
    rng = random.Random(3)
    starts = sorted(rng.randrange(0, SIZE - 5000) for _ in range(60))
    ends = [s + rng.randrange(1, 5000) for s in starts]
    s3.reset_stats()
    out = fs.cat_ranges([blob] * len(starts), starts, ends, max_gap=200_000)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]
    gets = s3.stats.by_method.get("GET", 0)
    assert 1 <= gets < 60  # merged across gaps
    assert s3.stats.by_method.get("HEAD", 0) <= 1  # one HEAD to pin the ETag


def test_cat_ranges_reports_a_missing_path_without_failing_the_others(fs: ResearchS3FileSystem, blob: str):
    missing = blob + ".missing"
    out = fs.cat_ranges([blob, missing, blob], [0, 0, 100], [10, 10, 200])
    assert out[0] == DATA[:10] and out[2] == DATA[100:200]
    assert isinstance(out[1], FileNotFoundError) and missing in str(out[1])


def test_a_replaced_object_raises_instead_of_mixing_bytes(fs: ResearchS3FileSystem, blob: str, s3) -> None:
    with fs.open(blob, "rb", block_size=4096, cache_type="parallel") as f:
        assert f.read(10) == DATA[:10]
        etag = f.version
        assert etag and etag.startswith('"')
        fs.pipe(blob, b"x" * SIZE)
        f.seek(2 * 2**20)
        with pytest.raises(ObjectChangedError, match="changed while being read") as info:
            f.read(10)
    assert blob in str(info.value) and etag in str(info.value)
    assert info.value.__cause__.response["Error"]["Code"] == "PreconditionFailed"
    assert fs.cat_file(blob, 0, 10) == b"x" * 10  # a fresh read sees the new object


def test_cat_ranges_is_pinned_too(fs: ResearchS3FileSystem, blob: str) -> None:
    version = fs.info(blob)["ETag"]
    fs.pipe(blob, DATA[::-1])
    with pytest.raises(ObjectChangedError):
        fs.read_ranges(blob, [(0, 10), (2**20, 2**20 + 10)], version=version)


def test_get_file_downloads_in_parallel_parts(fs: ResearchS3FileSystem, blob: str, s3, tmp_path, login):
    small_parts = login(s3.storage_options, part_size=256 * 1024)
    target = tmp_path / "sub" / "blob.bin"
    s3.reset_stats()
    small_parts.get(f"s3r://{blob}", str(target))
    assert target.read_bytes() == DATA
    parts = -(-SIZE // (256 * 1024))  # parts of at most part_size (and a listing GET of get's expansion)
    assert parts <= s3.stats.by_method["GET"] <= parts + 1
    assert not [p for p in os.listdir(target.parent) if p != "blob.bin"]


def test_get_directory_recursively(fs: ResearchS3FileSystem, root: str, tmp_path) -> None:
    fs.pipe({f"{root}/d/a.txt": b"a", f"{root}/d/e/b.txt": b"bb"})
    fs.get(f"{root}/d", str(tmp_path / "out"), recursive=True)
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"a"
    assert (tmp_path / "out" / "e" / "b.txt").read_bytes() == b"bb"


def test_empty_object(fs: ResearchS3FileSystem, root: str) -> None:
    fs.pipe(f"{root}/empty", b"")
    assert fs.cat(f"{root}/empty") == b""
    with fs.open(f"{root}/empty", "rb") as f:
        assert f.read() == b""
    assert fs.info(f"{root}/empty")["size"] == 0


def test_reads_from_swift_s3api(swift_fs: tuple[ResearchS3FileSystem, str]) -> None:
    """The same reads against a second, real S3 implementation."""
    fs, bucket = swift_fs
    path = f"{bucket}/blob.bin"
    fs.pipe(path, DATA)
    assert fs.cat_file(path, 1000, 2000) == DATA[1000:2000]
    starts = list(range(0, SIZE - 10_000, 97_531))
    assert fs.cat_ranges([path] * len(starts), starts, [s + 777 for s in starts]) == [
        DATA[s : s + 777] for s in starts
    ]
    with fs.open(path, "rb", block_size=100_000) as f:
        f.seek(SIZE // 2)
        assert f.read(300_000) == DATA[SIZE // 2 : SIZE // 2 + 300_000]
        fs.pipe(path, DATA[::-1])
        f.seek(0)
        with pytest.raises(ObjectChangedError):
            f.read(10)
    assert fs.cat_file(path) == DATA[::-1]

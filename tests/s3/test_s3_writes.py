"""Writes on ``s3r://`` stay s3fs's: multipart uploads from ``open``, ``put`` and ``pipe``, exclusive
creation, server-side copies; then read back byte-exact through the range core."""

from __future__ import annotations

import gc
import random

import pytest
from s3fs.core import S3File

from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import S3ServerHandle

MiB = 2**20
DATA = random.Random(5).randbytes(12 * MiB + 123)


def test_open_for_writing_is_s3fs_multipart(fs: ResearchS3FileSystem, root: str, s3: S3ServerHandle) -> None:
    path = f"{root}/multi.bin"
    s3.reset_stats()
    with fs.open(path, "wb", block_size=5 * MiB) as f:
        assert isinstance(f, S3File) and f.blocksize == 5 * MiB
        for i in range(0, len(DATA), 1_000_000):
            f.write(DATA[i : i + 1_000_000])
    # CreateMultipartUpload + CompleteMultipartUpload are POSTs, each part a PUT
    assert s3.stats.by_method["POST"] == 2 and s3.stats.by_method["PUT"] >= 2
    assert fs.cat(path) == DATA
    assert "-" in fs.info(path)["ETag"]  # a multipart ETag


def test_default_write_part_size_is_s3fs_default(fs: ResearchS3FileSystem, root: str) -> None:
    with fs.open(f"{root}/small.txt", "wb") as f:
        assert f.blocksize == 50 * MiB
        f.write(b"hello")
    with fs.open(f"{root}/small.txt", "rt") as f:
        assert f.read() == "hello"


def test_put_large_file_in_parts(fs: ResearchS3FileSystem, root: str, s3: S3ServerHandle, tmp_path) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(DATA)
    s3.reset_stats()
    fs.put(str(local), f"{root}/put.bin", chunksize=5 * MiB)
    assert s3.stats.by_method["POST"] == 2  # s3fs's multipart put
    assert fs.cat_file(f"{root}/put.bin", 5 * MiB - 10, 5 * MiB + 10) == DATA[5 * MiB - 10 : 5 * MiB + 10]
    assert fs.cat(f"{root}/put.bin") == DATA


def test_exclusive_creation(fs: ResearchS3FileSystem, root: str) -> None:
    path = f"{root}/once.txt"
    fs.pipe(path, b"first", mode="create")
    with pytest.raises(FileExistsError, match=path):
        fs.pipe(path, b"second", mode="create")
    with pytest.raises(FileExistsError, match=path):
        fs.open(path, "xb")
    assert fs.cat(path) == b"first"


def test_copy_move_remove(fs: ResearchS3FileSystem, root: str) -> None:
    fs.pipe(f"{root}/a/x.bin", DATA[:1000])
    fs.cp(f"{root}/a/x.bin", f"{root}/b/y.bin")
    fs.mv(f"{root}/b/y.bin", f"{root}/c/z.bin")
    assert fs.cat(f"{root}/c/z.bin") == DATA[:1000]
    assert not fs.exists(f"{root}/b/y.bin")
    assert sorted(fs.find(root)) == [f"{root}/a/x.bin", f"{root}/c/z.bin"]
    fs.rm(root, recursive=True)
    fs.invalidate_cache()
    assert fs.find(root) == []


def test_writes_to_swift_s3api(swift_fs: tuple[ResearchS3FileSystem, str]) -> None:
    fs, bucket = swift_fs
    with fs.open(f"{bucket}/multi.bin", "wb", block_size=5 * MiB) as f:
        f.write(DATA)
    assert fs.cat_file(f"{bucket}/multi.bin", 12 * MiB, 12 * MiB + 200) == DATA[12 * MiB : 12 * MiB + 200]
    assert fs.cat(f"{bucket}/multi.bin") == DATA


def _pending_uploads(fs: ResearchS3FileSystem, root: str) -> list:
    bucket, prefix = root.split("/", 1)
    return fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix).get("Uploads", [])


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["buffered", "multipart"])
def test_exception_inside_with_publishes_nothing(fs: ResearchS3FileSystem, root: str, size: int) -> None:
    fs.pipe(f"{root}/kept.bin", b"old bytes")
    for name in ("new.bin", "kept.bin"):
        with pytest.raises(KeyError), fs.open(f"{root}/{name}", "wb", block_size=5 * MiB) as f:
            f.write(DATA[:size])
            raise KeyError("the producer failed")
        assert f.closed
    fs.invalidate_cache()
    assert not fs.exists(f"{root}/new.bin")
    assert fs.cat(f"{root}/kept.bin") == b"old bytes"
    assert _pending_uploads(fs, root) == []


def test_never_closed_writer_is_discarded_with_a_warning(fs: ResearchS3FileSystem, root: str) -> None:
    f = fs.open(f"{root}/dangling.bin", "wb", block_size=5 * MiB)
    f.write(DATA[: 6 * MiB])  # one part uploaded
    with pytest.warns(ResourceWarning, match="dangling.bin"):
        del f
        gc.collect()
    fs.invalidate_cache()
    assert not fs.exists(f"{root}/dangling.bin")
    assert _pending_uploads(fs, root) == []


def test_transaction_skips_a_file_discarded_inside_it(fs: ResearchS3FileSystem, root: str) -> None:
    with fs.transaction:
        with fs.open(f"{root}/good.bin", "wb") as f:
            f.write(b"good")
        with pytest.raises(RuntimeError), fs.open(f"{root}/bad.bin", "wb") as f:
            f.write(b"bad")
            raise RuntimeError("failed")
        assert not fs.exists(f"{root}/good.bin")  # nothing before the transaction ends
    fs.invalidate_cache()
    assert fs.cat(f"{root}/good.bin") == b"good"
    assert not fs.exists(f"{root}/bad.bin")

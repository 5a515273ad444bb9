"""Writes to a real Swift: verified PUTs, Static Large Objects, exclusive create, nothing half-written."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from fsspec_research.swift import SwiftFileSystem, client
from fsspec_research.swift.upload import _pread_into

MiB = 2**20
DATA = random.Random(11).randbytes(5 * MiB + 777)


@pytest.fixture
def sfs(fs: SwiftFileSystem) -> SwiftFileSystem:
    """A filesystem writing 1 MiB segments, so a few MiB make a Static Large Object."""
    return SwiftFileSystem(**fs.storage_options, segment_size=MiB, skip_instance_cache=True)


def segments(fs: SwiftFileSystem, root: str) -> list[str]:
    return fs.find(root + "_segments") if fs.exists(root + "_segments") else []


def test_small_write_is_one_object_with_its_md5(fs: SwiftFileSystem, root: str) -> None:
    with fs.open(f"{root}/a/b.csv", "wb") as f:
        f.write(b"x,y\n1,2\n")
    info = fs.info(f"{root}/a/b.csv")
    assert info["ETag"] == hashlib.md5(b"x,y\n1,2\n").hexdigest()
    assert info["content_type"] == "text/csv"
    assert not info["static_large_object"]


def test_streamed_write_becomes_a_static_large_object(sfs: SwiftFileSystem, root: str) -> None:
    path = f"{root}/big/stack.bin"
    with sfs.open(path, "wb") as f:
        for i in range(0, len(DATA), 300_000):  # odd-sized writes
            f.write(DATA[i : i + 300_000])
    info = sfs.info(path)
    assert info["static_large_object"] and info["size"] == len(DATA)
    assert len(segments(sfs, root)) == 6
    for start in (MiB - 3, 2 * MiB - 1, 3 * MiB, 5 * MiB):  # ranges across segment boundaries
        assert sfs.cat_file(path, start, start + 10) == DATA[start : start + 10]
    starts = [k * MiB - 2 for k in range(1, 6)]
    assert sfs.cat_ranges([path] * 5, starts, [s + 4 for s in starts]) == [DATA[s : s + 4] for s in starts]
    assert sfs.cat(path) == DATA


def test_pipe_and_put_of_large_data_upload_segments_in_parallel(
    sfs: SwiftFileSystem, root: str, tmp_path
) -> None:
    sfs.pipe(f"{root}/piped.bin", DATA)
    local = tmp_path / "local.bin"
    local.write_bytes(DATA)
    sfs.put(str(local), f"{root}/put.bin")
    assert sfs.cat(f"{root}/piped.bin") == DATA == sfs.cat(f"{root}/put.bin")
    assert sfs.info(f"{root}/put.bin")["static_large_object"]
    assert len(segments(sfs, root)) == 12


def test_bodies_go_out_in_slices_from_reused_segment_buffers(
    fs: SwiftFileSystem, root: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(client, "SEND_SLICE", 100_000)
    two_at_once = SwiftFileSystem(
        **fs.storage_options, segment_size=MiB, upload_concurrency=2, skip_instance_cache=True
    )
    local = tmp_path / "local.bin"
    local.write_bytes(DATA)  # 6 segments of 873941 or 873942 bytes through 2 buffers
    two_at_once.put(str(local), f"{root}/put.bin")
    two_at_once.pipe(f"{root}/piped.bin", DATA)
    two_at_once.pipe(f"{root}/whole.bin", DATA[:300_001])
    assert two_at_once.cat(f"{root}/put.bin") == DATA == two_at_once.cat(f"{root}/piped.bin")
    assert two_at_once.info(f"{root}/whole.bin")["ETag"] == hashlib.md5(DATA[:300_001]).hexdigest()


def test_a_file_that_shrinks_while_it_is_put_fails(tmp_path) -> None:
    local = tmp_path / "short.bin"
    local.write_bytes(b"12345678")
    with open(local, "rb") as f, pytest.raises(OSError, match="shorter than 15 bytes"):
        _pread_into(f.fileno(), memoryview(bytearray(10)), 5)


def test_overwrite_and_delete_of_a_large_object_remove_its_segments(sfs: SwiftFileSystem, root: str) -> None:
    path = f"{root}/slo.bin"
    sfs.pipe(path, DATA)
    sfs.pipe(path, DATA[: 2 * MiB + 1])  # a new SLO replaces the old one
    assert len(segments(sfs, root)) == 3
    sfs.pipe(path, b"small now")
    assert segments(sfs, root) == []
    sfs.pipe(path, DATA)
    sfs.rm(path)
    assert segments(sfs, root) == [] and not sfs.exists(path)


def test_copy_of_a_large_object_survives_deleting_the_original(sfs: SwiftFileSystem, root: str) -> None:
    sfs.pipe(f"{root}/slo.bin", DATA)
    sfs.cp(f"{root}/slo.bin", f"{root}/copy.bin")
    sfs.rm(f"{root}/slo.bin")
    assert sfs.cat(f"{root}/copy.bin") == DATA


def test_exception_inside_with_publishes_nothing_and_cleans_segments(sfs: SwiftFileSystem, root: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), sfs.open(f"{root}/partial.bin", "wb") as f:
        f.write(DATA[: 3 * MiB])
        raise RuntimeError("boom")
    assert not sfs.exists(f"{root}/partial.bin")
    assert segments(sfs, root) == []


def test_discard_of_a_small_write(fs: SwiftFileSystem, root: str) -> None:
    f = fs.open(f"{root}/small.bin", "wb")
    f.write(b"abc")
    f.discard()
    assert not fs.exists(f"{root}/small.bin")


@pytest.mark.parametrize("size", [10, 5 * MiB + 777])
def test_exclusive_create(sfs: SwiftFileSystem, root: str, size: int) -> None:
    path = f"{root}/once.bin"
    sfs.pipe(path, DATA[:size], mode="create")
    with pytest.raises(FileExistsError, match=r"once\.bin"):
        sfs.pipe(path, b"again", mode="create")
    with pytest.raises(FileExistsError, match=r"once\.bin"):
        sfs.open(path, "xb")
    assert sfs.cat(path) == DATA[:size]


@pytest.mark.parametrize("size", [10, 3 * MiB])
def test_exclusive_create_loses_a_race(sfs: SwiftFileSystem, root: str, size: int) -> None:
    path = f"{root}/race.bin"
    f = sfs.open(path, "xb")  # the existence check at open passes ...
    sfs.pipe(path, b"winner")  # ... then another writer gets there first
    with pytest.raises(FileExistsError, match=r"race\.bin"):
        f.write(DATA[:size])  # a large write finds out when it starts its segments,
        f.close()  # a small one from the server's If-None-Match answer
    assert sfs.cat(path) == b"winner"
    assert segments(sfs, root) == []


def test_write_into_a_missing_container_fails_cleanly(fs: SwiftFileSystem, root: str) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-container"):
        fs.pipe(root.rsplit("/", 1)[0] + "/no-such-container/x", b"data")


def test_write_over_quota_is_a_clear_oserror_and_leaves_nothing(fs: SwiftFileSystem, root: str) -> None:
    fs.set_metadata(root, {"quota-bytes": str(2 * MiB)})
    with pytest.raises(OSError, match="413") as err:
        fs.pipe(f"{root}/too-big.bin", DATA[: 3 * MiB])
    assert err.value.errno == 28  # ENOSPC
    assert not fs.exists(f"{root}/too-big.bin")


def test_mkdir_rmdir_of_containers(fs: SwiftFileSystem, root: str) -> None:
    other = root + "-other"
    fs.mkdir(other)
    with pytest.raises(FileExistsError):
        fs.mkdir(other)
    fs.makedirs(other, exist_ok=True)
    fs.pipe(f"{other}/x", b"1")
    with pytest.raises(OSError, match="not empty") as err:
        fs.rmdir(other)
    assert err.value.errno == 39  # ENOTEMPTY
    fs.rm(other, recursive=True)
    assert not fs.exists(other)


def test_copy_and_move_files_and_directories_server_side(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe({f"{root}/src/a.txt": b"a", f"{root}/src/sub/b.txt": b"b"})
    fs.cp(f"{root}/src/a.txt", f"{root}/copy.txt")
    assert fs.cat(f"{root}/copy.txt") == b"a"
    fs.mv(f"{root}/src", f"{root}/dst", recursive=True)
    assert fs.find(f"{root}/dst") == [f"{root}/dst/a.txt", f"{root}/dst/sub/b.txt"]
    assert not fs.exists(f"{root}/src")
    assert fs.cat(f"{root}/dst/sub/b.txt") == b"b"


def test_put_a_directory_tree(fs: SwiftFileSystem, root: str, tmp_path) -> None:
    (tmp_path / "tree" / "x").mkdir(parents=True)
    (tmp_path / "tree" / "x" / "1.bin").write_bytes(os.urandom(100))
    (tmp_path / "tree" / "2.bin").write_bytes(b"2")
    fs.put(str(tmp_path / "tree"), f"{root}/up", recursive=True)
    assert sorted(fs.find(f"{root}/up")) == [f"{root}/up/2.bin", f"{root}/up/x/1.bin"]

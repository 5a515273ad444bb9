"""The core's filesystem glue: merged parallel cat_ranges (sync, async), streaming, whole reads, downloads."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading

import pytest
from fsspec.callbacks import Callback
from helpers.versioned_store import AsyncVersionedStore, IntoStore, VersionedStore

from fsspec_research.core import filesystem
from fsspec_research.core.errors import ObjectChangedError


@pytest.fixture(params=["sync", "async"])
def any_store(request):
    fs = VersionedStore() if request.param == "sync" else AsyncVersionedStore()
    fs.put("/a", bytes(range(256)) * 40)
    fs.put("/b", random.randbytes(5000))
    return fs


def expected(fs, paths, starts, ends):
    return [fs.objects[p][0][slice(s, e)] for p, s, e in zip(paths, starts, ends)]


def test_cat_ranges_merges_across_gaps_and_keeps_caller_order(any_store):
    fs = any_store
    paths = ["/a", "/b", "/a", "/a", "/b"]
    starts = [5000, 10, 0, 100, -20]
    ends = [5010, 20, 50, 150, None]
    fs.reads.clear()
    assert fs.cat_ranges(paths, starts, ends, max_gap=100) == expected(fs, paths, starts, ends)
    # /a: [0,50) and [100,150) merge across the 50-byte gap; [5000,5010) stays apart
    assert sorted(r for r in fs.reads if r[0] == "/a") == [("/a", 0, 150), ("/a", 5000, 5010)]


def test_cat_ranges_broadcasts_int_limits(any_store):
    assert any_store.cat_ranges(["/a", "/b"], 0, 4) == [
        any_store.objects["/a"][0][:4],
        any_store.objects["/b"][0][:4],
    ]


def test_cat_ranges_rejects_mismatched_lengths(any_store):
    with pytest.raises(ValueError):
        any_store.cat_ranges(["/a", "/b"], [0], [1, 2])


def test_cat_ranges_on_error_return_isolates_the_failing_path(any_store):
    out = any_store.cat_ranges(["/a", "/missing", "/b"], [0, 0, 0], [3, 3, 3])
    assert out[0] == any_store.objects["/a"][0][:3]
    assert isinstance(out[1], FileNotFoundError)
    assert out[2] == any_store.objects["/b"][0][:3]
    with pytest.raises(FileNotFoundError):
        any_store.cat_ranges(["/a", "/missing"], [0, 0], [3, 3], on_error="raise")


def test_async_cat_ranges_matches_sync():
    fs = AsyncVersionedStore()
    fs.put("/a", random.randbytes(3000))

    async def run():
        paths, starts, ends = ["/a"] * 4, [0, -100, 10, 2990], [10, None, 2000, 5000]
        got = await fs._cat_ranges(paths, starts, ends)
        assert got == expected(fs, paths, starts, ends)
        out = await fs._cat_ranges(["/a", "/nope"], [0, 0], [5, 5])
        assert out[0] == fs.objects["/a"][0][:5] and isinstance(out[1], FileNotFoundError)
        assert isinstance((await fs._cat_ranges(["/nope"], [0], [1]))[0], FileNotFoundError)
        with pytest.raises(FileNotFoundError):
            await fs._cat_ranges(["/nope"], [0], [1], on_error="raise")

    fs.loop.call_soon_threadsafe(lambda: None)
    asyncio.run_coroutine_threadsafe(run(), fs.loop).result(10)


def test_iter_ranges_streams_every_range_once(any_store):
    paths, starts, ends = ["/a"] * 20, list(range(0, 2000, 100)), list(range(50, 2050, 100))
    seen = dict(any_store.iter_ranges(paths, starts, ends, max_gap=0))
    assert sorted(seen) == list(range(20))
    assert [seen[i] for i in range(20)] == expected(any_store, paths, starts, ends)


def test_read_parallel_splits_into_parts():
    fs = VersionedStore(part_size=1000)
    data = random.randbytes(10_500)
    fs.put("/x", data)
    assert fs.read_parallel("/x") == data
    assert len(fs.reads) == 11
    assert fs.read_parallel("/x", -500) == data[-500:]


def test_parts_arriving_short_raise_instead_of_leaving_zeros():
    fs = VersionedStore(part_size=1000)
    fs.put("/x", random.randbytes(5000))
    original = fs._read_range
    fs._read_range = lambda path, start, end, version: original(path, start, end, version)[: end - start - 1]
    with pytest.raises(OSError, match="short read: 999 of 1000 bytes"):
        fs.read_parallel("/x")


def test_whole_reads_of_a_backend_that_reads_into_buffers_land_in_the_result():
    """Every part goes straight into the one buffer the result is made of: no part of its own."""
    fs = IntoStore(part_size=1000, concurrency=4)
    data = random.randbytes(9_500)
    fs.put("/x", data)
    assert fs.read_parallel("/x") == data
    parts = sorted((start, length) for start, length, _ in fs.into)
    assert len(parts) == 10 and all(a + n == b for (a, n), (b, _) in itertools.pairwise(parts))
    assert len({buffer for *_, buffer in fs.into}) == 1
    fs.into.clear()
    assert fs.read_parallel("/x", 10, 20) == data[10:20]  # one part: read as bytes, no buffer
    assert fs.into == []


def test_a_short_read_into_a_buffer_raises():
    fs = IntoStore(part_size=1000)
    fs.put("/x", random.randbytes(5000))
    fs._read_range_into = lambda path, start, view, version: len(view) - 1
    with pytest.raises(OSError, match="short read: 999 of 1000 bytes"):
        fs.read_parallel("/x")


def test_downloads_of_a_backend_that_reads_into_buffers_reuse_one_per_worker(tmp_path):
    fs = IntoStore(part_size=1000, concurrency=3)
    data = random.randbytes(20_500)
    fs.put("/x", data)
    fs.download_parallel("/x", str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == data
    assert len(fs.into) == 21
    assert len({buffer for *_, buffer in fs.into}) <= 3


def test_download_parallel_writes_complete_file_atomically(tmp_path):
    fs = VersionedStore(part_size=1000)
    data = random.randbytes(9_999)
    fs.put("/x", data)

    class Progress(Callback):
        pass

    progress = Progress()
    target = tmp_path / "x.bin"
    fs.download_parallel("/x", str(target), progress)
    assert target.read_bytes() == data
    assert progress.size == len(data) and progress.value == len(data)
    assert os.listdir(tmp_path) == ["x.bin"]


def test_download_of_changing_object_leaves_nothing(tmp_path):
    fs = VersionedStore(part_size=100, concurrency=1)
    fs.put("/x", b"a" * 1000)
    original = fs._read_range

    def replace_midway(path, start, end, version):
        if start == 500:
            fs.put("/x", b"b" * 1000)
        return original(path, start, end, version)

    fs._read_range = replace_midway
    with pytest.raises(ObjectChangedError):
        fs.download_parallel("/x", str(tmp_path / "x.bin"))
    assert os.listdir(tmp_path) == []


def test_empty_object_download(tmp_path):
    fs = VersionedStore()
    fs.put("/e", b"")
    fs.download_parallel("/e", str(tmp_path / "e"))
    assert (tmp_path / "e").read_bytes() == b""


def test_async_backend_file_reads_and_writes():
    fs = AsyncVersionedStore(part_size=300)
    data = random.randbytes(5000)
    fs.put("/x", data)
    with fs.open("/x", block_size=700) as f:
        f.seek(1234)
        assert f.read(3000) == data[1234:4234]
    with fs.open("/y", "wb", block_size=1000) as f:
        f.write(data)
    assert fs.objects["/y"][0] == data


def test_async_upload_hooks_run_on_the_loop():
    class Store(AsyncVersionedStore):
        async def _upload_whole(self, path, data, exclusive):
            await asyncio.sleep(0)
            VersionedStore._upload_whole(self, path, data, exclusive)

    fs = Store()
    with fs.open("/z", "wb") as f:
        f.write(b"zz")
    assert fs.objects["/z"][0] == b"zz"


def test_part_size_spreads_reads_over_the_parallel_streams():
    fs = VersionedStore()  # defaults: concurrency 64, parts between 512 KiB and 8 MiB
    mib = 2**20
    assert fs._part_size_for(4 * mib) == 512 * 1024  # one missed 4 MiB block: 8 parallel parts
    assert fs._part_size_for(64 * mib) == mib  # 64 MiB: one part per stream
    assert fs._part_size_for(1024 * mib) == 8 * mib  # huge reads: capped parts
    assert fs._part_size_for(10) == 512 * 1024
    small = VersionedStore(part_size=1000)
    assert small._part_size_for(10**6) == 1000  # an explicit part_size is the hard cap
    few = VersionedStore(read_streams=4)
    assert few._part_size_for(16 * mib) == 4 * mib and few._part_size_for(64 * mib) == 8 * mib
    with pytest.raises(ValueError, match="read_streams must be an int >= 1"):
        VersionedStore(read_streams=0)


def test_download_into_new_directory_and_into_a_file_object(tmp_path):
    import io

    fs = VersionedStore(part_size=1000, concurrency=4)
    data = random.randbytes(7_777)
    fs.put("/x", data)
    target = tmp_path / "new" / "dir" / "x.bin"
    fs.download_parallel("/x", str(target))
    assert target.read_bytes() == data
    out = io.BytesIO()
    fs.download_parallel("/x", out)
    assert out.getvalue() == data


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_download_parts_are_written_where_they_arrive(tmp_path, kind, monkeypatch):
    """Blocking backends: by the worker that read the part; async ones: by the caller, to which the
    event loop hands each part (a pool of writer threads beside the loop was slower)."""
    written_by: list[threading.Thread] = []
    original = filesystem._write_at

    def recording(*args):
        written_by.append(threading.current_thread())
        return original(*args)

    monkeypatch.setattr(filesystem, "_write_at", recording)
    fs = (VersionedStore if kind == "sync" else AsyncVersionedStore)(part_size=1000, concurrency=4)
    data = random.randbytes(9_500)
    fs.put("/x", data)
    fs.download_parallel("/x", str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == data
    assert os.listdir(tmp_path) == ["x.bin"]
    assert len(written_by) == 10
    callers = {t is threading.current_thread() for t in written_by}
    assert callers == ({False} if kind == "sync" else {True})


def test_download_with_a_short_part_raises_and_leaves_nothing(tmp_path):
    fs = VersionedStore(part_size=1000, concurrency=2)
    fs.put("/x", random.randbytes(5000))
    original = fs._read_range

    def short_at_2000(path, start, end, version):
        data = original(path, start, end, version)
        return data[:-1] if start == 2000 else data

    fs._read_range = short_at_2000
    with pytest.raises(OSError, match="short read: 999 of 1000 bytes at 2000"):
        fs.download_parallel("/x", str(tmp_path / "x.bin"))
    assert os.listdir(tmp_path) == []


def test_downloads_running_in_the_loops_executor_do_not_starve_their_writes(tmp_path):
    """s3fs-style ``get``: many downloads at once, each in a thread of the event loop's default executor
    (which holds only cpu_count + 4); their parts must not need a thread of that same executor."""
    from fsspec.asyn import sync

    fs = AsyncVersionedStore(part_size=500, concurrency=4)
    data = random.randbytes(3000)
    fs.put("/x", data)
    count = (os.cpu_count() or 1) + 8

    async def all_at_once():
        targets = [str(tmp_path / f"{i}.bin") for i in range(count)]
        jobs = (asyncio.to_thread(fs.download_parallel, "/x", target) for target in targets)
        await asyncio.wait_for(asyncio.gather(*jobs), 30)

    sync(fs.loop, all_at_once)
    assert all((tmp_path / f"{i}.bin").read_bytes() == data for i in range(count))

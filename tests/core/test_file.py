"""The file object: exact reads through the parallel cache, version pinning, all-or-nothing writes."""

from __future__ import annotations

import io
import pickle
import random

import pytest
from fsspec.caching import BlockCache, MMapCache, ReadAheadCache
from helpers.versioned_store import VersionedStore
from hypothesis import given, settings
from hypothesis import strategies as st

from fsspec_research.core.cache import ParallelBlockCache
from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.core.file import ResearchFile


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(0, 4000),
    block_size=st.integers(1, 900),
    cache_type=st.sampled_from(
        ["parallel", "blockcache", "readahead", "none", "bytes", "mmap", "all", "first"]
    ),
    ops=st.lists(
        st.tuples(st.sampled_from([0, 1, 2]), st.integers(-500, 4500), st.integers(-1, 2000)), max_size=20
    ),
)
def test_seek_read_sequences_match_local_copy(size, block_size, cache_type, ops):
    data = random.Random(size).randbytes(size)
    local = io.BytesIO(data)
    fs = VersionedStore(part_size=97)
    fs.put("/obj", data)
    with fs.open("/obj", "rb", block_size=block_size, cache_type=cache_type) as f:
        for whence, offset, length in ops:
            target = {0: offset, 1: local.tell() + offset, 2: size + offset}[whence]
            if target < 0:
                with pytest.raises(ValueError):
                    f.seek(offset, whence)
                continue
            assert f.seek(offset, whence) == local.seek(offset, whence)
            assert f.read(length) == local.read(length)
            assert f.tell() == local.tell()


def test_blockcache_request_is_served_by_the_parallel_cache(store):
    store.put("/x", random.randbytes(10_000))
    with store.open("/x", cache_type="blockcache", block_size=1000) as f:
        assert isinstance(f.cache, ParallelBlockCache)
        assert f.cache.maxblocks == 32
        f.read(5000)
        assert f.cache.requests == 5  # five blocks fetched in one batch of parallel requests


@pytest.mark.parametrize("cache_type, cls", [("readahead", ReadAheadCache), ("mmap", MMapCache)])
def test_other_cache_types_keep_their_meaning(store, cache_type, cls):
    store.put("/x", b"abc" * 1000)
    with store.open("/x", cache_type=cache_type, block_size=100) as f:
        assert type(f.cache) is cls
        f.seek(1000)
        assert f.read(6) == (b"abc" * 1000)[1000:1006]


def test_default_cache_is_parallel(store):
    store.put("/x", b"1")
    with store.open("/x") as f:
        assert isinstance(f.cache, ParallelBlockCache)
        assert f.blocksize == store.default_block_size
    assert not isinstance(f, BlockCache)


def test_large_single_read_is_split_into_parallel_parts():
    fs = VersionedStore(part_size=1000)
    data = random.randbytes(10_000)
    fs.put("/x", data)
    with fs.open("/x", block_size=20_000, cache_type="none") as f:
        assert f.read() == data
    assert sorted(fs.reads) == [("/x", i * 1000, (i + 1) * 1000) for i in range(10)]


def test_object_replaced_mid_read_raises(store):
    store.put("/x", b"a" * 5000)
    with store.open("/x", block_size=1000, cache_type="blockcache") as f:
        assert f.read(1000) == b"a" * 1000
        store.put("/x", b"b" * 5000)
        with pytest.raises(ObjectChangedError, match="/x"):
            f.seek(3000)
            f.read(1000)


def test_cat_ranges_is_pinned_to_one_version(store):
    store.put("/x", b"a" * 100)
    version = store.info("/x")["version"]
    seen = []
    original = store._read_range

    def replace_after_first(path, start, end, pinned):
        seen.append(pinned)
        if len(seen) == 1:
            store.put("/x", b"b" * 100)
        return original(path, start, end, pinned)

    store._read_range = replace_after_first
    out = store.cat_ranges(["/x", "/x"], [0, 50], [10, 60], max_gap=0, on_error="return")
    assert all(v == version for v in seen)
    assert len(out) == 2 and all(isinstance(o, ObjectChangedError) for o in out)
    seen.clear()
    with pytest.raises(ObjectChangedError):
        store.cat_ranges(["/x"], [0], [10], on_error="raise")
    assert store.cat_ranges(["/x"], [0], [3]) == [b"b" * 3]


def test_missing_file_raises_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.open("/missing")


def test_streamed_write_uses_parts_with_bounded_parallelism():
    fs = VersionedStore(upload_concurrency=3)
    data = random.randbytes(100_000)
    with fs.open("/big", "wb", block_size=4096) as f:
        for i in range(0, len(data), 777):
            f.write(data[i : i + 777])
        assert "/big" not in fs.objects  # nothing visible before commit
    assert fs.objects["/big"][0] == data
    assert 1 <= fs.max_in_flight <= 3
    assert not fs.staged


def test_small_write_is_one_whole_upload(store):
    with store.open("/small", "wb") as f:
        f.write(b"hello")
    assert store.objects["/small"][0] == b"hello"
    assert not store.aborted


def test_empty_write_creates_empty_object(store):
    with store.open("/empty", "wb"):
        pass
    assert store.objects["/empty"][0] == b""


def test_exception_inside_with_discards_the_write(store):
    store.put("/keep", b"old")
    with pytest.raises(RuntimeError), store.open("/keep", "wb", block_size=1000) as f:
        f.write(b"x" * 5000)  # parts already uploaded
        raise RuntimeError("interrupted")
    assert store.objects["/keep"][0] == b"old"
    assert store.aborted and not store.staged


def test_failed_part_aborts_and_raises(store):
    store.fail_part = 3
    with pytest.raises(ConnectionResetError), store.open("/broken", "wb", block_size=1000) as f:
        f.write(b"y" * 10_000)
    assert "/broken" not in store.objects
    assert store.aborted and not store.staged


def test_abandoned_writer_is_discarded_not_committed(store):
    f = store.open("/abandoned", "wb", block_size=1000)
    f.write(b"z" * 2500)
    with pytest.warns(ResourceWarning):
        f.__del__()
    assert "/abandoned" not in store.objects
    assert store.aborted


def test_exclusive_create(store):
    store.put("/there", b"1")
    with pytest.raises(FileExistsError), store.open("/there", "xb") as f:
        f.write(b"2")
    assert store.objects["/there"][0] == b"1"
    with pytest.raises(FileExistsError), store.open("/there", "xb", block_size=10) as f:
        f.write(b"2" * 100)
    with store.open("/new", "xb") as f:
        f.write(b"3")
    assert store.objects["/new"][0] == b"3"


@pytest.mark.parametrize("size", [5, 5000])
def test_transaction_commits_at_end_and_discards_on_error(store, size):
    with store.transaction:
        with store.open("/t1", "wb", block_size=1000) as f:
            f.write(b"t" * size)
        assert "/t1" not in store.objects
    assert store.objects["/t1"][0] == b"t" * size
    with pytest.raises(RuntimeError), store.transaction:
        with store.open("/t2", "wb", block_size=1000) as f:
            f.write(b"u" * size)
        raise RuntimeError
    assert "/t2" not in store.objects


def test_write_after_close_and_read_only_modes(store):
    f = store.open("/w", "wb")
    f.close()
    with pytest.raises(ValueError):
        f.write(b"x")
    assert isinstance(f, ResearchFile)


def test_filesystem_pickles_without_runtime_state(store):
    store.put("/x", b"1234")
    store.cat_ranges(["/x"], [0], [2])
    assert "_core_runner" in store.__dict__
    clone = pickle.loads(pickle.dumps(store))
    assert "_core_runner" not in clone.__dict__
    assert clone.concurrency == store.concurrency


def test_core_options_are_validated():
    with pytest.raises(ValueError, match="concurrency"):
        VersionedStore(concurrency=0)
    with pytest.raises(ValueError, match="max_gap"):
        VersionedStore(max_gap=-1)
    with pytest.raises(ValueError, match="retries"):
        VersionedStore(retries="many")
    fs = VersionedStore(concurrency=2, max_gap=0, block_size=123, cache_type="readahead", retries=1)
    assert (fs.concurrency, fs.max_gap, fs.default_block_size, fs.retry.retries) == (2, 0, 123, 1)


def test_append_mode_is_refused_rather_than_overwriting(store):
    store.put("/a", b"old")
    with pytest.raises(NotImplementedError, match="/a"):
        store.open("/a", "ab")
    assert store.objects["/a"][0] == b"old"


def test_exclusive_write_loses_a_race_without_overwriting(store):
    with pytest.raises(FileExistsError), store.open("/race", "xb", block_size=10) as f:
        f.write(b"mine" * 10)
        store.put("/race", b"theirs")  # another writer lands first, after our open
    assert store.objects["/race"][0] == b"theirs"
    with pytest.raises(FileExistsError), store.open("/race2", "xb") as f:
        f.write(b"small")
        store.put("/race2", b"theirs")
    assert store.objects["/race2"][0] == b"theirs"

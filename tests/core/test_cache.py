"""The parallel block cache: exact bytes for any access pattern, one batch per read, bounded memory."""

from __future__ import annotations

import random
import threading
import time

import pytest
from fsspec.caching import caches
from hypothesis import given, settings
from hypothesis import strategies as st

from fsspec_research.core.cache import ParallelBlockCache


class Recorder:
    """A multi_fetcher over local bytes that records every batch it is given."""

    def __init__(self, data: bytes, delay: float = 0.0) -> None:
        self.data = data
        self.batches: list[list[tuple[int, int]]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, ranges):
        with self.lock:
            self.batches.append(list(ranges))
        if self.delay:
            time.sleep(self.delay)
        return [self.data[s:e] for s, e in ranges]

    def single(self, start, end):
        return self([(start, end)])[0]


def recorded_cache(size: int, delay: float = 0.0, **options) -> tuple[bytes, Recorder, ParallelBlockCache]:
    """Random bytes, the recorder serving them, and a 1000-byte-block cache fetching through it."""
    data = random.randbytes(size)
    rec = Recorder(data, delay=delay)
    return data, rec, ParallelBlockCache(1000, rec.single, size, multi_fetcher=rec, **options)


def test_registered_with_fsspec():
    assert caches["parallel"] is ParallelBlockCache


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 5000),
    blocksize=st.integers(1, 700),
    maxblocks=st.integers(1, 6),
    concurrency=st.integers(1, 5),
    use_multi=st.booleans(),
    ops=st.lists(st.tuples(st.integers(-100, 5200), st.integers(-1, 3000)), max_size=25),
)
def test_any_read_sequence_matches_local_copy(size, blocksize, maxblocks, concurrency, use_multi, ops):
    data = random.Random(size).randbytes(size)
    rec = Recorder(data)
    cache = ParallelBlockCache(
        blocksize, rec.single, size, maxblocks=maxblocks, concurrency=concurrency,
        multi_fetcher=rec if use_multi else None,
    )  # fmt: skip
    try:
        pos = 0
        for seek, length in ops:
            pos = min(max(seek, 0), size + 10) if seek >= 0 else pos  # negative seek: keep reading on
            end = size if length < 0 else pos + length
            assert cache._fetch(pos, end) == data[pos:end]
            pos = min(end, size)
        assert len(cache._blocks) <= maxblocks
    finally:
        cache.close()


def test_missing_blocks_of_one_read_are_one_batch():
    data = random.randbytes(64 * 1024)
    rec = Recorder(data)
    cache = ParallelBlockCache(1024, rec.single, len(data), maxblocks=64, multi_fetcher=rec, concurrency=8)
    assert cache._fetch(100, 20_000) == data[100:20_000]
    assert len(rec.batches) == 1
    assert len(rec.batches[0]) == 8  # 20 blocks spread over the 8 parallel requests
    assert cache.requests == 8 and cache.miss_count == 20
    assert cache.total_requested_bytes == 20 * 1024
    # a second, overlapping read only fetches the blocks it lacks, again in one batch
    assert cache._fetch(10_000, 30_000) == data[10_000:30_000]
    assert len(rec.batches) == 2
    assert sum(e - s for s, e in rec.batches[1]) == 10 * 1024
    assert cache.hit_count == 11  # blocks 9..19 were cached


def test_one_block_requests_are_cached_without_a_copy():
    data = random.randbytes(8 * 1024)
    served: list[bytes] = []

    def fetch(ranges):
        out = [bytes(data[s:e]) for s, e in ranges]
        served.extend(out)
        return out

    def make(concurrency: int) -> ParallelBlockCache:
        single = lambda s, e: fetch([(s, e)])[0]  # noqa: E731
        return ParallelBlockCache(1024, single, len(data), multi_fetcher=fetch, concurrency=concurrency)

    cache = make(8)
    assert cache._fetch(0, 4096) == data[:4096]  # four one-block requests
    assert [id(cache._blocks[b]) for b in range(4)] == [id(x) for x in served]
    assert cache._fetch(1024, 2048) is served[1]  # a whole-block read hands out the block itself
    cache = make(2)
    assert cache._fetch(0, 8192) == data  # two four-block requests, split into blocks
    assert all(type(block) is bytes and len(block) == 1024 for block in cache._blocks.values())
    assert cache._blocks[5] == data[5120:6144]


def test_lru_bounds_memory_and_refetches_evicted():
    data = random.randbytes(10_000)
    rec = Recorder(data)
    cache = ParallelBlockCache(100, rec.single, len(data), maxblocks=3, multi_fetcher=rec, readahead=False)
    for start in range(0, 1000, 100):
        cache._fetch(start, start + 100)
    assert len(cache._blocks) == 3
    assert sorted(cache._blocks) == [7, 8, 9]
    batches = len(rec.batches)
    cache._fetch(0, 10)
    assert len(rec.batches) == batches + 1
    cache._fetch(950, 960)  # still cached
    assert len(rec.batches) == batches + 1


def test_read_larger_than_cache_returns_exact_bytes():
    data = random.randbytes(50_000)
    rec = Recorder(data)
    cache = ParallelBlockCache(1000, rec.single, len(data), maxblocks=2, multi_fetcher=rec)
    assert cache._fetch(123, 45_678) == data[123:45_678]
    assert len(cache._blocks) == 2


def test_sequential_reads_prefetch_in_background():
    data, rec, cache = recorded_cache(200_000, delay=0.01, maxblocks=64, concurrency=8)
    try:
        pos = 0
        for _ in range(60):
            assert cache._fetch(pos, pos + 500) == data[pos : pos + 500]
            pos += 500
        # 30 blocks read; the read-ahead must have fetched beyond them, and most blocks were
        # found in the cache or in flight rather than fetched on demand
        fetched = {s // 1000 for batch in rec.batches for s, _ in batch}
        assert max(fetched) > 29
        assert cache.miss_count < 10
    finally:
        cache.close()


def test_random_reads_do_not_read_ahead():
    data = random.randbytes(100_000)
    rec = Recorder(data)
    cache = ParallelBlockCache(1000, rec.single, len(data), multi_fetcher=rec)
    rng = random.Random(1)
    for _ in range(20):
        start = rng.randrange(0, 99_000)
        cache._fetch(start, start + 10)
    assert cache.total_requested_bytes <= 2 * 20 * 1000
    assert not cache._inflight


def test_failed_prefetch_is_retried_on_demand():
    data = random.randbytes(20_000)
    calls = {"n": 0}

    def flaky(ranges):
        if threading.current_thread().name.startswith("fsspec-research-readahead"):
            calls["n"] += 1
            if calls["n"] == 1:  # the first background prefetch
                raise ConnectionResetError("boom")
        return [data[s:e] for s, e in ranges]

    cache = ParallelBlockCache(1000, None, len(data), multi_fetcher=flaky, concurrency=2)
    try:
        pos = 0
        for _ in range(20):
            assert cache._fetch(pos, pos + 1000) == data[pos : pos + 1000]
            pos += 1000
    finally:
        cache.close()
    assert calls["n"] >= 2  # the prefetch failed once, and read-ahead went on


def test_read_ahead_is_in_flight_with_the_misses_of_the_read_that_starts_it():
    data = random.randbytes(20_000)
    prefetching = threading.Event()
    overlapped = []

    def fetch(ranges):
        if threading.current_thread().name.startswith("fsspec-research-readahead"):
            prefetching.set()
        elif ranges[0][0] == 1000:  # the missed block of the second read, which starts read-ahead
            overlapped.append(prefetching.wait(5))
        return [data[s:e] for s, e in ranges]

    cache = ParallelBlockCache(1000, None, len(data), multi_fetcher=fetch, concurrency=2)
    try:
        assert cache._fetch(0, 1000) == data[:1000] and not prefetching.is_set()
        assert cache._fetch(1000, 2000) == data[1000:2000]
        assert overlapped == [True]
    finally:
        cache.close()


def test_short_data_raises_instead_of_returning_wrong_bytes():
    cache = ParallelBlockCache(100, None, 1000, multi_fetcher=lambda ranges: [b"x" * 10 for _ in ranges])
    with pytest.raises(OSError, match="short read"):
        cache._fetch(0, 300)


def test_invalid_settings():
    with pytest.raises(ValueError):
        ParallelBlockCache(0, None, 10)
    with pytest.raises(ValueError):
        ParallelBlockCache(10, None, 10, concurrency=0)


def test_fallback_thread_pool_runs_requests_concurrently():
    data = random.randbytes(40_000)
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def fetcher(start, end):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.02)
        with lock:
            active["now"] -= 1
        return data[start:end]

    cache = ParallelBlockCache(1000, fetcher, len(data), maxblocks=40, concurrency=4)
    try:
        assert cache._fetch(0, 40_000) == data
        assert active["max"] == 4
    finally:
        cache.close()


def test_works_as_cache_type_of_plain_fsspec_buffered_files():
    from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

    data = random.randbytes(30_000)

    class PlainFile(AbstractBufferedFile):
        def _fetch_range(self, start, end):
            return data[start:end]

    f = PlainFile(AbstractFileSystem(), "x", "rb", block_size=1000, cache_type="parallel", size=len(data))
    assert isinstance(f.cache, ParallelBlockCache)
    f.seek(2500)
    assert f.read(10_000) == data[2500:12_500]
    assert f.cache.requests == 8  # 11 blocks over the default 8 parallel requests
    f.close()


def test_short_back_to_back_reads_do_not_trigger_read_ahead():
    data = random.randbytes(100_000)
    rec = Recorder(data)
    cache = ParallelBlockCache(1000, rec.single, len(data), multi_fetcher=rec)
    for pos in range(0, 1500, 100):  # HDF5-style metadata: small reads, back to back, 1.5 blocks
        assert cache._fetch(pos, pos + 100) == data[pos : pos + 100]
    assert not cache._inflight
    assert cache.total_requested_bytes == 2000
    big = ParallelBlockCache(1000, rec.single, len(data), multi_fetcher=rec)
    big._fetch(0, 50_000)  # one large read is not a stream either
    assert not big._inflight
    cache.close()
    big.close()


def test_interleaved_metadata_reads_do_not_break_a_stream():
    data, rec, cache = recorded_cache(400_000, delay=0.005, maxblocks=64, concurrency=8)
    try:
        pos = 100_000
        for i in range(60):
            assert cache._fetch(pos, pos + 500) == data[pos : pos + 500]  # the data stream
            meta = 300_000 + (i % 3) * 10_000  # index lookups elsewhere, between data reads
            assert cache._fetch(meta, meta + 40) == data[meta : meta + 40]
            pos += 500 + (16 if i % 5 == 0 else 0)  # and small forward gaps, like chunk headers
        fetched = {s // 1000 for batch in rec.batches for s, _ in batch}
        assert max(b for b in fetched if b < 300) > (pos - 1) // 1000  # read ahead past the stream
        assert cache.miss_count < 15
    finally:
        cache.close()

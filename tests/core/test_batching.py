"""Batched reads: small requests of one path go to the backend's ``_read_ranges`` in a few calls."""

from __future__ import annotations

import asyncio
import random

import pytest
from fsspec.asyn import sync
from helpers.versioned_store import AsyncVersionedStore, VersionedStore

from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.core.fetch import AsyncRunner, ThreadRunner
from fsspec_research.core.ranges import batch_plan, plan_ranges

DATA = random.Random(5).randbytes(200_000)


class BatchingStore(VersionedStore):
    """The versioned store serving many ranges per call, recording each call's spans."""

    max_ranges_per_request = 10

    def __init__(self, **options):
        super().__init__(**options)
        self.batches: list[tuple[str, list[tuple[int, int]]]] = []

    def _read_ranges(self, path, spans, version):
        with self._lock:
            self.batches.append((path, spans))
        if path not in self.objects:
            raise FileNotFoundError(path)
        data, current = self.objects[path]
        if version is not None and version != current:
            raise ObjectChangedError(path)
        return [data[s:e] for s, e in spans]


class AsyncBatchingStore(BatchingStore, AsyncVersionedStore):
    protocol = "abstore"

    async def _read_ranges(self, path, spans, version):
        await asyncio.sleep(0)
        return BatchingStore._read_ranges(self, path, spans, version)


@pytest.fixture(params=["sync", "async"])
def bstore(request) -> BatchingStore:
    fs = BatchingStore() if request.param == "sync" else AsyncBatchingStore()
    fs.put("/a", DATA)
    fs.put("/b", DATA[::-1])
    return fs


def scattered(n: int, seed: int = 1, length: int = 100) -> tuple[list[int], list[int]]:
    """``n`` ranges of ``length`` bytes too far apart to merge, in random order."""
    starts = random.Random(seed).sample(range(0, len(DATA) - length, 1000), n)
    return starts, [s + length for s in starts]


def test_small_requests_of_a_path_are_batched_over_parallel_calls(bstore):
    starts, ends = scattered(64)
    out = bstore.cat_ranges(["/a"] * 64, starts, ends, max_gap=0)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]
    assert not bstore.reads  # no single-range reads
    assert len(bstore.batches) == 8  # batches_per_path calls of 8 ranges (max 10 each)
    for _, spans in bstore.batches:
        assert spans == sorted(spans) and len(spans) == 8


def test_few_or_large_requests_go_alone(bstore):
    starts, ends = scattered(8)  # not more than batches_per_path: no batch
    assert bstore.cat_ranges(["/a"] * 8, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    bstore.min_part_size = 100  # requests of 100 bytes are not below half of it
    starts, ends = scattered(20)
    assert bstore.cat_ranges(["/a"] * 20, starts, ends, max_gap=0) == [
        DATA[s:e] for s, e in zip(starts, ends)
    ]
    assert not bstore.batches and len(bstore.reads) == 28


def test_batching_is_off_by_default_and_an_option():
    fs = VersionedStore()
    fs.put("/a", DATA)
    starts, ends = scattered(40)
    assert fs.cat_ranges(["/a"] * 40, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert len(fs.reads) == 40
    assert BatchingStore(max_ranges_per_request=1).max_ranges_per_request == 1
    with pytest.raises(ValueError, match="max_ranges_per_request"):
        BatchingStore(max_ranges_per_request=0)


def test_iter_ranges_streams_batched_ranges(bstore):
    paths = ["/a", "/b"] * 30
    starts, ends = scattered(60, seed=2)
    got = dict(bstore.iter_ranges(paths, starts, ends, max_gap=0))
    assert got == {i: bstore.objects[p][0][s:e] for i, (p, s, e) in enumerate(zip(paths, starts, ends))}
    assert {path for path, _ in bstore.batches} == {"/a", "/b"}


def test_a_missing_path_fails_alone(bstore):
    paths = ["/a"] * 20 + ["/missing"] * 20
    starts, ends = scattered(40, seed=3)
    out = bstore.cat_ranges(paths, starts, ends, max_gap=0)
    assert out[:20] == [DATA[s:e] for s, e in zip(starts[:20], ends[:20])]
    assert all(isinstance(x, FileNotFoundError) for x in out[20:])


def test_a_replaced_object_raises_in_a_batch(bstore):
    starts, ends = scattered(30, seed=4)
    original = bstore._read_ranges

    def replace_first(path, spans, version):
        bstore.put(path, b"new" * 100_000)
        return original(path, spans, version)

    bstore._read_ranges = replace_first
    with pytest.raises(ObjectChangedError):
        bstore.cat_ranges(["/a"] * 30, starts, ends, max_gap=0, on_error="raise")


def test_async_cat_ranges_batches():
    fs = AsyncBatchingStore()
    fs.put("/a", DATA)
    starts, ends = scattered(30, seed=6)
    out = sync(fs.loop, fs._cat_ranges, ["/a"] * 30, starts, ends, 0)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]
    assert len(fs.batches) == 8 and not fs.reads


def test_split_reads_of_many_small_spans_are_batched():
    fs = BatchingStore(min_part_size=1000)
    fs.put("/a", DATA)
    spans = [(i * 300, i * 300 + 50) for i in range(30)]
    assert fs.read_ranges("/a", spans) == [DATA[s:e] for s, e in spans]
    assert len(fs.batches) == 8


def test_confirmed_versions_are_checked_after_batches():
    class Confirming(BatchingStore):
        confirms_versions = True
        confirmed: list[tuple[str, str]] = []

        def _confirm_version(self, path, version):
            self.confirmed.append((path, version))

    fs = Confirming()
    fs.put("/a", DATA)
    starts, ends = scattered(20)
    fs.cat_ranges(["/a"] * 20, starts, ends, max_gap=0)
    assert fs.confirmed == [("/a", fs.objects["/a"][1])]


@pytest.mark.parametrize("kind", ["thread", "async"])
def test_runners_reject_a_batch_answer_of_the_wrong_length(kind, tmp_path):
    fs = AsyncVersionedStore()  # only for its loop
    runner = ThreadRunner(2) if kind == "thread" else AsyncRunner(2, fs.loop)
    plan = batch_plan(plan_ranges([("a", i * 10, i * 10 + 5) for i in range(4)]), 4, 100, 1, 10)
    assert plan.jobs() == [(0, 1, 2, 3)]

    class Short:
        def batch(self, reqs):
            return [b"x"] * (len(reqs) - 1)

    with pytest.raises(ValueError, match="4 requests returned 3"):
        runner.fetch_plan(plan, Short())
    runner.close()

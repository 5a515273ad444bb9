"""A parallel block cache for fsspec files, registered as ``cache_type="parallel"``.

Same model as fsspec's ``blockcache`` (an LRU of at most ``maxblocks`` fixed-size blocks), but the
missing blocks of one read are fetched as ONE batch of parallel range requests, and a sequential
reader gets the next blocks prefetched in the background while it consumes the current ones.
With a ``multi_fetcher`` (as our files pass, and as fsspec's ``MMapCache`` takes) the batch goes
through the backend's range core; otherwise the plain ``fetcher`` is called from a thread pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from fsspec.caching import BaseCache, register_cache

from .fetch import ThreadRunner
from .ranges import normalize, plan_ranges

__all__ = ["ParallelBlockCache"]

MAX_STREAMS = 4  #: concurrent sequential streams tracked per file
STREAM_GAP = 64 * 1024  #: a read this close after a stream's end still continues it

MultiFetcher = Callable[[list[tuple[int, int]]], Sequence[bytes]]


class ParallelBlockCache(BaseCache):
    """LRU block cache whose misses are fetched in one parallel batch, with sequential read-ahead.

    Parameters (``cache_options``)
    ----------
    maxblocks: blocks kept (memory bound: ``maxblocks * blocksize`` plus one read in progress).
    multi_fetcher: ``f([(start, end), ...]) -> [bytes, ...]``, fetching ranges concurrently.
    concurrency: parallel requests per batch (and threads when there is no multi_fetcher).
    readahead: prefetch following blocks in the background once back-to-back reads have covered
        two blocks; the window grows with the run, up to ``max_readahead`` blocks.
    max_readahead: most blocks prefetched at once (default ``min(concurrency, maxblocks // 2)``).
    """

    name = "parallel"

    def __init__(
        self,
        blocksize: int,
        fetcher: Callable[[int, int], bytes],
        size: int,
        maxblocks: int = 32,
        multi_fetcher: MultiFetcher | None = None,
        concurrency: int = 8,
        readahead: bool = True,
        max_readahead: int | None = None,
    ) -> None:
        super().__init__(blocksize, fetcher, size)
        if blocksize <= 0 or maxblocks < 1 or concurrency < 1:
            raise ValueError(f"invalid cache settings {blocksize=}, {maxblocks=}, {concurrency=}")
        self.nblocks = -(-size // blocksize)
        self.maxblocks = maxblocks
        self.concurrency = concurrency
        self.readahead = readahead
        self.max_readahead = max_readahead if max_readahead is not None else min(concurrency, maxblocks // 2)
        self.requests = 0
        self._multi_fetcher = multi_fetcher
        self._runner: ThreadRunner | None = None
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._inflight: dict[int, Future] = {}
        self._prefetcher: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards the request counters touched by the prefetch thread
        # recent read streams: next offset expected -> (where the stream began, reads in it); several
        # are tracked so that interleaved metadata reads (HDF5 B-tree lookups) do not break a stream
        self._streams: OrderedDict[int, tuple[int, int]] = OrderedDict()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_blocks=OrderedDict(), _inflight={}, _prefetcher=None, _runner=None, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def _fetch(self, start: int | None, stop: int | None) -> bytes:
        start, stop = normalize(start, stop, self.size)
        if start >= stop:
            return b""
        first, last = start // self.blocksize, (stop - 1) // self.blocksize
        run_start, reads = self._track(start, stop)
        run_blocks = (stop - run_start) // self.blocksize
        if self.readahead and reads >= 2 and run_blocks >= 2:  # a stream, not a few small reads
            ahead = min(self.max_readahead, run_blocks)  # asked first: in flight with this read's misses
            self._prefetch(range(last + 1, min(self.nblocks, last + 1 + ahead)))
        blocks = self._collect(range(first, last + 1))

        offset = start - first * self.blocksize
        if first == last:
            return blocks[first][offset : offset + stop - start]
        parts = [memoryview(blocks[b]) for b in range(first, last + 1)]
        parts[0] = parts[0][offset:]
        parts[-1] = parts[-1][: stop - last * self.blocksize]
        return b"".join(parts)

    def _track(self, start: int, stop: int) -> tuple[int, int]:
        """Extend the stream this read continues (a small forward gap allowed), or start one."""
        gap = min(STREAM_GAP, self.blocksize)
        near = (end for end in self._streams if end <= start <= end + gap)
        key = start if start in self._streams else next(near, None)
        run_start, reads = self._streams.pop(key) if key is not None else (start, 0)
        self._streams[stop] = (run_start, reads + 1)
        while len(self._streams) > MAX_STREAMS:
            self._streams.popitem(last=False)
        return run_start, reads + 1

    def _collect(self, wanted: range) -> dict[int, bytes]:
        """The wanted blocks: cached, awaited from a prefetch, or fetched now in one batch."""
        found: dict[int, bytes] = {}
        for b in wanted:
            if b in self._blocks:
                self._blocks.move_to_end(b)
                found[b] = self._blocks[b]
        self.hit_count += len(found)
        self._harvest(set(wanted) - set(found), found)
        missing = [b for b in wanted if b not in found]
        if missing:
            self.miss_count += len(missing)
            found.update(self._fetch_blocks(missing))
        for b in wanted:
            self._store(b, found[b])
        return found

    def _harvest(self, wanted: set[int], found: dict[int, bytes]) -> None:
        """Move finished prefetches into the LRU; wait for those holding ``wanted`` blocks."""
        for b, future in list(self._inflight.items()):
            if b not in wanted and not future.done():
                continue
            del self._inflight[b]
            try:
                data = future.result()[b]
            except Exception:
                continue  # a failed prefetch is retried, and reported, by the synchronous path
            if b in wanted:
                found[b] = data
            else:
                self._store(b, data)

    def _prefetch(self, blocks: range) -> None:
        todo = [b for b in blocks if b not in self._blocks and b not in self._inflight]
        if not todo:
            return
        if self._prefetcher is None:
            self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="fsspec-research-readahead")
        future = self._prefetcher.submit(self._fetch_blocks, todo)
        for b in todo:
            self._inflight[b] = future

    def _fetch_blocks(self, blocks: list[int]) -> dict[int, bytes]:
        """Fetch ``blocks`` (sorted) in one batch of at most ``concurrency`` parallel requests."""
        count = min(self.concurrency, len(blocks))
        cuts = {len(blocks) * i // count for i in range(count)}
        runs: list[list[int]] = []
        for i, b in enumerate(blocks):
            if runs and runs[-1][-1] == b - 1 and i not in cuts:
                runs[-1].append(b)
            else:
                runs.append([b])
        ranges = [(run[0] * self.blocksize, min(self.size, (run[-1] + 1) * self.blocksize)) for run in runs]
        results = self._fetch_ranges(ranges)
        with self._lock:
            self.requests += len(ranges)
            self.total_requested_bytes += sum(end - start for start, end in ranges)
        out: dict[int, bytes] = {}
        for run, (start, end), data in zip(runs, ranges, results):
            if len(data) != end - start:
                raise OSError(f"short read: got {len(data)} of {end - start} bytes at offset {start}")
            if len(run) == 1 and isinstance(data, bytes):
                out[run[0]] = data  # a request of exactly one block is kept as it came, not copied
                continue
            view = memoryview(data)
            for b in run:
                lo = b * self.blocksize - start
                out[b] = bytes(view[lo : lo + self.blocksize])
        return out

    def _fetch_ranges(self, ranges: list[tuple[int, int]]) -> Sequence[bytes]:
        if self._multi_fetcher is not None:
            return self._multi_fetcher(ranges)
        if len(ranges) == 1:
            return [self.fetcher(*ranges[0])]
        if self._runner is None:
            self._runner = ThreadRunner(self.concurrency, "fsspec-research-cache")
        plan = plan_ranges((("", s, e) for s, e in ranges), merge=False)
        return self._runner.fetch_plan(plan, lambda req: self.fetcher(req.start, req.end))

    def _store(self, block: int, data: bytes) -> None:
        self._blocks[block] = data
        self._blocks.move_to_end(block)
        while len(self._blocks) > self.maxblocks:
            self._blocks.popitem(last=False)

    def close(self) -> None:
        """Stop prefetching and drop cached blocks."""
        for future in self._inflight.values():
            future.cancel()
        self._inflight.clear()
        self._blocks.clear()
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=False, cancel_futures=True)
            self._prefetcher = None
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def __repr__(self) -> str:
        return (
            f"<ParallelBlockCache blocksize={self.blocksize} size={self.size} cached={len(self._blocks)}/"
            f"{self.maxblocks} hits={self.hit_count} misses={self.miss_count} requests={self.requests} "
            f"requested_bytes={self.total_requested_bytes}>"
        )


register_cache(ParallelBlockCache, clobber=True)

"""Run planned range requests concurrently under a per-backend parallelism limit.

Two runners share one interface: :class:`AsyncRunner` for asyncio backends (requests are
coroutines on the backend's event loop) and :class:`ThreadRunner` for blocking clients (a bounded
thread pool; a backend keeps one connection per worker thread). Both stream results back per input
range as soon as the requests it needs have arrived, and a failed request cancels its siblings and
raises. A plan's batches (:func:`~.ranges.batch_plan`) are fetched by one ``fetch.batch(requests)``
call each, which returns the bytes of every request of the batch.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .ranges import Plan, Request

__all__ = ["AsyncRunner", "Runner", "ThreadRunner"]

T = TypeVar("T")
CANCEL_POLL = 0.5  #: seconds between checks for requests cancelled by a runner's close()
SyncFetch = Callable[[Request], bytes]
AsyncFetch = Callable[[Request], Awaitable[bytes]]


class _Assembler:
    """Collects request results and hands out input ranges as soon as they are complete."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.users = plan.users()
        self.missing = [len(p) for p in plan.pieces]
        self.refs = [len(u) for u in self.users]
        self.results: dict[int, bytes] = {}

    def ready_at_start(self) -> list[tuple[int, bytes]]:
        return [(i, b"") for i, n in enumerate(self.missing) if n == 0]

    def add(self, request: int, data: bytes) -> list[tuple[int, bytes]]:
        self.results[request] = data
        done = []
        for index in self.users[request]:
            self.missing[index] -= 1
            if self.missing[index] == 0:
                done.append((index, self.plan.assemble_one(index, self.results)))
                for piece in self.plan.pieces[index]:  # free request data nobody else needs
                    self.refs[piece.request] -= 1
                    if self.refs[piece.request] == 0:
                        del self.results[piece.request]
        return done

    def add_job(self, job: tuple[int, ...], result: Any) -> list[tuple[int, bytes]]:
        """:meth:`add` for the result of :func:`_job`: one request's bytes, or a batch's list of them."""
        if len(job) == 1:
            return self.add(job[0], result)
        if len(result) != len(job):
            raise ValueError(f"a batch of {len(job)} requests returned {len(result)} results")
        return [item for request, data in zip(job, result) for item in self.add(request, data)]


class Runner:
    """Interface of both runners: execute a plan, streaming or all at once, and submit tasks."""

    limit: int

    def iter_plan(self, plan: Plan, fetch: Any) -> Iterator[tuple[int, bytes]]:
        """Yield ``(input index, bytes)`` for every input range of ``plan`` as it completes."""
        raise NotImplementedError

    def fetch_plan(self, plan: Plan, fetch: Any) -> list[bytes]:
        """Bytes of every input range of ``plan``, in the caller's order."""
        out: list[bytes] = [b""] * len(plan.pieces)
        for index, data in self.iter_plan(plan, fetch):
            out[index] = data
        return out

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` (a coroutine function for async runners) under the limit."""
        raise NotImplementedError

    def close(self) -> None:
        """Release threads; the runner is rebuilt on next use by its owner."""


class ThreadRunner(Runner):
    """A bounded thread pool shared by every request of one backend instance."""

    def __init__(self, limit: int, name: str = "fsspec-research") -> None:
        if limit < 1:
            raise ValueError(f"parallelism limit must be >= 1, got {limit}")
        self.limit = limit
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._locals: dict[tuple[int, str], Any] = {}

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.limit, thread_name_prefix=self._name)
            return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.pool.submit(fn, *args)

    def worker_local(self, key: str, factory: Callable[[], T]) -> T:
        """``factory()``'s object for the calling worker thread, made on first use (e.g. one client
        connection per worker). Objects with a ``close`` method are closed by :meth:`close`."""
        slot = (threading.get_ident(), key)
        with self._lock:
            if slot in self._locals:
                return self._locals[slot]
        value = factory()
        with self._lock:
            return self._locals.setdefault(slot, value)

    def iter_plan(self, plan: Plan, fetch: SyncFetch) -> Iterator[tuple[int, bytes]]:
        assembler = _Assembler(plan)
        yield from assembler.ready_at_start()
        order = iter(plan.jobs())
        pending: dict[Future, tuple[int, ...]] = {}
        try:
            while _refill(pending, order, self.limit, lambda job: self.pool.submit(_job, plan, fetch, job)):
                done, _ = wait(pending, timeout=CANCEL_POLL, return_when=FIRST_COMPLETED)
                # a future cancelled by close() (the pool's shutdown) never wakes wait(): find it here
                done = done or {future for future in pending if future.cancelled()}
                for future in done:
                    yield from assembler.add_job(pending.pop(future), future.result())
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            objects, self._locals = list(self._locals.values()), {}
        if pool is not None:
            pool.shutdown(wait=bool(objects), cancel_futures=True)  # workers finish with their objects
        for obj in objects:
            close = getattr(obj, "close", None)
            if callable(close):
                close()


class AsyncRunner(Runner):
    """Coroutines on one event loop, at most ``limit`` requests in flight per loop."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop | Callable[[], asyncio.AbstractEventLoop]):
        if limit < 1:
            raise ValueError(f"parallelism limit must be >= 1, got {limit}")
        self.limit = limit
        self._loop = loop
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop if isinstance(self._loop, asyncio.AbstractEventLoop) else self._loop()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def limited(self, fn: Callable[..., Awaitable[T] | T], *args: Any) -> T:
        """``fn(*args)``, awaited if it returns an awaitable, once a slot is free."""
        async with self._semaphore():
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result

    async def aiter_plan(self, plan: Plan, fetch: AsyncFetch) -> AsyncIterator[tuple[int, bytes]]:
        """Async version of :meth:`iter_plan`, to be used on the runner's loop."""
        assembler = _Assembler(plan)
        for item in assembler.ready_at_start():
            yield item
        order = iter(plan.jobs())
        tasks: dict[asyncio.Future, tuple[int, ...]] = {}

        def start(job: tuple[int, ...]) -> asyncio.Future:
            return asyncio.ensure_future(self.limited(_job, plan, fetch, job))

        try:
            while _refill(tasks, order, self.limit, start):
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    for item in assembler.add_job(tasks.pop(task), task.result()):
                        yield item
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def afetch_plan(self, plan: Plan, fetch: AsyncFetch) -> list[bytes]:
        out: list[bytes] = [b""] * len(plan.pieces)
        async for index, data in self.aiter_plan(plan, fetch):
            out[index] = data
        return out

    def _check_thread(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise NotImplementedError("blocking call on the filesystem's own event loop; use the async API")
        return loop

    def iter_plan(self, plan: Plan, fetch: AsyncFetch) -> Iterator[tuple[int, bytes]]:
        loop = self._check_thread()
        items: queue.SimpleQueue = queue.SimpleQueue()
        done = object()
        credits = asyncio.Semaphore(self.limit)  # items handed over but not yet taken by the consumer

        async def pump() -> None:
            try:
                async for item in self.aiter_plan(plan, fetch):
                    await credits.acquire()
                    items.put(item)
            except BaseException as exc:
                items.put(exc)
                raise
            finally:
                items.put(done)

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        try:
            while (item := items.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                loop.call_soon_threadsafe(credits.release)
                yield item
        finally:
            future.cancel()

    def fetch_plan(self, plan: Plan, fetch: AsyncFetch) -> list[bytes]:
        loop = self._check_thread()
        return asyncio.run_coroutine_threadsafe(self.afetch_plan(plan, fetch), loop).result()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on the loop; a plain (blocking) function runs in a worker thread."""
        loop = self._check_thread()
        if not inspect.iscoroutinefunction(fn):
            fn, args = asyncio.to_thread, (fn, *args)
        return asyncio.run_coroutine_threadsafe(self.limited(fn, *args), loop)


def _job(plan: Plan, fetch: Any, job: tuple[int, ...]) -> Any:
    """Fetch one job of ``plan``: a lone request with ``fetch``, a batch with ``fetch.batch`` (or an
    awaitable of that, for async backends)."""
    if len(job) == 1:
        return fetch(plan.requests[job[0]])
    return fetch.batch([plan.requests[r] for r in job])


def _refill(running: dict, order: Iterator[Any], limit: int, start: Callable[[Any], Any]) -> bool:
    """Start jobs from ``order`` until ``limit`` run; say whether any still runs.

    Jobs start only as earlier ones are taken, so a slow consumer holds at most ``limit`` finished
    results besides those in flight: memory stays near ``2 * limit * part_size`` (batches hold at
    most ``max_block``).
    """
    while len(running) < limit:
        job = next(order, None)
        if job is None:
            break
        running[start(job)] = job
    return bool(running)

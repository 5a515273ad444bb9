"""Runners: right bytes in caller order, bounded parallelism, streaming, cancellation on failure."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import random
import threading
import time
import warnings

import pytest

from fsspec_research.core.fetch import AsyncRunner, ThreadRunner
from fsspec_research.core.ranges import Request, plan_ranges

pytestmark = pytest.mark.timeout(30)

WAIT = 5.0  # upper bound for anything that should happen "promptly"

OBJECTS = {f"obj{i:02d}": bytes((i * 7 + j) % 256 for j in range(300)) for i in range(25)}


class Boom(Exception):
    pass


class Tracker:
    """Counts fetches, the requests in flight and the most ever in flight, across threads and loops."""

    def __init__(self, data=OBJECTS, delay=0.0, fail=(), jitter=False) -> None:
        self.data = data
        self.delay = delay
        self.fail = set(fail)
        self.jitter = jitter
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[Request] = []
        self.finished: list[Request] = []
        self.cancelled: list[Request] = []

    def _enter(self, req: Request) -> float:
        with self.lock:
            self.started.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.jitter:
            return random.Random(f"{req}").uniform(0, 0.01)
        return self.delay

    def _exit(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def _result(self, req: Request) -> bytes:
        if req in self.fail:
            raise Boom(f"failed {req}")
        with self.lock:
            self.finished.append(req)
        return self.data[req.path][req.start : req.end]

    def sync(self, req: Request) -> bytes:
        delay = self._enter(req)
        try:
            if delay:
                time.sleep(delay)
            return self._result(req)
        finally:
            self._exit()

    async def aio(self, req: Request) -> bytes:
        delay = self._enter(req)
        try:
            if delay:
                await asyncio.sleep(delay)
            return self._result(req)
        except asyncio.CancelledError:
            with self.lock:
                self.cancelled.append(req)
            raise
        finally:
            self._exit()


def expected(ranges):
    return [OBJECTS[p][s:e] for p, s, e in ranges]


def many_ranges(n: int, size: int = 10):
    """``n`` ranges that never merge (one per object), so ``n`` requests."""
    return [(f"obj{i:02d}", 0, size) for i in range(n)]


def wait_until(cond, timeout=WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    yield loop

    async def cancel_rest():
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(cancel_rest(), loop).result(WAIT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(WAIT)
    loop.close()


class Harness:
    """Builds a runner of one kind and picks the matching (sync or async) fetch of a Tracker."""

    def __init__(self, kind: str, loop: asyncio.AbstractEventLoop) -> None:
        self.kind = kind
        self.loop = loop
        self.runners: list = []

    def runner(self, limit: int):
        r = ThreadRunner(limit) if self.kind == "thread" else AsyncRunner(limit, self.loop)
        self.runners.append(r)
        return r

    def fetch(self, tracker: Tracker):
        return tracker.sync if self.kind == "thread" else tracker.aio

    def gate(self, event: threading.Event, timeout: float = 2.0):
        """A fetch helper that blocks until ``event`` is set; raises TimeoutError if it never is."""
        if self.kind == "thread":

            def wait() -> None:
                if not event.wait(timeout):
                    raise TimeoutError("gate never opened")

            return wait

        async def await_() -> None:
            deadline = time.monotonic() + timeout
            while not event.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("gate never opened")
                await asyncio.sleep(0.002)

        return await_

    def make_fetch(self, behaviour):
        """A fetch that runs ``behaviour(req)`` (a gate or None) before returning the data."""
        if self.kind == "thread":

            def fetch(req):
                step = behaviour(req)
                if step is not None:
                    step()
                return OBJECTS[req.path][req.start : req.end]

            return fetch

        async def afetch(req):
            step = behaviour(req)
            if step is not None:
                await step()
            return OBJECTS[req.path][req.start : req.end]

        return afetch

    def close(self) -> None:
        for r in self.runners:
            r.close()


@pytest.fixture(params=["thread", "async"])
def harness(request, loop):
    h = Harness(request.param, loop)
    yield h
    h.close()


# ------------------------------------------------------------------------------------------ both runners


def test_fetch_plan_right_bytes_in_caller_order(harness):
    ranges = [
        ("obj03", 250, 300),
        ("obj01", 0, 100),
        ("obj03", 0, 40),
        ("obj01", 50, 260),
        ("obj02", 10, 10),
        ("obj01", 10, 20),
        ("obj00", 0, 300),
    ]
    plan = plan_ranges(ranges, max_gap=20, part_size=37)
    tracker = Tracker(jitter=True)
    out = harness.runner(3).fetch_plan(plan, harness.fetch(tracker))
    assert out == expected(ranges)
    assert sorted(tracker.started, key=repr) == sorted(plan.requests, key=repr)  # each request once


def test_iter_plan_yields_every_index_once(harness):
    ranges = [("obj05", s, s + 30) for s in range(0, 270, 15)] + [("obj06", 5, 5)]
    plan = plan_ranges(ranges, part_size=40)
    tracker = Tracker(jitter=True)
    got = list(harness.runner(4).iter_plan(plan, harness.fetch(tracker)))
    assert sorted(i for i, _ in got) == list(range(len(ranges)))
    assert dict(got) == dict(enumerate(expected(ranges)))


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_limit_never_exceeded_and_reached(harness, limit):
    ranges = many_ranges(16)
    tracker = Tracker(delay=0.01)
    out = harness.runner(limit).fetch_plan(plan_ranges(ranges), harness.fetch(tracker))
    assert out == expected(ranges)
    assert len(tracker.started) == 16
    assert tracker.max_in_flight == limit


def test_limit_shared_by_concurrent_callers(harness):
    runner = harness.runner(3)
    tracker = Tracker(delay=0.01)
    fetch = harness.fetch(tracker)
    results: list = [None] * 4

    def call(k):
        ranges = [(f"obj{i:02d}", k, k + 5) for i in range(8)]
        results[k] = runner.fetch_plan(plan_ranges(ranges), fetch) == expected(ranges)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert results == [True] * 4
    assert len(tracker.started) == 32
    assert tracker.max_in_flight == 3


def test_streaming_fast_range_yielded_while_slow_blocked(harness):
    release = threading.Event()
    gate = harness.gate(release)
    fetch = harness.make_fetch(lambda req: gate if req.path == "obj10" else None)
    ranges = [("obj10", 0, 50), ("obj11", 0, 50)]  # the slow one is issued first
    plan = plan_ranges(ranges)
    it = harness.runner(2).iter_plan(plan, fetch)
    try:
        first = next(it)
        assert first == (1, OBJECTS["obj11"][0:50])
        assert not release.is_set()
        release.set()
        rest = list(it)
    finally:
        release.set()
        it.close()
    assert rest == [(0, OBJECTS["obj10"][0:50])]


def test_one_failure_raises_from_fetch_plan_and_stops_the_rest(harness):
    ranges = many_ranges(20)
    plan = plan_ranges(ranges)
    first = plan.requests[plan.issue_order()[0]]
    tracker = Tracker(delay=0.01, fail=[first])
    with pytest.raises(Boom, match="obj00"):
        harness.runner(1).fetch_plan(plan, harness.fetch(tracker))
    time.sleep(0.15)  # anything not cancelled would keep running here
    assert len(tracker.started) < 5


def test_one_failure_raises_from_iter_plan(harness):
    ranges = many_ranges(20)
    plan = plan_ranges(ranges)
    tracker = Tracker(delay=0.01, fail=[plan.requests[plan.issue_order()[0]]])
    got = []
    with pytest.raises(Boom):
        for item in harness.runner(1).iter_plan(plan, harness.fetch(tracker)):
            got.append(item)
    assert got == []
    time.sleep(0.15)
    assert len(tracker.started) < 5


def test_failure_in_middle_after_some_results(harness):
    ranges = many_ranges(10)
    plan = plan_ranges(ranges)
    tracker = Tracker(delay=0.005, fail=[plan.requests[plan.issue_order()[4]]])
    got = []
    with pytest.raises(Boom, match="obj04"):
        for item in harness.runner(1).iter_plan(plan, harness.fetch(tracker)):
            got.append(item)
    assert got == [(i, OBJECTS[f"obj{i:02d}"][0:10]) for i in range(4)]
    time.sleep(0.1)
    assert len(tracker.started) < 8


def test_failure_does_not_wait_for_blocked_sibling(harness):
    release = threading.Event()
    gate = harness.gate(release, timeout=10)

    def behaviour(req):
        if req.path == "obj01":
            return gate
        return None

    ranges = [("obj00", 0, 5), ("obj01", 0, 5)]
    plan = plan_ranges(ranges)
    base = harness.make_fetch(behaviour)
    if harness.kind == "thread":

        def fetch(req):
            if req.path == "obj00":
                time.sleep(0.05)
                raise Boom("first")
            return base(req)

    else:

        async def fetch(req):
            if req.path == "obj00":
                await asyncio.sleep(0.05)
                raise Boom("first")
            return await base(req)

    t0 = time.monotonic()
    try:
        with pytest.raises(Boom):
            harness.runner(2).fetch_plan(plan, fetch)
        assert time.monotonic() - t0 < 2.0
    finally:
        release.set()


def test_closing_iterator_early_cancels_pending(harness):
    ranges = many_ranges(12)
    plan = plan_ranges(ranges)
    tracker = Tracker(delay=0.02)
    it = harness.runner(1).iter_plan(plan, harness.fetch(tracker))
    assert next(it) == (0, OBJECTS["obj00"][0:10])
    it.close()
    time.sleep(0.2)  # 10 more requests would have started if not cancelled
    assert len(tracker.started) <= 3
    assert wait_until(lambda: tracker.in_flight == 0)


def test_empty_ranges_yield_empty_bytes_without_requests(harness):
    tracker = Tracker()
    runner = harness.runner(2)
    ranges = [("obj00", 5, 5), ("obj01", 0, 0), ("obj02", 300, 300)]
    plan = plan_ranges(ranges)
    assert runner.fetch_plan(plan, harness.fetch(tracker)) == [b"", b"", b""]
    assert sorted(runner.iter_plan(plan, harness.fetch(tracker))) == [(0, b""), (1, b""), (2, b"")]
    assert tracker.started == []

    mixed = [("obj00", 5, 5), ("obj01", 0, 30), ("obj02", 9, 9)]
    assert runner.fetch_plan(plan_ranges(mixed), harness.fetch(tracker)) == [b"", OBJECTS["obj01"][:30], b""]
    assert tracker.started == [Request("obj01", 0, 30)]


def test_empty_plan(harness):
    tracker = Tracker()
    runner = harness.runner(1)
    assert runner.fetch_plan(plan_ranges([]), harness.fetch(tracker)) == []
    assert list(runner.iter_plan(plan_ranges([]), harness.fetch(tracker))) == []


def test_submit_runs_under_limit_and_returns_concurrent_future(harness):
    tracker = Tracker(delay=0.02)
    fn = harness.fetch(tracker)
    runner = harness.runner(2)
    reqs = [Request(f"obj{i:02d}", 0, 4) for i in range(6)]
    futures = [runner.submit(fn, r) for r in reqs]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    assert [f.result(WAIT) for f in futures] == [OBJECTS[r.path][0:4] for r in reqs]
    assert tracker.max_in_flight == 2


def test_submit_propagates_exception(harness):
    tracker = Tracker(fail=[Request("obj00", 0, 1)])
    fut = harness.runner(1).submit(harness.fetch(tracker), Request("obj00", 0, 1))
    with pytest.raises(Boom):
        fut.result(WAIT)


def test_submit_and_plans_share_the_limit(harness):
    runner = harness.runner(2)
    release = threading.Event()
    gate = harness.gate(release, timeout=10)
    blocker = harness.make_fetch(lambda req: gate)
    blocked = [runner.submit(blocker, Request("obj00", 0, 1)) for _ in range(2)]
    tracker = Tracker()
    out: list = []
    t = threading.Thread(
        target=lambda: out.append(runner.fetch_plan(plan_ranges(many_ranges(3)), harness.fetch(tracker)))
    )
    try:
        t.start()
        time.sleep(0.15)
        assert tracker.started == []  # both slots are taken by the submitted tasks
    finally:
        release.set()
    t.join(WAIT)
    assert out == [expected(many_ranges(3))]
    assert [f.result(WAIT) for f in blocked] == [OBJECTS["obj00"][0:1]] * 2


# ------------------------------------------------------------------------------------------ ThreadRunner


@pytest.mark.parametrize("limit", [0, -1])
def test_thread_runner_invalid_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        ThreadRunner(limit)


def test_thread_runner_close_then_reuse():
    runner = ThreadRunner(2)
    runner.close()  # nothing to close yet
    tracker = Tracker(delay=0.005)
    ranges = many_ranges(6)
    assert runner.fetch_plan(plan_ranges(ranges), tracker.sync) == expected(ranges)
    pool = runner.pool
    runner.close()
    with pytest.raises(RuntimeError):
        pool.submit(int)  # the old pool is shut down
    assert runner.pool is not pool
    assert runner.fetch_plan(plan_ranges(ranges), tracker.sync) == expected(ranges)
    assert runner.submit(lambda x: x * 2, 21).result(WAIT) == 42
    runner.close()
    runner.close()
    assert tracker.max_in_flight <= 2


def test_thread_runner_close_releases_threads():
    runner = ThreadRunner(3, name="closing-test")
    runner.fetch_plan(plan_ranges(many_ranges(6)), Tracker(delay=0.005).sync)
    assert any(t.name.startswith("closing-test") for t in threading.enumerate())
    runner.close()
    assert wait_until(lambda: not any(t.name.startswith("closing-test") for t in threading.enumerate()))


def test_a_plan_whose_queued_requests_close_cancels_raises_instead_of_hanging():
    """Two plans share a one-thread runner; close() cancels the queued request of the second, which
    never wakes concurrent.futures.wait(): that plan must still end (a readahead thread stuck there
    kept the interpreter from exiting)."""
    runner = ThreadRunner(1)
    release = threading.Event()

    def fetch(req):
        release.wait(WAIT)
        return OBJECTS[req.path][req.start : req.end]

    outcomes: dict[str, object] = {}

    def read(name: str) -> None:
        try:
            outcomes[name] = runner.fetch_plan(plan_ranges([("obj00", 0, 10)]), fetch)
        except BaseException as exc:  # the outcome is what the test asserts
            outcomes[name] = exc

    first = threading.Thread(target=read, args=("first",))
    first.start()
    assert wait_until(lambda: runner._pool is not None and runner._pool._work_queue.empty())
    second = threading.Thread(target=read, args=("second",))
    second.start()
    assert wait_until(lambda: not runner._pool._work_queue.empty())  # queued behind the first
    runner.close()
    second.join(WAIT)
    assert not second.is_alive()
    assert isinstance(outcomes["second"], concurrent.futures.CancelledError)
    release.set()
    first.join(WAIT)
    assert outcomes["first"] == [OBJECTS["obj00"][0:10]]


def test_thread_runner_iter_yields_empty_ranges_before_fetching():
    tracker = Tracker()
    plan = plan_ranges([("obj00", 0, 10), ("obj01", 3, 3)])
    it = ThreadRunner(1).iter_plan(plan, tracker.sync)
    assert next(it) == (1, b"")
    assert tracker.started == []
    assert list(it) == [(0, OBJECTS["obj00"][0:10])]


# ------------------------------------------------------------------------------------------ AsyncRunner


@pytest.mark.parametrize("limit", [0, -3])
def test_async_runner_invalid_limit(limit, loop):
    with pytest.raises(ValueError, match="limit"):
        AsyncRunner(limit, loop)


def test_async_runner_accepts_loop_factory(loop):
    runner = AsyncRunner(2, lambda: loop)
    assert runner.loop is loop
    ranges = many_ranges(5)
    assert runner.fetch_plan(plan_ranges(ranges), Tracker().aio) == expected(ranges)


def test_async_failure_cancels_sibling_blocked_in_sleep(loop):
    cancelled = threading.Event()

    async def fetch(req):
        if req.path == "obj00":
            await asyncio.sleep(0.05)
            raise Boom("first")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b"never"

    plan = plan_ranges([("obj00", 0, 5), ("obj01", 0, 5)])
    runner = AsyncRunner(2, loop)
    t0 = time.monotonic()
    with pytest.raises(Boom):
        runner.fetch_plan(plan, fetch)
    assert cancelled.wait(2.0)
    assert time.monotonic() - t0 < 2.0

    cancelled.clear()
    t0 = time.monotonic()
    with pytest.raises(Boom):
        list(runner.iter_plan(plan, fetch))
    assert cancelled.wait(2.0)
    assert time.monotonic() - t0 < 2.0


def test_async_closing_iterator_cancels_blocked_request(loop):
    cancelled = threading.Event()

    async def fetch(req):
        if req.path == "obj01":
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return OBJECTS[req.path][req.start : req.end]

    plan = plan_ranges([("obj00", 0, 5), ("obj01", 0, 5)])
    it = AsyncRunner(2, loop).iter_plan(plan, fetch)
    assert next(it) == (0, OBJECTS["obj00"][0:5])
    t0 = time.monotonic()
    it.close()
    assert cancelled.wait(2.0)
    assert time.monotonic() - t0 < 2.0


def test_async_fetch_plan_on_own_loop_raises(loop):
    runner = AsyncRunner(2, loop)
    plan = plan_ranges(many_ranges(2))
    tracker = Tracker()

    async def blocking_fetch_plan():
        return runner.fetch_plan(plan, tracker.aio)

    async def blocking_iter_plan():
        return next(runner.iter_plan(plan, tracker.aio))

    async def blocking_submit():
        return runner.submit(tracker.aio, plan.requests[0])

    for coro in (blocking_fetch_plan, blocking_iter_plan, blocking_submit):
        with pytest.raises(NotImplementedError):
            asyncio.run_coroutine_threadsafe(coro(), loop).result(WAIT)
    assert tracker.started == []
    # the loop is still healthy
    assert runner.fetch_plan(plan, tracker.aio) == expected(many_ranges(2))


def test_async_submit_plain_function_runs_off_loop_under_limit(loop):
    runner = AsyncRunner(2, loop)
    tracker = Tracker(delay=0.02)
    reqs = [Request(f"obj{i:02d}", 0, 3) for i in range(6)]
    threads: list = []

    def fn(req):
        threads.append(threading.current_thread())
        return tracker.sync(req)

    futures = [runner.submit(fn, r) for r in reqs]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    assert [f.result(WAIT) for f in futures] == [OBJECTS[r.path][0:3] for r in reqs]
    assert tracker.max_in_flight == 2
    assert all(t.name != "test-loop" for t in threads)  # blocking work never runs on the loop


def test_async_submit_on_own_loop_leaves_no_unawaited_coroutine(loop):
    """Refusing ``submit`` on the runner's own loop should not leak a never-awaited coroutine."""
    runner = AsyncRunner(1, loop)

    async def fn():
        return 1

    async def blocking_submit():
        try:
            runner.submit(fn)
        except NotImplementedError:
            return "refused"
        return "accepted"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run_coroutine_threadsafe(blocking_submit(), loop).result(WAIT) == "refused"
        gc.collect()
    leaked = [w for w in caught if "never awaited" in str(w.message)]
    assert leaked == [], [str(w.message) for w in leaked]


# ------------------------------------------------------------------------------ aiter_plan / afetch_plan


def test_afetch_plan_under_asyncio_run():
    runner = AsyncRunner(3, lambda: asyncio.get_event_loop())
    ranges = [("obj07", 200, 300), ("obj07", 0, 150), ("obj08", 0, 0), ("obj09", 20, 280)]
    plan = plan_ranges(ranges, max_gap=60, part_size=45)
    tracker = Tracker(jitter=True)

    async def main():
        return await runner.afetch_plan(plan, tracker.aio)

    assert asyncio.run(main()) == expected(ranges)
    assert tracker.max_in_flight == 3
    # a second, fresh event loop works with the same runner (its semaphore is per loop)
    tracker2 = Tracker(delay=0.005)
    assert asyncio.run(runner.afetch_plan(plan_ranges(many_ranges(10)), tracker2.aio)) == expected(
        many_ranges(10)
    )
    assert tracker2.max_in_flight == 3


def test_aiter_plan_streams_under_asyncio_run():
    runner = AsyncRunner(2, lambda: asyncio.get_event_loop())
    plan = plan_ranges([("obj10", 0, 20), ("obj11", 0, 20)])

    async def main():
        release = asyncio.Event()

        async def fetch(req):
            if req.path == "obj10":
                await asyncio.wait_for(release.wait(), 2.0)
            return OBJECTS[req.path][req.start : req.end]

        got = []
        async for item in runner.aiter_plan(plan, fetch):
            got.append(item)
            release.set()
        return got

    assert asyncio.run(main()) == [(1, OBJECTS["obj11"][0:20]), (0, OBJECTS["obj10"][0:20])]


def test_aiter_plan_failure_cancels_siblings_under_asyncio_run():
    runner = AsyncRunner(3, lambda: asyncio.get_event_loop())
    plan = plan_ranges(many_ranges(3))
    cancelled = []

    async def fetch(req):
        if req.path == "obj00":
            await asyncio.sleep(0.02)
            raise Boom("x")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(req.path)
            raise
        return b""

    async def main():
        t0 = time.monotonic()
        with pytest.raises(Boom):
            await runner.afetch_plan(plan, fetch)
        # siblings were cancelled and awaited before the error reached us
        assert sorted(cancelled) == ["obj01", "obj02"]
        assert time.monotonic() - t0 < 2.0
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert pending == []

    asyncio.run(main())


def test_aiter_plan_limit_one_failure_runs_few():
    runner = AsyncRunner(1, lambda: asyncio.get_event_loop())
    plan = plan_ranges(many_ranges(20))
    tracker = Tracker(delay=0.005, fail=[plan.requests[0]])

    async def main():
        with pytest.raises(Boom):
            await runner.afetch_plan(plan, tracker.aio)
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert len(tracker.started) < 5


def test_aiter_plan_aclose_cancels_pending():
    runner = AsyncRunner(2, lambda: asyncio.get_event_loop())
    plan = plan_ranges(many_ranges(2))
    cancelled = []

    async def fetch(req):
        if req.path == "obj01":
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(req.path)
                raise
        return OBJECTS[req.path][req.start : req.end]

    async def main():
        agen = runner.aiter_plan(plan, fetch)
        first = await agen.__anext__()
        t0 = time.monotonic()
        await agen.aclose()
        assert cancelled == ["obj01"]
        assert time.monotonic() - t0 < 2.0
        return first

    assert asyncio.run(main()) == (0, OBJECTS["obj00"][0:10])


def test_aiter_plan_empty_ranges_first_without_requests():
    runner = AsyncRunner(1, lambda: asyncio.get_event_loop())
    tracker = Tracker()
    plan = plan_ranges([("obj00", 0, 4), ("obj01", 2, 2)])

    async def main():
        agen = runner.aiter_plan(plan, tracker.aio)
        first = await agen.__anext__()
        started = list(tracker.started)
        rest = [item async for item in agen]
        return first, started, rest

    first, started, rest = asyncio.run(main())
    assert first == (1, b"")
    assert started == []
    assert rest == [(0, OBJECTS["obj00"][0:4])]


def test_thread_runner_worker_local_objects_are_per_thread_and_closed():
    made: list = []

    class Conn:
        closed = False

        def __init__(self):
            made.append(self)

        def close(self):
            self.closed = True

    runner = ThreadRunner(3)
    owners: dict[int, set[int]] = {}

    def fetch(req):
        conn = runner.worker_local("conn", Conn)
        owners.setdefault(id(conn), set()).add(threading.get_ident())
        time.sleep(0.01)
        return b"x" * (req.end - req.start)

    plan = plan_ranges(("p", i * 10, i * 10 + 5) for i in range(30))
    assert runner.fetch_plan(plan, fetch) == [b"x" * 5] * 30
    assert 1 <= len(made) <= 3  # at most one object per worker thread
    assert all(len(threads) == 1 for threads in owners.values())  # never shared between threads
    runner.close()
    assert all(c.closed for c in made)


@pytest.mark.parametrize("kind", ["thread", "async"])
def test_a_slow_consumer_holds_back_new_requests(kind: str) -> None:
    """Streaming a plan to a slow consumer keeps at most ~2 x limit results alive, not the whole plan."""
    limit, started, taken = 3, [0], [0]
    plan = plan_ranges(((f"p{i}", 0, 10) for i in range(40)), merge=False)
    loop_thread = None
    if kind == "thread":
        runner: AsyncRunner | ThreadRunner = ThreadRunner(limit)

        def fetch(req: Request) -> bytes:
            started[0] += 1
            return b"x" * 10

    else:
        loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
        loop_thread.start()
        runner = AsyncRunner(limit, loop)

        async def fetch(req: Request) -> bytes:
            started[0] += 1
            return b"x" * 10

    try:
        for _ in runner.iter_plan(plan, fetch):
            taken[0] += 1
            time.sleep(0.005)
            assert started[0] - taken[0] <= 2 * limit + 1
        assert taken[0] == started[0] == 40
    finally:
        runner.close()
        if loop_thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            loop_thread.join(5)

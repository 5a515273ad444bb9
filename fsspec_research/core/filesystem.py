"""The glue every backend mixes into its fsspec filesystem class.

A backend implements a few hooks:

* ``_read_range(path, start, end, version) -> bytes`` (or bytearray; a coroutine function on async backends):
  read ``[start, end)``, raising :class:`~fsspec_research.core.errors.ObjectChangedError` when
  ``version`` is given and the object no longer has it;
* ``_read_range_into(path, start, view, version) -> int`` (optional, blocking backends, with
  ``reads_into = True``): read ``len(view)`` bytes from ``start`` straight into ``view``, returning how many
  came; whole reads and downloads then skip a copy and an allocation per part;
* ``_read_ranges(path, spans, version) -> list[bytes]`` (optional, with ``max_ranges_per_request > 1``):
  several ``[start, end)`` spans of one object (ascending, not overlapping) in one request; the core
  then batches the small requests of a path (see :func:`~fsspec_research.core.ranges.batch_plan`);
* ``_version_of(info) -> str | None``: the version token (ETag, checksum, commit id) of an object;
* ``_pin_version(path) -> str | None`` (optional): the version to pin a ``cat_ranges`` call to;
* ``_read_info(path)`` (optional): size and version before a whole read, cheaper than ``info``;
* ``_confirm_version(path, version)`` with ``confirms_versions = True``, for blocking backends whose
  range reads cannot be conditional: checked once per object after each batch of reads;
* upload hooks ``_upload_whole``, ``_upload_start``, ``_upload_part``, ``_upload_commit``,
  ``_upload_abort`` (see :class:`~fsspec_research.core.file.ResearchFile`).

Blocking clients run their hooks on the core's thread pool and keep one connection per worker
with ``self._runner.worker_local(key, factory)``.

and gets, from the core: merged parallel ``cat_ranges`` (sync and async) honouring ``max_gap``,
streaming :meth:`iter_ranges`, parallel whole-object reads and downloads, and ``open`` returning a
:class:`~fsspec_research.core.file.ResearchFile`.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import io
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.utils import isfilelike

from .errors import RetryPolicy
from .fetch import AsyncRunner, Runner, ThreadRunner
from .file import ResearchFile
from .ranges import Plan, Request, batch_plan, normalize, plan_ranges, split_evenly

__all__ = ["RangeFileSystemMixin"]

MiB = 2**20


class RangeFileSystemMixin:
    """Core-provided reads and writes for an fsspec filesystem; see the module docstring for the hooks."""

    concurrency: int = 64  #: parallel range requests per filesystem instance
    upload_concurrency: int = 8  #: upload parts in flight per file (memory: this many parts)
    max_gap: int = 64 * 1024  #: ranges closer than this are fetched in one request
    max_block: int = 32 * MiB  #: merged requests are capped at this size
    part_size: int = 8 * MiB  #: larger reads are split into parts fetched in parallel
    min_part_size: int = 512 * 1024  #: reads are not split into parts smaller than this (unless part_size is)
    read_streams: int | None = None  #: a read is split into at most this many parts (None: ``concurrency``)
    default_block_size: int = 4 * MiB  #: cache block size of files opened for reading
    upload_part_size: int = 16 * MiB  #: part size of streamed writes
    default_cache_type: str = "parallel"
    pins_versions: bool = False  #: whether ``_version_of`` is meaningful (files then always stat on open)
    confirms_versions: bool = False  #: whether pins are checked after each batch (``_confirm_version``)
    merge_adjacent: bool = False  #: join touching ranges of one read (e.g. cache blocks) before splitting
    reads_into: bool = False  #: the backend has ``_read_range_into`` (blocking backends only)
    max_ranges_per_request: int = 1  #: > 1: small requests of one path go out in batches (``_read_ranges``)
    batches_per_path: int = 8  #: a batched path still spreads over this many calls (at most ``concurrency``)
    retry: RetryPolicy = RetryPolicy()

    def _configure_core(self, options: dict[str, Any]) -> None:
        """Pop the core's tuning options from storage_options onto this instance.

        ``concurrency``, ``upload_concurrency``, ``max_gap``, ``max_block``, ``part_size``, ``min_part_size``,
        ``read_streams``, ``max_ranges_per_request``, ``block_size`` (read cache block), ``cache_type``
        (default for ``open``) and ``retries``.
        """
        for name in (
            "concurrency",
            "upload_concurrency",
            "max_gap",
            "max_block",
            "part_size",
            "min_part_size",
            "read_streams",
            "max_ranges_per_request",
        ):
            value = options.pop(name, None)
            if value is not None:
                least = 0 if name == "max_gap" else 1
                if not isinstance(value, int) or isinstance(value, bool) or value < least:
                    raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
                setattr(self, name, value)
        if options.get("block_size") is not None:
            self.default_block_size = int(options.pop("block_size"))
        if options.get("cache_type") is not None:
            self.default_cache_type = options.pop("cache_type")
        self.retry = RetryPolicy.from_option(options.pop("retries", None))

    # hooks
    def _read_range(self, path: str, start: int, end: int, version: str | None) -> Any:
        raise NotImplementedError

    def _read_range_into(self, path: str, start: int, view: memoryview, version: str | None) -> int:
        raise NotImplementedError

    def _read_ranges(self, path: str, spans: list[tuple[int, int]], version: str | None) -> Any:
        raise NotImplementedError

    def _version_of(self, info: dict[str, Any]) -> str | None:
        return None

    def _pin_version(self, path: str) -> str | None:
        return None

    def _confirm_version(self, path: str, version: str) -> None:
        """Raise :class:`~.errors.ObjectChangedError` unless ``path`` still has ``version``."""

    def _read_info(self, path: str) -> dict[str, Any]:
        """Size and version of an object about to be read (a backend may answer it more cheaply than info)."""
        return self.info(path)

    # machinery
    @property
    def _runner(self) -> Runner:
        runner = self.__dict__.get("_core_runner")
        if runner is None:
            if getattr(self, "async_impl", False):
                runner = AsyncRunner(self.concurrency, lambda: self.loop)
            else:
                runner = ThreadRunner(self.concurrency, f"fsspec-research-{type(self).__name__}")
            self.__dict__["_core_runner"] = runner
        return runner

    def _close_runner(self) -> None:
        """Stop the runner (closing its workers' objects); the next read makes a new one."""
        runner = self.__dict__.pop("_core_runner", None)
        if runner is not None:
            runner.close()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a hook from blocking code, running it on the loop if it is a coroutine function."""
        result = fn(*args)
        if inspect.isawaitable(result):
            return asyncio.run_coroutine_threadsafe(_maybe_await(result), self.loop).result()
        return result

    def _fetcher(self, versions: dict[str, str | None] | str | None) -> PinnedFetch:
        return PinnedFetch(self, versions)

    def _fetch(self, plan: Plan, fetch: Callable[[Request], Any]) -> list[bytes]:
        """Run ``plan`` on the runner, then confirm its pins (see :meth:`_confirm_version`)."""
        out = self._runner.fetch_plan(plan, fetch)
        self._confirm_pins(plan, fetch)
        return out

    def _iter(self, plan: Plan, fetch: Callable[[Request], Any]) -> Iterator[tuple[int, bytes]]:
        yield from self._runner.iter_plan(plan, fetch)
        self._confirm_pins(plan, fetch)

    def _confirm_pins(self, plan: Plan, fetch: Callable[[Request], Any]) -> None:
        """For backends whose range reads cannot be made conditional (``confirms_versions``): one check per
        object and batch, after its reads, that the pinned version still holds."""
        if not self.confirms_versions or not isinstance(fetch, PinnedFetch):
            return
        for path in dict.fromkeys(r.path for r in plan.requests):
            version = fetch.version(path)
            if version is not None:
                self._confirm_version(path, version)

    # reads
    def read_ranges(
        self, path: str, ranges: Sequence[tuple[int, int]], version: str | None = None
    ) -> list[bytes]:
        """Absolute ``[start, end)`` ranges of one object, each split into parallel parts, no merging."""
        return self._fetch(self._split_plan(path, ranges), self._fetcher(version))

    def _split_plan(self, path: str, ranges: Sequence[tuple[int, int]]) -> Plan:
        part = self._part_size_for(sum(e - s for s, e in ranges))
        return self._batched(
            plan_ranges(((path, s, e) for s, e in ranges), part_size=part, merge=self.merge_adjacent)
        )

    def _part_size_for(self, total: int) -> int:
        """Part size that spreads ``total`` bytes over ``read_streams`` parallel parts: a single missed
        cache block goes out as several parts at once, a huge read as ``part_size`` parts."""
        streams = self.read_streams or self.concurrency
        return min(self.part_size, max(self.min_part_size, -(-total // streams)))

    def _plan(self, paths, starts, ends, max_gap, max_block, sizes: dict[str, int]) -> Plan:
        ranges = []
        for path, start, end in zip(paths, starts, ends):
            start, end = normalize(start, end, sizes.get(path))
            ranges.append((path, start, end))
        gap = self.max_gap if max_gap is None else max_gap
        part = self._part_size_for(sum(end - start for _, start, end in ranges))
        return self._batched(plan_ranges(ranges, gap, max_block or self.max_block, part))

    def _batched(self, plan: Plan) -> Plan:
        """``plan`` with the small requests of each path batched, when the backend serves batches: below
        half ``min_part_size`` (parts of split reads are larger), at most ``max_block`` bytes a batch."""
        spread = min(self.concurrency, self.batches_per_path)
        return batch_plan(plan, self.max_ranges_per_request, self.max_block, spread, self.min_part_size // 2)

    @staticmethod
    def _needs_size(paths, starts, ends) -> list[str]:
        return sorted(
            {p for p, s, e in zip(paths, starts, ends) if (s is not None and s < 0) or e is None or e < 0}
        )

    def _prepare(self, paths, starts, ends, max_gap, max_block) -> tuple[Plan, Callable[[Request], Any]]:
        """Plan a ``cat_ranges``-style call and the fetch function pinned per path."""
        paths = [self._strip_protocol(p) for p in paths]
        sizes = {p: self.size(p) for p in self._needs_size(paths, starts, ends)}
        plan = self._plan(paths, starts, ends, max_gap, max_block, sizes)
        versions = {p: self._call(self._pin_version, p) for p in set(paths)} if self.pins_versions else None
        return plan, self._fetcher(versions)

    def iter_ranges(
        self,
        paths: Sequence[str],
        starts: Sequence[int | None],
        ends: Sequence[int | None],
        max_gap: int | None = None,
        max_block: int | None = None,
    ) -> Iterator[tuple[int, bytes]]:
        """Yield ``(index, bytes)`` for each requested range as soon as its data has arrived.

        Ranges are merged across gaps up to ``max_gap`` and fetched in parallel, pinned per path.
        """
        return self._iter(*self._prepare(paths, starts, ends, max_gap, max_block))

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", max_block=None, **kwargs):
        """Merged, parallel ``cat_ranges``; with ``on_error="return"`` a failing path yields its exception."""
        starts, ends = _broadcast(paths, starts), _broadcast(paths, ends)
        try:
            return self._fetch(*self._prepare(paths, starts, ends, max_gap, max_block))
        except Exception as exc:
            if on_error == "raise":
                raise
            if len(set(paths)) == 1:
                return [exc] * len(paths)
        out: list[Any] = [b""] * len(paths)
        for idx, *args in _split_by_path(paths, starts, ends):  # isolate the failing path(s)
            for i, data in zip(idx, self.cat_ranges(*args, max_gap, "return", max_block)):
                out[i] = data
        return out

    async def _cat_ranges(
        self, paths, starts, ends, max_gap=None, on_error="return", max_block=None, **kwargs
    ):
        """Async ``cat_ranges`` for async backends (zarr's ``FsspecStore`` calls this)."""
        starts, ends = _broadcast(paths, starts), _broadcast(paths, ends)
        paths = [self._strip_protocol(p) for p in paths]
        try:
            sizes = {p: (await self._info(p))["size"] for p in self._needs_size(paths, starts, ends)}
            plan = self._plan(paths, starts, ends, max_gap, max_block, sizes)
            versions = (
                {p: await _maybe_await(self._pin_version(p)) for p in set(paths)}
                if self.pins_versions
                else None
            )
            return await self._runner.afetch_plan(plan, self._fetcher(versions))
        except Exception as exc:
            if on_error == "raise":
                raise
            if len(set(paths)) == 1:
                return [exc] * len(paths)
        out: list[Any] = [b""] * len(paths)
        for idx, *args in _split_by_path(paths, starts, ends):
            for i, data in zip(idx, await self._cat_ranges(*args, max_gap, "return", max_block)):
                out[i] = data
        return out

    def read_parallel(
        self, path: str, start: int | None = None, end: int | None = None, info: dict | None = None
    ) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (fsspec limits), fetched in parallel parts (``info``: the
        path's info when the caller has it already)."""
        plan, fetch = self._pinned_read(path, info or self._read_info(path), start, end)
        joined = _Joined(plan)
        if self.reads_into and len(plan.requests) > 1:
            fetch = IntoFetch(self, fetch.versions, joined.view_of)
            for _ in self._iter(plan, fetch):
                pass
        else:
            for index, data in self._iter(plan, fetch):
                joined.add(index, data)
        return joined.value()

    async def _read_parallel(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """Async :meth:`read_parallel`, for the ``_cat_file`` of async backends."""
        plan, fetch = self._pinned_read(path, await self._info(path), start, end)
        joined = _Joined(plan)
        async for index, data in self._runner.aiter_plan(plan, fetch):
            joined.add(index, data)
        return joined.value()

    def _pinned_read(self, path: str, info: dict[str, Any], start: int | None, end: int | None):
        """The plan of one read of ``path`` (one range per part) and its fetch function, pinned to
        ``info``'s version."""
        start, end = normalize(start, end, info["size"])
        version = self._version_of(info) if self.pins_versions else None
        return self._parts_plan(self._strip_protocol(path), start, end), self._fetcher(version)

    def _parts_plan(self, path: str, start: int, end: int) -> Plan:
        """``[start, end)`` of ``path`` split into parallel parts, each its own range of the plan."""
        parts = split_evenly(start, end, self._part_size_for(end - start))
        return plan_ranges(((path, lo, hi) for lo, hi in parts), merge=False)

    def download_parallel(self, rpath: str, lpath: Any, callback: Callback = DEFAULT_CALLBACK) -> None:
        """Download ``rpath`` to a local path (or a writable file object) in parallel parts.

        Memory stays near ``concurrency * part_size``. A path is written at part offsets as parts
        arrive, into a temporary file beside it that replaces ``lpath`` only when complete; a file
        object gets the parts in order.
        """
        rpath = self._strip_protocol(rpath)
        info = self._read_info(rpath)
        size = info["size"]
        version = self._version_of(info) if self.pins_versions else None
        plan = self._parts_plan(rpath, 0, size)
        callback.set_size(size)
        if isfilelike(lpath):
            _write_in_order(self._iter(plan, self._fetcher(version)), lpath, callback)
            return
        os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
        # unique: a part still in flight after a failure finds no file to write into, not a later one's
        tmp = f"{lpath}.part-{os.getpid()}-{secrets.token_hex(4)}"
        # blocking backends write each part in the worker that read it (disk writes overlap transfers);
        # async ones here, in the calling thread, which the event loop hands the parts to as they arrive
        in_workers = isinstance(self._runner, ThreadRunner)
        fetch = WritingFetch(self, version, tmp) if in_workers else self._fetcher(version)
        try:
            with open(tmp, "wb") as f:
                f.truncate(size)
            for part, data in self._iter(plan, fetch):
                if not in_workers:
                    _write_at(tmp, data, plan.requests[part])
                callback.relative_update(plan.requests[part].size)
            os.replace(tmp, lpath)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_file_parallel(self, rpath: str, lpath: Any, callback: Callback | None = None) -> None:
        """fsspec's ``get_file`` for blocking backends: a directory becomes a local directory, an object
        is downloaded in parallel parts (:meth:`download_parallel`)."""
        if self.isdir(rpath):
            if isinstance(lpath, str):
                os.makedirs(lpath, exist_ok=True)
            return
        self.download_parallel(rpath, lpath, callback or DEFAULT_CALLBACK)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        return ResearchFile(self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs)


@dataclass(frozen=True)
class PinnedFetch:
    """The fetch function of one plan: the backend's read hooks with each path's pinned version
    (``versions``: one per path, or one for every path)."""

    fs: RangeFileSystemMixin
    versions: dict[str, str | None] | str | None

    def version(self, path: str) -> str | None:
        return self.versions.get(path) if isinstance(self.versions, dict) else self.versions

    def __call__(self, req: Request) -> Any:
        return self.fs._read_range(req.path, req.start, req.end, self.version(req.path))

    def batch(self, reqs: Sequence[Request]) -> Any:
        """The bytes of requests of one path (a batch of the plan), from one ``_read_ranges`` call."""
        path = reqs[0].path
        return self.fs._read_ranges(path, [(r.start, r.end) for r in reqs], self.version(path))


@dataclass(frozen=True)
class WritingFetch(PinnedFetch):
    """A :class:`PinnedFetch` for blocking backends that writes each request's bytes into the local file
    ``target`` at the request's offset, in the worker that read them, and returns ``b""``: a download's
    disk writes overlap its transfers instead of queueing behind one consumer. Backends with
    ``reads_into`` read into one buffer per worker, reused for the download's parts and freed with it."""

    target: str = ""
    buffers: dict[int, _Buffer] = field(default_factory=dict)  #: per worker, for this download only

    def __call__(self, req: Request) -> Any:
        if not self.fs.reads_into:
            _write_at(self.target, super().__call__(req), req)
            return b""
        buffer = self.buffers.get(threading.get_ident())
        if buffer is None:
            buffer = self.buffers[threading.get_ident()] = _Buffer()
        view = buffer.view(req.size)
        got = self.fs._read_range_into(req.path, req.start, view, self.version(req.path))
        _write_at(self.target, view[:got], req)
        return b""


@dataclass(frozen=True)
class IntoFetch(PinnedFetch):
    """A :class:`PinnedFetch` for backends with ``reads_into`` that reads each request straight into the
    buffer ``into(req)`` gives, and returns ``b""``."""

    into: Callable[[Request], memoryview]

    def __call__(self, req: Request) -> Any:
        got = self.fs._read_range_into(req.path, req.start, self.into(req), self.version(req.path))
        _check_size(req, got)
        return b""


class _Buffer:
    """A worker's reusable read buffer, grown on demand in steps of 64 KiB (even parts differ by a byte)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def view(self, size: int) -> memoryview:
        if len(self.data) < size:
            self.data = bytearray(-(-size // 65536) * 65536)
        return memoryview(self.data)[:size]


def _check_size(req: Request, got: int) -> None:
    """Raise ``OSError(EIO)`` unless ``got`` bytes are all of request ``req``'s."""
    if got != req.size:
        raise OSError(errno.EIO, f"short read: {got} of {req.size} bytes at {req.start}", req.path)


def _write_at(target: str, data: Any, req: Request) -> None:
    """All of ``data``, which must be request ``req``'s bytes, at ``req.start`` in the file ``target``."""
    view = memoryview(data)
    _check_size(req, len(view))
    fd = os.open(target, os.O_WRONLY)
    try:
        done = 0
        while done < len(view):
            done += os.pwrite(fd, view[done:], req.start + done)
    finally:
        os.close(fd)


class _Joined:
    """The parts of one read (a plan of one range per part), each copied into one buffer as it arrives
    (or read straight into it, :meth:`view_of`). The buffer is a ``BytesIO`` over ``bytes(size)``: its
    pages stay unallocated until written, and ``getvalue`` hands it over without a copy, so a 1 GiB read
    touches 1 GiB of fresh memory once."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        requests = plan.requests
        self.base = requests[0].start if requests else 0
        self.only: bytes | None = None
        size = requests[-1].end - self.base if len(requests) > 1 else 0
        self.buffer = io.BytesIO(bytes(size))
        self.view = self.buffer.getbuffer()

    def view_of(self, req: Request) -> memoryview:
        return self.view[req.start - self.base : req.end - self.base]

    def add(self, index: int, data: bytes) -> None:
        if len(self.plan.requests) == 1:
            self.only = data
            return
        req = self.plan.requests[index]
        _check_size(req, len(data))
        self.view_of(req)[:] = data

    def value(self) -> bytes:
        if self.only is not None:
            return self.only
        self.view.release()
        return self.buffer.getvalue()


def _write_in_order(arriving: Iterator[tuple[int, bytes]], out: Any, callback: Callback) -> None:
    """Write parts arriving in any order to ``out`` in order, holding only those that came early."""
    early: dict[int, bytes] = {}
    following = 0
    for part, data in arriving:
        early[part] = data
        while following in early:
            chunk = early.pop(following)
            out.write(chunk)
            callback.relative_update(len(chunk))
            following += 1


def _split_by_path(
    paths: Sequence[str], starts: list, ends: list
) -> Iterator[tuple[list[int], list, list, list]]:
    """Per distinct path: the indices of its ranges, and its own ``paths, starts, ends`` lists."""
    for path in dict.fromkeys(paths):
        idx = [i for i, p in enumerate(paths) if p == path]
        yield idx, [path] * len(idx), [starts[i] for i in idx], [ends[i] for i in idx]


def _broadcast(paths: Sequence[str], values) -> list:
    if values is None or isinstance(values, int):
        return [values] * len(paths)
    if len(values) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(values)} starts/ends")
    return list(values)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value

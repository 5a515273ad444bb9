"""``parallel::`` - the range core and parallel block cache in front of any fsspec filesystem.

``fsspec.open("parallel::https://host/data.nc")`` or
``fsspec.filesystem("parallel", target_protocol="s3", target_options={...})``: listing, metadata and
writes are the target's; ``open`` returns a :class:`~fsspec_research.core.file.ResearchFile` whose
cache misses become merged parallel range requests through the target's ``cat_file``, and
``cat_ranges`` merges across ``max_gap`` and runs in parallel.

A target that ignores byte ranges (a server answering a ranged GET with the whole object, a filesystem
raising ``NotImplementedError``) is found on the first read, which runs alone; from then on
:class:`RangesUnsupportedWarning` is issued once and every read of an object fetches it whole, once per
call (files opened afterwards hold it whole), and slices it here: slower, never wrong bytes.
With ``asynchronous=True`` (as zarr opens stores) an async target is made asynchronous too and the
coroutine API (``_cat_file``, ``_cat_ranges``, ``_info``, ``_pipe_file``, ...) is served.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import threading
import warnings
from typing import Any

import fsspec
from fsspec.implementations.chained import ChainedFileSystem

from .core.errors import translate
from .core.filesystem import RangeFileSystemMixin
from .core.ranges import plan_ranges

__all__ = ["ParallelFileSystem", "RangesUnsupportedWarning"]

WHOLE = 2**62  #: gap, block and part size that plan one request per object (whole reads)
MiB = 2**20
#: targets where every request costs a round trip, server work and money: a read is split there into at
#: most 16 parts of at least 1 MiB (as ``s3r://`` splits them), not up to ``concurrency`` parts of 512 KiB
OBJECT_STORES = frozenset({"s3", "s3a", "s3r", "gs", "gcs", "abfs", "abfss", "az", "oss"})
OBJECT_STORE_PARTS = {"min_part_size": MiB, "read_streams": 16}
#: targets on botocore, whose connection pool is sized for ``concurrency`` when parallel:: creates them
BOTOCORE_TARGETS = frozenset({"s3", "s3a"})

_DELEGATED = (
    "ls", "info", "exists", "isdir", "isfile", "find", "glob", "walk", "du", "size", "ukey", "modified",
    "created", "mkdir", "makedirs", "rmdir", "rm_file", "rm", "cp_file", "mv", "put_file", "pipe_file",
    "checksum", "invalidate_cache",
)  # fmt: skip
_DELEGATED_ASYNC = (
    "_info", "_exists", "_isdir", "_isfile", "_size", "_ls", "_find", "_rm", "_rm_file", "_pipe_file",
    "_put_file", "_mkdir", "_makedirs",
)  # fmt: skip


class RangesUnsupportedWarning(UserWarning):
    """The target ignores byte ranges: ``parallel::`` reads whole objects instead."""


class ParallelFileSystem(RangeFileSystemMixin, ChainedFileSystem):
    """Wrap ``target_protocol``/``target_options`` (or an instance ``fs``) with the parallel range core.

    Core options (``concurrency``, ``max_gap``, ``max_block``, ``part_size``, ``min_part_size``,
    ``read_streams``, ``block_size``, ``cache_type``, ``retries``) tune reads; on object stores (S3, GCS,
    Azure) a read is split into at most 16 parts of at least 1 MiB, and an S3 target created here gets a
    connection pool of ``concurrency + 16`` (botocore's default is 10; an ``fs`` passed in keeps its
    own). Object versions are not pinned: the target API has no generic conditional read.
    """

    protocol = "parallel"
    root_marker = ""

    def __init__(
        self,
        target_protocol: str | None = None,
        target_options: dict | None = None,
        fs: fsspec.AbstractFileSystem | None = None,
        fo: str | None = None,
        **options: Any,
    ) -> None:
        given = {name for name in OBJECT_STORE_PARTS if options.get(name) is not None}
        self._configure_core(options)
        super().__init__(**options)
        if fs is None:
            if target_protocol is None:
                raise ValueError("parallel:: needs a target: target_protocol=... or fs=...")
            target_options = dict(target_options or {})
            if target_protocol in BOTOCORE_TARGETS:  # botocore pools 10 connections unless told otherwise
                config = target_options["config_kwargs"] = dict(target_options.get("config_kwargs") or {})
                config.setdefault("max_pool_connections", self.concurrency + 16)
            if options.get("asynchronous") and fsspec.get_filesystem_class(target_protocol).async_impl:
                target_options.setdefault("asynchronous", True)
                target_options.setdefault("loop", options.get("loop"))
            fs = fsspec.filesystem(target_protocol, **target_options)
        self.fs = fs
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & OBJECT_STORES:
            for name, value in OBJECT_STORE_PARTS.items():
                if name not in given:
                    setattr(self, name, value)
        self.ranges_supported: bool | None = None  #: found on the first read (``None``: not yet known)
        self._probe_lock = threading.Lock()
        self._aprobe_lock: asyncio.Lock | None = None

    @property
    def async_impl(self) -> bool:  # type: ignore[override]
        return self.fs.async_impl

    @property
    def loop(self):
        return self.fs.loop

    @property
    def asynchronous(self) -> bool:
        return getattr(self.fs, "asynchronous", False)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        for prefix in ("parallel::", "parallel://"):
            if path.startswith(prefix):
                return path[len(prefix) :]
        return path

    def unstrip_protocol(self, name: str) -> str:
        return "parallel::" + self.fs.unstrip_protocol(name)

    def _read_range(self, path: str, start: int, end: int, version: str | None) -> Any:
        if self.fs.async_impl:
            return self._read_range_async(path, start, end)
        if self.ranges_supported is None:
            with self._probe_lock:  # the first read runs alone: a target without ranges sends it all
                if self.ranges_supported is None:
                    return self._read_range_sync(path, start, end)
        return self._read_range_sync(path, start, end)

    def _read_range_sync(self, path: str, start: int, end: int) -> bytes:
        try:
            if self.ranges_supported is False:
                return self.retry.call(self.fs.cat_file, path)[start:end]
            try:
                data = self.retry.call(self.fs.cat_file, path, start=start, end=end)
            except (NotImplementedError, io.UnsupportedOperation) as exc:
                self._no_ranges(path, f"ranged reads raise {type(exc).__name__}")
                return self.retry.call(self.fs.cat_file, path)[start:end]
            return self._checked(path, start, end, data, lambda: self.fs.size(path))
        except Exception as exc:
            raise translate(exc, path) from exc

    async def _read_range_async(self, path: str, start: int, end: int) -> bytes:
        if self.ranges_supported is None:
            if self._aprobe_lock is None:
                self._aprobe_lock = asyncio.Lock()
            async with self._aprobe_lock:
                if self.ranges_supported is None:
                    return await self._read_range_async_unlocked(path, start, end)
        return await self._read_range_async_unlocked(path, start, end)

    async def _read_range_async_unlocked(self, path: str, start: int, end: int) -> bytes:
        try:
            if self.ranges_supported is False:
                return (await self.retry.acall(self.fs._cat_file, path))[start:end]
            try:
                data = await self.retry.acall(self.fs._cat_file, path, start=start, end=end)
            except (NotImplementedError, io.UnsupportedOperation) as exc:
                self._no_ranges(path, f"ranged reads raise {type(exc).__name__}")
                return (await self.retry.acall(self.fs._cat_file, path))[start:end]
            short = self.ranges_supported is None and start > 0 and len(data) < end - start
            size = (await self.fs._info(path))["size"] if short or len(data) > end - start else None
            return self._checked(path, start, end, data, lambda: size)
        except Exception as exc:
            raise translate(exc, path) from exc

    def _checked(self, path: str, start: int, end: int, data: bytes, size: Any) -> bytes:
        """``data`` if it is bytes ``[start, end)`` of ``path``; its slice if the target sent it all.

        More bytes than asked means the range was ignored. Fewer is the end of the object, unless (first
        read only, a short answer from past the start) they are the whole object: ``size()`` tells.
        """
        whole = None
        if len(data) > end - start:
            whole = f"a range of {end - start} bytes was answered with {len(data)}"
        elif (
            self.ranges_supported is None
            and start > 0
            and len(data) < end - start
            and len(data) == size()
            and len(data) != max(0, min(end, len(data)) - start)
        ):
            whole = "a short range was answered with the whole object"
        if whole is None:
            self.ranges_supported = True
            return data
        if len(data) != size():
            raise OSError(
                f"{path}: the target ignores byte ranges ({whole}) and did not send the whole object"
            )
        self._no_ranges(path, whole)
        return data[start:end]

    def _no_ranges(self, path: str, reason: str) -> None:
        if self.ranges_supported is not False:
            self.ranges_supported = False
            warnings.warn(
                f"parallel:: {self.fs.unstrip_protocol(path)}: the target does not support byte ranges "
                f"({reason}); reading whole objects instead",
                RangesUnsupportedWarning,
                stacklevel=2,
            )

    # without ranges, one request per object and call (fetched whole by _read_range, sliced here)
    def _part_size_for(self, total: int) -> int:
        return WHOLE if self.ranges_supported is False else super()._part_size_for(total)

    def _plan(self, paths, starts, ends, max_gap, max_block, sizes):
        if self.ranges_supported is False:
            max_gap = max_block = WHOLE
        return super()._plan(paths, starts, ends, max_gap, max_block, sizes)

    def _split_plan(self, path: str, ranges):
        if self.ranges_supported is False:
            return plan_ranges(((path, s, e) for s, e in ranges), WHOLE)
        return super()._split_plan(path, ranges)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode == "rb" and self.ranges_supported is False:
            kwargs["cache_type"] = "all"  # the whole object once, not once per block miss
        return super()._open(path, mode, block_size, autocommit, cache_options, **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        return self.read_parallel(path, start, end)

    async def _cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any):
        return await self._read_parallel(path, start, end)

    def get_file(
        self, rpath: str, lpath: str, callback=fsspec.callbacks.DEFAULT_CALLBACK, **kwargs: Any
    ) -> None:
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
        else:
            self.download_parallel(rpath, lpath, callback)

    # writes: parts spool to a local temporary file that is put to the target when complete
    def _upload_whole(self, path: str, data: bytes, exclusive: bool) -> None:
        try:
            self.fs.pipe_file(path, bytes(data), mode="create" if exclusive else "overwrite")
        except Exception as exc:
            raise translate(exc, path) from exc

    def _upload_start(self, path: str, exclusive: bool) -> dict:
        if exclusive and self.fs.exists(path):
            raise FileExistsError(path)
        fd, tmp = tempfile.mkstemp(prefix="fsspec-research-")
        return {"path": path, "fd": fd, "tmp": tmp}

    def _upload_part(self, state: dict, number: int, offset: int, data: bytes) -> int:
        os.pwrite(state["fd"], data, offset)
        return len(data)

    def _upload_commit(self, state: dict, parts: list) -> None:
        try:
            self.fs.put_file(state["tmp"], state["path"])
        except Exception as exc:
            raise translate(exc, state["path"]) from exc
        finally:
            self._upload_abort(state)

    def _upload_abort(self, state: dict) -> None:
        if state.get("fd") is not None:
            os.close(state.pop("fd"))
        if os.path.exists(state["tmp"]):
            os.unlink(state["tmp"])


def _delegate(name: str):
    def method(self: ParallelFileSystem, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.fs, name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"The target filesystem's ``{name}``."
    return method


def _delegate_async(name: str):
    async def method(self: ParallelFileSystem, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.fs, name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"The (async) target filesystem's ``{name}``."
    return method


for _name in _DELEGATED:
    setattr(ParallelFileSystem, _name, _delegate(_name))
for _name in _DELEGATED_ASYNC:
    setattr(ParallelFileSystem, _name, _delegate_async(_name))

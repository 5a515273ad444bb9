"""Writes to Swift: one verified PUT up to ``segment_size``, a Static Large Object above it.

SLO segments go in parallel into ``<container>_segments`` (python-swiftclient's convention) under a
unique prefix, each PUT carrying its MD5 so Swift verifies it; the manifest is written last, so a
failed or discarded write publishes nothing and its segments are deleted. Overwriting or deleting an
SLO deletes its old segments once the new object is in place. ``If-None-Match: *`` makes
``mode="create"`` / ``"xb"`` exclusive on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import json
import mimetypes
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from fsspec.asyn import _run_coros_in_chunks
from fsspec.callbacks import DEFAULT_CALLBACK, Callback

from ..core.errors import Kind
from ..core.ranges import split_evenly
from .urls import SwiftPath, split_path

__all__ = ["SwiftUploads"]

MAX_SEGMENTS = 1000  #: Swift's default ``max_manifest_segments``
MAX_OBJECT = 5 * 2**30  #: Swift's default ``max_file_size``


@dataclass
class SloUpload:
    """An SLO being written: its target, where its segments go, and which were started."""

    target: SwiftPath
    segments: SwiftPath  # the segments container
    prefix: str
    exclusive: bool
    started: list[int] = field(default_factory=list)

    def segment(self, number: int) -> SwiftPath:
        return SwiftPath(
            self.target.host, self.target.account, self.segments.container, f"{self.prefix}/{number:08d}"
        )


class SwiftUploads:
    """Upload hooks and whole-file writes of :class:`~fsspec_research.swift.SwiftFileSystem`."""

    upload_part_size: int
    upload_concurrency: int
    concurrency: int
    _request: Callable[..., Awaitable[Any]]
    invalidate_cache: Callable[[str], None]

    def _target(self, path: str) -> SwiftPath:
        where = split_path(path)
        if where.level != "object":
            raise IsADirectoryError(errno.EISDIR, "objects live inside a container", path)
        return where

    # the core's upload hooks
    async def _upload_whole(self, path: str, data: bytes, exclusive: bool) -> None:
        where = self._target(path)
        headers = {"ETag": await _md5_hex(data), "Content-Type": _content_type(where.obj)}
        if exclusive:
            headers["If-None-Match"] = "*"
        async with self._replacing(where, exclusive):
            await self._request("PUT", where, {412: Kind.EXISTS}, headers=headers, data=data)
        self.invalidate_cache(where.name)

    async def _upload_start(self, path: str, exclusive: bool) -> SloUpload:
        where = self._target(path)
        if exclusive and await self._exists(where.name):  # type: ignore[attr-defined]
            raise FileExistsError(errno.EEXIST, "exists already", where.name)
        segments = SwiftPath(where.host, where.account, where.container + "_segments")
        await self._request("PUT", segments)  # 201 created or 202 there already
        prefix = f"{where.obj}/slo/{time.time():.6f}/{uuid.uuid4().hex[:12]}"
        return SloUpload(where, segments, prefix, exclusive)

    async def _upload_part(self, state: SloUpload, number: int, offset: int, data: Any) -> dict[str, Any]:
        if number > MAX_SEGMENTS:
            raise ValueError(f"{state.target.name}: more than {MAX_SEGMENTS} segments; raise segment_size")
        state.started.append(number)
        etag = await _md5_hex(data)
        segment = state.segment(number)
        await self._request("PUT", segment, headers={"ETag": etag}, data=data)
        return {"path": f"/{segment.container}/{segment.obj}", "etag": etag, "size_bytes": len(data)}

    async def _upload_commit(self, state: SloUpload, parts: list[dict[str, Any]]) -> None:
        where = state.target
        headers = {"Content-Type": _content_type(where.obj)}
        if state.exclusive:
            headers["If-None-Match"] = "*"
        expected = hashlib.md5("".join(p["etag"] for p in parts).encode()).hexdigest()
        async with self._replacing(where, state.exclusive):
            reply = await self._request(
                "PUT", where, {412: Kind.EXISTS}, params={"multipart-manifest": "put"},
                headers=headers, data=json.dumps(parts).encode(),
            )  # fmt: skip
            if reply.headers.get("Etag", "").strip('"') != expected:
                await self._request("DELETE", where, params={"multipart-manifest": "delete"})
                raise OSError(errno.EIO, "Swift stored a different manifest than was sent", where.name)
        self.invalidate_cache(where.name)

    async def _upload_abort(self, state: SloUpload) -> None:
        await self._delete_all([state.segment(n) for n in state.started])

    # whole-file writes
    async def _pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        path = self._strip_protocol(path)  # type: ignore[attr-defined]
        if len(value) <= self.upload_part_size:
            await self._upload_whole(path, value, mode == "create")
            return
        view = memoryview(value)

        @asynccontextmanager
        async def read(lo: int, hi: int) -> AsyncIterator[memoryview]:
            yield view[lo:hi]

        await self._upload_segmented(path, len(value), read, mode == "create")

    async def _put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Callback = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        rpath = self._strip_protocol(rpath)  # type: ignore[attr-defined]
        if os.path.isdir(lpath):
            if split_path(rpath).level == "container":
                await self._makedirs(rpath, exist_ok=True)  # type: ignore[attr-defined]
            return
        size = os.path.getsize(lpath)
        callback.set_size(size)
        with open(lpath, "rb") as f:
            if size <= self.upload_part_size:
                await self._upload_whole(rpath, f.read(), mode == "create")
                callback.relative_update(size)
                return
            read = _FileSegments(f.fileno()).read
            await self._upload_segmented(rpath, size, read, mode == "create", callback)

    async def _upload_segmented(
        self,
        path: str,
        size: int,
        read: Callable[[int, int], AbstractAsyncContextManager[Any]],
        exclusive: bool,
        callback: Callback = DEFAULT_CALLBACK,
    ) -> None:
        """Write ``size`` known bytes as an SLO, ``upload_concurrency`` segments in flight; ``read(lo, hi)``
        gives bytes ``[lo, hi)`` for the time of their upload."""
        part = max(self.upload_part_size, -(-size // MAX_SEGMENTS))
        if part > MAX_OBJECT:
            raise ValueError(f"{path}: {size} bytes need segments above Swift's 5 GiB object limit")
        state = await self._upload_start(path, exclusive)

        async def send(number: int, lo: int, hi: int) -> dict[str, Any]:
            async with read(lo, hi) as data:
                result = await self._upload_part(state, number, lo, data)
            callback.relative_update(hi - lo)
            return result

        pieces = split_evenly(0, size, part)
        jobs = [functools.partial(send, i + 1, lo, hi) for i, (lo, hi) in enumerate(pieces)]
        await self._finish_parts(state, jobs, self.upload_concurrency)

    async def _finish_parts(
        self, state: SloUpload, jobs: list[Callable[[], Coroutine[Any, Any, dict[str, Any]]]], limit: int
    ) -> None:
        """Upload the segments, ``limit`` at a time, then commit the manifest. After a failure no new
        segment starts, those in flight finish (one cancelled mid-request could still land later), and
        all are deleted."""
        slots = asyncio.Semaphore(limit)
        failed = asyncio.Event()

        async def run(job: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any] | None:
            async with slots:
                if failed.is_set():
                    return None
                try:
                    return await job()
                except BaseException:
                    failed.set()
                    raise

        tasks = [asyncio.ensure_future(run(job)) for job in jobs]
        try:
            await self._upload_commit(state, list(await asyncio.gather(*tasks)))
        except BaseException:
            failed.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._upload_abort(state)
            raise

    # large-object housekeeping
    @asynccontextmanager
    async def _replacing(self, where: SwiftPath, exclusive: bool = False) -> AsyncIterator[None]:
        """Around a write of ``where``: delete the segments of the SLO it replaces once the write succeeds."""
        old = [] if exclusive else await self._segments_of(where)
        yield
        if old:
            await self._delete_all(old)

    async def _manifest_of(self, where: SwiftPath, missing_ok: bool = True) -> list[dict[str, Any]]:
        """The manifest entries (``name``, ``hash``, ``bytes``) of ``where`` if it is an SLO, else nothing."""
        try:
            head = await self._request("HEAD", where)
        except FileNotFoundError:
            if missing_ok:
                return []
            raise
        except PermissionError:
            if missing_ok:  # a write-only ACL: what is there now cannot be seen, nor its segments
                return []
            raise
        if head.headers.get("X-Static-Large-Object", "").lower() != "true":
            return []
        return (await self._request("GET", where, params={"multipart-manifest": "get"})).json()

    async def _segments_of(self, where: SwiftPath) -> list[SwiftPath]:
        """The segments of ``where`` if it is an SLO, else nothing."""
        return [_segment_path(where, s) for s in await self._manifest_of(where)]

    async def _copy_large_object(
        self, src: SwiftPath, dst: SwiftPath, manifest: list[dict[str, Any]]
    ) -> None:
        """Copy an SLO segment by segment on the server, then write the new manifest.

        (Copying the manifest's content in one request is limited to 5 GiB, and Swift 2.x gives the
        copy the source's SLO ETag metadata, so its ``If-Match`` answers no longer match its ETag.)
        """
        state = await self._upload_start(dst.name, exclusive=False)

        async def copy(number: int, entry: dict[str, Any]) -> dict[str, Any]:
            state.started.append(number)
            target = state.segment(number)
            await self._request(
                "PUT", target, headers=_copy_headers(_segment_path(src, entry), target), data=b""
            )
            return {
                "path": f"/{target.container}/{target.obj}",
                "etag": entry["hash"],
                "size_bytes": entry["bytes"],
            }

        jobs = [functools.partial(copy, i + 1, e) for i, e in enumerate(manifest)]
        await self._finish_parts(state, jobs, self.concurrency)

    async def _delete_object(self, where: SwiftPath) -> None:
        """Delete an object; an SLO goes with its segments."""
        segments = await self._segments_of(where)
        await self._request("DELETE", where)
        await self._delete_all(segments)

    async def _delete_all(self, paths: list[SwiftPath]) -> None:
        async def delete(where: SwiftPath) -> None:
            with contextlib.suppress(FileNotFoundError):
                await self._request("DELETE", where)

        await _run_coros_in_chunks([delete(p) for p in paths], batch_size=self.concurrency, nofiles=True)


class _FileSegments:
    """Segments of an open local file, each read into a buffer that is reused once its upload succeeded:
    a put touches ``upload_concurrency`` segments of fresh memory, not the file's size (a fresh page
    costs a page fault, more than copying it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.free: list[bytearray] = []

    @asynccontextmanager
    async def read(self, lo: int, hi: int) -> AsyncIterator[memoryview]:
        buf = self.free.pop() if self.free else None
        if buf is None or len(buf) < hi - lo:
            buf = bytearray(hi - lo)
        view = memoryview(buf)[: hi - lo]
        await asyncio.to_thread(_pread_into, self.fd, view, lo)
        yield view
        self.free.append(buf)  # not after a failure: a slice of it could still wait to be sent


def _pread_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill ``view`` with the bytes of file ``fd`` from ``offset``; a file cut short raises."""
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n == 0:
            raise OSError(errno.EIO, f"file shorter than {offset + len(view)} bytes while uploading it")
        done += n


def _segment_path(manifest_of: SwiftPath, entry: dict[str, Any]) -> SwiftPath:
    return split_path(f"{manifest_of.host}/{manifest_of.account}/{unquote(entry['name'].lstrip('/'))}")


def _copy_headers(src: SwiftPath, dst: SwiftPath) -> dict[str, str]:
    """Headers of a server-side copy of ``src`` to ``dst`` (a PUT with ``X-Copy-From``)."""
    headers = {"X-Copy-From": quote(f"/{src.container}/{src.obj}"), "Content-Length": "0"}
    if src.account != dst.account:
        headers["X-Copy-From-Account"] = src.account
    return headers


async def _md5_hex(data: Any) -> str:
    """MD5 of ``data`` (Swift verifies it), off the event loop when large: hashlib releases the GIL."""
    if len(data) < 2**20:
        return hashlib.md5(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.md5(data).hexdigest())


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"

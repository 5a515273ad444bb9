"""A small HTTP object store over a local directory, for tests and benchmarks of fsspec's HTTP filesystem."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import IO

from aiohttp import web

from ._handle import LoopThread, ServerHandle

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 20


@dataclass
class HttpStats:
    """Request counters of an :func:`http_server`.

    ``bytes_sent`` counts response body bytes, as they are handed to the socket (an interrupted
    zero-copy transfer counts in full).
    """

    requests: int = 0
    bytes_sent: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.requests = self.bytes_sent = 0
        self.by_method.clear()


@dataclass
class HttpServerHandle(ServerHandle):
    """Handle of a running :func:`http_server`."""

    directory: str
    port: int
    stats: HttpStats

    def reset_stats(self) -> None:
        self.stats.reset()


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"'


def _etag_of(path: str) -> str | None:
    try:
        return _etag(os.stat(path)) if os.path.isfile(path) else None
    except FileNotFoundError:
        return None


def _matches(header: str, etag: str | None) -> bool:
    """Whether an If-Match/If-None-Match header matches the current (strong) ETag."""
    tags = {t.strip() for t in header.split(",")}
    return etag is not None and ("*" in tags or etag in tags)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single ``Range: bytes=...`` into ``(start, stop)``; ``None`` means serve everything."""
    m = _RANGE.fullmatch(header.strip()) if header else None
    if m is None or m.groups() == ("", ""):
        return None  # absent, malformed or multi-range: ignored, as RFC 7233 allows
    first, last = m.groups()
    if not first:
        start = max(size - int(last), 0)
        unsatisfiable = int(last) == 0 or size == 0
    else:
        start = int(first)
        if last and int(last) < start:
            return None
        unsatisfiable = start >= size
    if unsatisfiable:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    stop = size if not first or not last else min(int(last) + 1, size)
    return start, stop


class _Store:
    def __init__(self, directory: str) -> None:
        self.directory = os.path.realpath(directory)
        self.stats = HttpStats()

    def path(self, request: web.Request) -> str:
        rel = request.match_info["path"]
        path = os.path.normpath(os.path.join(self.directory, rel))
        if os.path.commonpath([path, self.directory]) != self.directory:
            raise web.HTTPForbidden()
        return path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        method = request.method
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        if method in ("GET", "HEAD"):
            return await self.get(request)
        if method in ("PUT", "POST"):  # fsspec's HTTP put_file uploads with POST by default
            return await self.put(request)
        if method == "DELETE":
            return self.delete(request)
        raise web.HTTPMethodNotAllowed(method, ["GET", "HEAD", "PUT", "DELETE"])

    async def get(self, request: web.Request) -> web.StreamResponse:
        try:
            f = open(self.path(request), "rb")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise web.HTTPNotFound() from None
        with f:
            st = os.fstat(f.fileno())
            etag = _etag(st)
            if "If-Match" in request.headers and not _matches(request.headers["If-Match"], etag):
                raise web.HTTPPreconditionFailed()
            headers = {
                "ETag": etag,
                "Last-Modified": formatdate(st.st_mtime, usegmt=True),
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if _matches(request.headers.get("If-None-Match", ""), etag):
                raise web.HTTPNotModified(headers=headers)
            rng = _byte_range(request.headers.get("Range"), st.st_size)
            start, stop = rng or (0, st.st_size)
            if rng:
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{st.st_size}"
            resp = web.StreamResponse(status=206 if rng else 200, headers=headers)
            resp.content_length = stop - start
            await resp.prepare(request)
            if request.method == "GET" and stop > start:
                await self._send(request, resp, f, start, stop - start)
            await resp.write_eof()
            return resp

    async def _send(
        self, request: web.Request, resp: web.StreamResponse, f: IO[bytes], pos: int, n: int
    ) -> None:
        """Send ``n`` bytes of ``f`` from ``pos``: zero-copy sendfile, else ``os.pread`` chunks.

        Bytes are counted before they are sent, so a client never sees bytes not yet counted.
        """
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        self.stats.bytes_sent += n
        try:
            await asyncio.get_running_loop().sendfile(transport, f, pos, n)
            return
        except (NotImplementedError, RuntimeError):  # raised before sending: transport can't sendfile
            self.stats.bytes_sent -= n
        end = pos + n
        while pos < end:
            chunk = os.pread(f.fileno(), min(_CHUNK, end - pos), pos)
            if not chunk:
                raise ConnectionAbortedError("file shrank while being sent")
            self.stats.bytes_sent += len(chunk)
            await resp.write(chunk)
            pos += len(chunk)

    def _check_write(self, request: web.Request, path: str) -> None:
        etag = _etag_of(path)
        if "If-Match" in request.headers and not _matches(request.headers["If-Match"], etag):
            raise web.HTTPPreconditionFailed()
        if _matches(request.headers.get("If-None-Match", ""), etag):
            raise web.HTTPPreconditionFailed()

    async def put(self, request: web.Request) -> web.Response:
        path = self.path(request)
        if path == self.directory or request.match_info["path"].endswith("/") or os.path.isdir(path):
            raise web.HTTPConflict(text="not a file path")
        self._check_write(request, path)
        parent = os.path.dirname(path)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise web.HTTPConflict(text="parent is a file") from None
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.content.iter_any():
                    f.write(chunk)
            self._check_write(request, path)  # no await since this check: atomic w.r.t. other requests
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return web.Response(status=201, headers={"ETag": _etag(os.stat(path))})

    def delete(self, request: web.Request) -> web.Response:
        path = self.path(request)
        self._check_write(request, path)
        try:
            os.unlink(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise web.HTTPNotFound() from None
        return web.Response(status=204)

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, runner.addresses[0][1]


@contextlib.contextmanager
def http_server(root: str | os.PathLike[str] | None = None) -> Iterator[HttpServerHandle]:
    """Serve ``root`` (a fresh temporary directory if ``None``) over HTTP on 127.0.0.1.

    GET/HEAD (single byte ranges, ETag, If-Match), PUT (atomic, If-Match/If-None-Match) and DELETE.
    """
    directory = tempfile.mkdtemp(prefix="fsspec-http-") if root is None else os.fspath(root)
    tmp = directory if root is None else None
    os.makedirs(directory, exist_ok=True)
    store = _Store(directory)
    thread = LoopThread("http-server")
    thread.start()
    runner: web.AppRunner | None = None
    try:
        runner, port = thread.run(store.start())
        url = f"http://127.0.0.1:{port}"
        yield HttpServerHandle("http", {}, url, directory=store.directory, port=port, stats=store.stats)
    finally:
        try:
            if runner is not None:
                thread.run(runner.cleanup())
        finally:
            thread.stop()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

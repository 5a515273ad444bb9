"""HTTP to Swift: one aiohttp session per filesystem, the token attached for its own host only,
a renewed token on 401, transient faults retried, and every failure an error carrying its status."""

from __future__ import annotations

import asyncio
import email.message
import json
import re
import ssl as ssl_module
import weakref
from dataclasses import dataclass
from typing import Any

import aiohttp
from fsspec.asyn import sync
from multidict import CIMultiDictProxy

from ..core.errors import RetryPolicy, redact
from .auth import Auth, Token
from .urls import SEEN_ENDPOINTS, Endpoint, SwiftPath, parse_storage_url

__all__ = ["BytePart", "Reply", "SwiftClient", "SwiftHTTPError", "parse_byteranges", "parse_content_range"]

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
SEND_SLICE = 2**20  #: larger request bodies are handed to the connection this many bytes at a time
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    reason: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else []


@dataclass(frozen=True)
class BytePart:
    """Bytes ``[start, end)`` of an object of ``size`` bytes (``None``: not told), as one range answer."""

    start: int
    end: int
    size: int | None
    data: bytes


def parse_content_range(value: str | None) -> tuple[int, int, int | None]:
    """``(start, end, size)`` of a ``Content-Range: bytes first-last/size`` value (``end`` exclusive)."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None or int(match[2]) < int(match[1]):
        raise ValueError(f"not a byte range: Content-Range {value!r}")
    return int(match[1]), int(match[2]) + 1, None if match[3] == "*" else int(match[3])


def parse_byteranges(content_type: str, body: bytes) -> list[BytePart]:
    """The parts of a ``multipart/byteranges`` body, each placed by its own ``Content-Range``.

    A part's data is as long as its Content-Range says (the data may contain the boundary by chance) and
    must be followed by the boundary; anything else malformed raises ``ValueError`` too.
    """
    message = email.message.Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    if message.get_content_type() != "multipart/byteranges" or not isinstance(boundary, str) or not boundary:
        raise ValueError(f"not a multipart/byteranges answer: Content-Type {content_type!r}")
    delimiter = b"--" + boundary.encode("ascii")
    pos = body.find(delimiter)
    parts = []
    while pos >= 0:
        pos += len(delimiter)
        if body.startswith(b"--", pos):
            return parts
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        start, end, size = parse_content_range(_part_header(body[pos:head_end], "content-range"))
        data = body[head_end + 4 : head_end + 4 + end - start]
        pos = head_end + 4 + len(data)
        if len(data) != end - start or not body.startswith(b"\r\n" + delimiter, pos):
            break
        parts.append(BytePart(start, end, size, data))
        pos += 2
    raise ValueError("truncated or malformed multipart/byteranges body")


def _part_header(head: bytes, name: str) -> str | None:
    """The value of header ``name`` among the header lines ``head`` of a body part."""
    for line in head.decode("latin-1").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


class _SlicedBody(aiohttp.Payload):
    """A bytes-like request body written in ``SEND_SLICE`` slices, without copies.

    aiohttp writes a bytes body whole: TLS then encrypts all of a 32 MiB segment in one go on the event
    loop and buffers its ciphertext, several fresh copies of the segment. Sliced, one slice at a time is
    encrypted, handed on and sent, under the connection's flow control.
    """

    _autoclose = True

    def __init__(self, value: Any) -> None:
        view = memoryview(value).cast("B")
        super().__init__(view)
        self._size = view.nbytes

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value).decode(encoding, errors)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        view = self._value if content_length is None else self._value[:content_length]
        for lo in range(0, len(view), SEND_SLICE):
            await writer.write(view[lo : lo + SEND_SLICE])


class SwiftHTTPError(Exception):
    """A Swift answer with status >= 400; ``status`` and ``headers`` drive the core's error mapping."""

    def __init__(self, method: str, url: str, status: int, reason: str, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        text = body[:300].decode("utf-8", "replace").strip() if body else ""
        if text.startswith("<"):  # an HTML error page says no more than the reason
            text = ""
        super().__init__(redact(f"{method} {url}: {status} {reason}" + (f": {text}" if text else "")))


class SwiftClient:
    """Requests to the paths of one or more Swift hosts, authenticated against the storage URL's host."""

    def __init__(
        self,
        auth: Auth,
        endpoint: Endpoint,
        *,
        verify: bool | str = True,
        connections: int = 100,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.endpoint = endpoint  #: how URLs of hosts we hold no token for (nor saw a URL of) are formed
        self.retry = retry or RetryPolicy()
        self.ssl: Any = _ssl_for(verify)
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._storage: tuple[Token, Endpoint | None, str | None] | None = None

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self.ssl)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            # closed when this client is collected or at exit, as fsspec's HTTP filesystem does
            weakref.finalize(self, _close_session, asyncio.get_running_loop(), self._session)
        return self._session

    async def home(self) -> str | None:
        """``host/account`` of the storage URL we are authenticated for (None when anonymous)."""
        _, _, home = await self._storage_of(await self._token())
        return home

    async def request(
        self,
        method: str,
        path: SwiftPath,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> Reply:
        """Send one request (retried on transient faults); raise :class:`SwiftHTTPError` on status >= 400."""
        return await self.retry.acall(self._attempt, method, path, params or {}, headers or {}, data)

    async def _attempt(self, method: str, path: SwiftPath, params: dict, headers: dict, data: Any) -> Reply:
        session = await self.session()
        token = await self._token()
        reply, url, sent_token = await self._send(session, method, path, params, headers, data, token)
        if reply.status == 401 and sent_token:  # expired or revoked: log in again, once
            token = await self.auth.token(session, self.ssl, renew=True)
            reply, url, _ = await self._send(session, method, path, params, headers, data, token)
        if reply.status >= 400:
            raise SwiftHTTPError(method, url, reply.status, reply.reason, reply.headers, reply.body)
        return reply

    async def _send(
        self, session: aiohttp.ClientSession, method: str, path: SwiftPath, params: dict, headers: dict,
        data: Any, token: Token,
    ) -> tuple[Reply, str, bool]:  # fmt: skip
        url, with_token = await self._route(path, token)
        sent = dict(headers, **({"X-Auth-Token": token.value} if with_token else {}))
        skip = () if "Content-Type" in headers else ("Content-Type",)  # aiohttp's default would set it
        if isinstance(data, (bytes, bytearray, memoryview)) and memoryview(data).nbytes > SEND_SLICE:
            data = _SlicedBody(data)  # a new one per attempt: a retry sends the body again
        async with session.request(
            method, url, params=params, headers=sent, data=data, ssl=self.ssl, skip_auto_headers=skip
        ) as r:
            body = await r.read()
            return Reply(r.status, r.headers, body, r.reason or ""), url, with_token

    async def url(self, path: SwiftPath) -> str:
        """The HTTP URL of ``path``."""
        return (await self._route(path, await self._token()))[0]

    async def _route(self, path: SwiftPath, token: Token) -> tuple[str, bool]:
        """The URL of ``path`` and whether ``token`` goes with it (only to the storage URL's host)."""
        _, endpoint, home = await self._storage_of(token)
        if endpoint is not None and home is not None and path.host == home.split("/")[0]:
            return endpoint.url(path), token.value is not None
        return SEEN_ENDPOINTS.get(path.host, self.endpoint).url(path), False

    async def _token(self) -> Token:
        return await self.auth.token(await self.session(), self.ssl)

    async def _storage_of(self, token: Token) -> tuple[Token, Endpoint | None, str | None]:
        if self._storage is None or self._storage[0] is not token:
            if token.storage_url:
                endpoint, stripped = parse_storage_url(token.storage_url)
                host, _, account = stripped.partition("/")
                host = host.removesuffix(_DEFAULT_PORTS[endpoint.scheme])
                self._storage = (token, endpoint, f"{host}/{account}")
            else:
                self._storage = (token, None, None)
        return self._storage


def _ssl_for(verify: bool | str) -> Any:
    if verify is False:
        return False
    if isinstance(verify, str):
        return ssl_module.create_default_context(cafile=verify)
    return True


def _close_session(loop: Any, session: aiohttp.ClientSession) -> None:
    if loop is not None and loop.is_running() and not session.closed:
        try:
            sync(loop, session.close, timeout=0.1)
            return
        except Exception:
            pass
    connector = getattr(session, "_connector", None)
    if connector is not None:
        connector._close()

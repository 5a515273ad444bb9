"""An S3 server for tests: moto's threaded server on 127.0.0.1, with request counters.

``with s3_server() as srv:`` gives a fresh bucket on a moto server on an ephemeral port;
``fsspec.filesystem(srv.protocol, **srv.storage_options)`` is an ``s3r://`` filesystem on it and
``s3fs.S3FileSystem(**srv.s3fs_options)`` a plain s3fs one. moto keeps its state per process: servers
started in one process share their buckets (each handle gets its own bucket). Objects up to 2 GiB stay
in memory (``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``, unless set) and GETs serve them without moto's
per-request copy of the whole object, so ranged reads of large objects cost what they would on a real
store. Connections are kept alive (HTTP/1.1), as S3 endpoints keep them, and moto's lookup of the
backend serving a host is made once per host instead of once per request.

``reject_checksums=True`` makes the server behave like S3 implementations that predate botocore's
default integrity checksums (older Ceph RGW, MinIO and others): a request carrying ``x-amz-checksum-*``,
``x-amz-sdk-checksum-algorithm`` or an ``aws-chunked`` streaming body is refused with ``400
InvalidArgument``, as those stores answer.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._handle import ServerHandle

__all__ = ["S3ServerHandle", "S3Stats", "s3_server"]

KEY, SECRET, REGION = "testing", "testing", "us-east-1"
#: objects up to this size stay in moto's memory (above it moto re-reads a temporary file per ranged GET)
KEY_BUFFER = 2**31
#: seconds an idle keep-alive connection stays open
IDLE_TIMEOUT = 60

_REJECTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Unsupported header '
    b"'{header}' received for this API call.</Message></Error>"
)


@dataclass
class S3Stats:
    """Requests the server received, in total and per HTTP method."""

    requests: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  #: requests refused for their checksums (``reject_checksums=True``)

    def reset(self) -> None:
        self.requests = self.rejected = 0
        self.by_method.clear()


@dataclass
class S3ServerHandle(ServerHandle):
    """A running :func:`s3_server`: ``storage_options`` for ``s3r://``, ``s3fs_options`` for s3fs."""

    endpoint_url: str
    bucket: str
    port: int
    s3fs_options: dict[str, Any]
    stats: S3Stats

    def reset_stats(self) -> None:
        self.stats.reset()


def _checksum_header(environ: dict[str, Any]) -> str | None:
    """The checksum header (or streaming body encoding) of a request, if it carries one."""
    for name in environ:
        if name.startswith(
            ("HTTP_X_AMZ_CHECKSUM_", "HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", "HTTP_X_AMZ_TRAILER")
        ):
            return name[5:].lower().replace("_", "-")
    if "aws-chunked" in environ.get("HTTP_CONTENT_ENCODING", ""):
        return "content-encoding: aws-chunked"
    if environ.get("HTTP_X_AMZ_CONTENT_SHA256", "").startswith("STREAMING-"):
        return "x-amz-content-sha256"
    return None


def _counting(app: Callable, stats: S3Stats, reject_checksums: bool) -> Callable:
    """WSGI middleware counting requests (and refusing checksummed ones when asked)."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable) -> Any:
        method = environ.get("REQUEST_METHOD", "")
        with lock:
            stats.requests += 1
            stats.by_method[method] = stats.by_method.get(method, 0) + 1
        header = _checksum_header(environ) if reject_checksums else None
        if header is not None:
            with lock:
                stats.rejected += 1
            body = _REJECTED.replace(b"{header}", header.encode())
            if "wsgi.input" in environ:  # drain the upload so the client reads the answer
                length = int(environ.get("CONTENT_LENGTH") or 0)
                while length > 0:
                    chunk = environ["wsgi.input"].read(min(length, 1 << 20))
                    if not chunk:
                        break
                    length -= len(chunk)
            start_response(
                "400 Bad Request", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)

    return wrapped


def _serve_objects_without_copies() -> None:
    """moto's ``FakeKey.value`` copies the whole object on every GET, ranged or not (``BytesIO.read``), under
    the key's lock: 80 ms per 100 MiB. ``BytesIO.getvalue`` gives the same bytes without a copy."""
    from moto.s3.models import FakeKey

    original = FakeKey.value
    if getattr(original, "fget", None) is None or getattr(FakeKey, "_fsr_no_copies", False):
        return

    def value(self: Any) -> bytes:
        buffer = getattr(self._value_buffer, "_file", None)  # a SpooledTemporaryFile still in memory
        if isinstance(buffer, io.BytesIO):
            with self.lock:
                return buffer.getvalue()
        return original.fget(self)

    FakeKey.value = property(value, original.fset)
    FakeKey._fsr_no_copies = True


def _handler_class() -> type:
    """moto's request handler with HTTP/1.1 keep-alive (see the class)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import DechunkedInput
    from werkzeug.wsgi import LimitedStream

    class KeepAliveHandler(MotoRequestHandler):
        """moto's request handler with HTTP/1.1 keep-alive, as S3 endpoints have it, and no access log.

        werkzeug's development server closes every connection (http.server cannot tell where a body the
        application left unread ends), so each request cost both sides a new connection and the server a
        new thread. Here the body is bounded by its ``Content-Length`` (or chunked framing), what the
        application leaves unread is drained, and the connection stays open unless the client or a
        response without a length says otherwise."""

        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT
        disable_nagle_algorithm = True  # headers and body go out as two writes
        connections: set[socket.socket] = set()  #: open ones, closed when the server stops
        lock = threading.Lock()

        def setup(self) -> None:
            super().setup()
            with self.lock:
                self.connections.add(self.connection)

        def finish(self) -> None:
            with self.lock:
                self.connections.discard(self.connection)
            super().finish()

        @classmethod
        def close_all(cls) -> None:
            with cls.lock:
                for sock in cls.connections:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """No access log lines on stderr (the counters tell what was asked)."""

        def log_error(self, format: str, *args: Any) -> None:
            if not format.startswith("Request timed out"):  # an idle connection closed, not an error
                super().log_error(format, *args)

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.environ = self.make_environ()
            if not isinstance(environ["wsgi.input"], DechunkedInput):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                environ["wsgi.input"] = LimitedStream(self.rfile, max(length, 0))
            response: list[Any] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                if exc_info and response and response[0] is None:
                    raise exc_info[1].with_traceback(exc_info[2])  # too late for other headers
                response[:] = [status, headers]
                return unsupported_write

            try:
                self._respond(self.server.app(environ, start_response), response)
            except ConnectionError:
                self.close_connection = True
                return
            except Exception as exc:  # werkzeug answers a 500 too
                self.log_error("error on %s %s: %r", self.command, self.path, exc)
                if not response or response[0] is not None:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                self.close_connection = True
                return
            while environ["wsgi.input"].read(1 << 20):  # the rest of the body, before the next request
                pass

        def _respond(self, body: Iterable[bytes], response: list[Any]) -> None:
            try:
                chunks = iter(body)
                first = next(chunks, b"")
                status, headers = response
                response[0] = None  # headers sent from here on
                code, _, reason = status.partition(" ")
                self.send_response(int(code), reason)
                names = set()
                for name, value in headers:
                    self.send_header(name, value)
                    names.add(name.lower())
                if "content-length" not in names and self.command != "HEAD" and int(code) not in (204, 304):
                    self.send_header("Connection", "close")  # the body ends where the connection does
                self.end_headers()
                for chunk in itertools.chain((first,), chunks):
                    self.wfile.write(chunk)
            finally:
                if hasattr(body, "close"):
                    body.close()

    def unsupported_write(data: bytes) -> None:
        raise NotImplementedError("the write() of start_response (moto returns its bodies)")

    return KeepAliveHandler


def _server_class() -> type:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves a host: moto's own looks it up again for
        every request, under one global lock, by listing and stat-ing the ~150 folders of its package
        (60% of its time per GET)."""

        def __init__(self) -> None:
            super().__init__(create_backend_app)
            self.backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self.backends:
                self.backends[host] = super().get_backend_for_host(host)
            return self.backends[host]

    class CountingMotoServer(ThreadedMotoServer):
        """moto's threaded server with :func:`_counting` around its WSGI application."""

        def __init__(self, stats: S3Stats, reject_checksums: bool) -> None:
            super().__init__("127.0.0.1", 0, verbose=False)
            self.stats, self.reject_checksums = stats, reject_checksums
            self.handler = _handler_class()

        def _server_entry(self) -> None:
            app = _counting(Dispatcher(), self.stats, self.reject_checksums)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=self.handler)
            self._server_ready_event.set()
            self._server.serve_forever()

        def stop(self) -> None:
            super().stop()
            self._server.server_close()
            self.handler.close_all()

    return CountingMotoServer


@contextlib.contextmanager
def s3_server(bucket: str | None = None, reject_checksums: bool = False) -> Iterator[S3ServerHandle]:
    """Run moto's S3 on 127.0.0.1 (ephemeral port) with a fresh bucket (``bucket`` or a random name)."""
    import boto3

    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(KEY_BUFFER))
    _serve_objects_without_copies()
    stats = S3Stats()
    server = _server_class()(stats, reject_checksums)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        bucket = bucket or f"fsr-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name=REGION,
            config=_plain_config(),
        )
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        client.close()
        stats.reset()
        options = {"endpoint_url": endpoint, "key": KEY, "secret": SECRET, "region_name": REGION}
        s3fs_options = {
            "endpoint_url": endpoint,
            "key": KEY,
            "secret": SECRET,
            "client_kwargs": {"region_name": REGION},
        }
        yield S3ServerHandle(
            "s3r", options, f"s3r://{bucket}", endpoint_url=endpoint, bucket=bucket, port=port,
            s3fs_options=s3fs_options, stats=stats,
        )  # fmt: skip
    finally:
        server.stop()


def _plain_config() -> Any:
    """botocore settings that work against a checksum-rejecting server too (for the setup calls)."""
    from botocore.config import Config

    return Config(request_checksum_calculation="when_required", response_checksum_validation="when_required")

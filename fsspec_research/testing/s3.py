"""An S3 server for tests: moto's threaded server on 127.0.0.1, with request counters.

``with s3_server() as srv:`` gives a fresh bucket on a moto server on an ephemeral port;
``fsspec.filesystem(srv.protocol, **srv.storage_options)`` is an ``s3r://`` filesystem on it and
``s3fs.S3FileSystem(**srv.s3fs_options)`` a plain s3fs one. moto keeps its state per process: servers
started in one process share their buckets (each handle gets its own bucket). Objects up to 2 GiB stay
in memory (``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``, unless set) and GETs serve them without moto's
per-request copy of the whole object, so ranged reads of large objects cost what they would on a real
store.

``reject_checksums=True`` makes the server behave like S3 implementations that predate botocore's
default integrity checksums (older Ceph RGW, MinIO and others): a request carrying ``x-amz-checksum-*``,
``x-amz-sdk-checksum-algorithm`` or an ``aws-chunked`` streaming body is refused with ``400
InvalidArgument``, as those stores answer.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._handle import ServerHandle

__all__ = ["S3ServerHandle", "S3Stats", "s3_server"]

KEY, SECRET, REGION = "testing", "testing", "us-east-1"
#: objects up to this size stay in moto's memory (above it moto re-reads a temporary file per ranged GET)
KEY_BUFFER = 2**31

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


def _server_class() -> type:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """No access log lines on stderr (the counters tell what was asked)."""

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves a host: moto's own looks it up again per request,
        under one global lock, by listing and stat-ing the ~150 folders of its package (60% of its time per GET)."""

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

        def _server_entry(self) -> None:
            app = _counting(Dispatcher(), self.stats, self.reject_checksums)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=QuietHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

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

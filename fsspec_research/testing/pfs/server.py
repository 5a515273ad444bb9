"""The gRPC server: ``pfs_v2.API``, ``versionpb_v2.API`` and ``grpc.health.v1.Health`` on 127.0.0.1.

One interceptor wraps every call: it counts it, checks the ``authn-token`` metadata as pachd does with auth
on, applies injected faults, turns :class:`~.errors.PFSError` into the call's status and counts the
payload bytes GetFile sends.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # grpc core logs "Got goaway" on stop otherwise

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2_grpc
from python_pachyderm.proto.v2.version.versionpb import version_pb2, version_pb2_grpc

from . import errors
from .errors import PFSError
from .model import Store
from .service import PFSServicer

MiB = 2**20
MAX_MESSAGE = 64 * MiB
DEFAULT_CHUNK = 19 * MiB  # pachd's MaxMsgPayloadSize: 20 MiB minus 1 MiB of headroom
VERSION = (2, 7, 0)
WORKERS = 128  # threads start on demand; an idle (unread) stream pins one, pachd has no such limit
FAULTS = ("unavailable", "abort_midstream", "stall")
STALL_SECONDS = 60.0
_NO_AUTH = ("/versionpb_v2.API/GetVersion", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch")


class VersionServicer(version_pb2_grpc.APIServicer):
    def GetVersion(self, request: Any, context: Any) -> Any:
        major, minor, micro = VERSION
        return version_pb2.Version(major=major, minor=minor, micro=micro, platform="linux/amd64")


class Server:
    """A running server (see :meth:`start`); the store holds the PFS state."""

    def __init__(
        self, auth_token: str | None = None, tls: bool = False, chunk_size: int | None = None
    ) -> None:
        self.store = Store()
        self.auth_token = auth_token
        self.chunk_size = chunk_size or DEFAULT_CHUNK
        self.host, self.port = "127.0.0.1", 0
        self.key_pem = self.cert_pem = None
        if tls:
            from .tls import make_cert

            self.key_pem, self.cert_pem = make_cert()
        self.rpc_counts: collections.Counter[str] = collections.Counter()
        self.bytes_sent = 0
        self._faults: dict[str, collections.deque[str]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._grpc: Any = None

    def start(self) -> Server:
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pfs-server")
        options = [(f"grpc.max_{way}_message_length", MAX_MESSAGE) for way in ("send", "receive")]
        server = grpc.server(self._executor, interceptors=[_Interceptor(self)], options=options)
        pfs_pb2_grpc.add_APIServicer_to_server(PFSServicer(self.store, self.chunk_size), server)
        version_pb2_grpc.add_APIServicer_to_server(VersionServicer(), server)
        checker = health.HealthServicer()
        checker.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        address = f"{self.host}:0"
        if self.cert_pem is not None:
            credentials = grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)])
            self.port = server.add_secure_port(address, credentials)
        else:
            self.port = server.add_insecure_port(address)
        server.start()
        self._grpc = server
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Release waiting and stalled calls, stop serving and join the worker threads."""
        self._stopped.set()
        with self.store.lock:
            self.store.stopping = True
            self.store.changed.notify_all()
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # test controls
    def reset(self) -> None:
        """Repo ``test`` with an empty finished ``master`` only; no faults; counters at zero."""
        with self.store.lock:
            self.store.clear()
            self.store.empty_branch(self.store.add_repo("default", "test"), "master")
        self.clear_faults()
        self.reset_counts()

    def inject(self, method: str, action: str, count: int = 1) -> None:
        if action not in FAULTS:
            raise ValueError(f"action must be one of {FAULTS}")
        with self._lock:
            self._faults.setdefault(method, collections.deque()).extend([action] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.rpc_counts.clear()
            self.bytes_sent = 0

    # the interceptor's work
    def before(self, method: str, metadata: dict[str, str], context: Any) -> str | None:
        """Count the call, check its token and return (or apply) its injected fault."""
        name = method.rsplit("/", 1)[-1]
        with self._lock:
            self.rpc_counts[name] += 1
            queue = self._faults.get(name)
            fault = queue.popleft() if queue else None
        if self.auth_token is not None and method not in _NO_AUTH:
            token = metadata.get("authn-token")
            if not token:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, errors.NO_TOKEN)
            if token != self.auth_token:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, errors.BAD_TOKEN)
        if fault == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: server unavailable")
        if fault == "stall":
            waited = 0.0
            while waited < STALL_SECONDS and context.is_active() and not self._stopped.wait(0.1):
                waited += 0.1
            context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: the server stalled")
        return fault

    def sent(self, method: str, message: Any) -> None:
        if method.endswith("/GetFile"):
            with self._lock:
                self.bytes_sent += len(message.value)


class _Interceptor(grpc.ServerInterceptor):
    def __init__(self, server: Server) -> None:
        self.server = server

    def intercept_service(self, continuation: Callable, details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method, metadata = details.method, dict(details.invocation_metadata or ())
        server = self.server
        kind = next(k for k in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
                    if getattr(handler, k) is not None)  # fmt: skip
        behavior = getattr(handler, kind)

        def unary(request: Any, context: Any) -> Any:
            server.before(method, metadata, context)
            try:
                return behavior(request, context)
            except PFSError as exc:
                context.abort(exc.code, exc.message)

        def streaming(request: Any, context: Any) -> Iterator[Any]:
            fault = server.before(method, metadata, context)
            try:
                for message in behavior(request, context):
                    server.sent(method, message)
                    yield message
                    if fault == "abort_midstream":
                        break
            except PFSError as exc:
                context.abort(exc.code, exc.message)
            if fault == "abort_midstream":
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: stream aborted")

        wrapped = streaming if kind.endswith("_stream") else unary
        factory = getattr(grpc, f"{kind}_rpc_method_handler")
        return factory(
            wrapped, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )  # fmt: skip

"""The TCP server: one daemon thread per connection, API counters and injected faults."""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import ssl
import threading
import time
from typing import Literal

from .agent import Agent
from .catalog import Catalog

log = logging.getLogger(__name__)

Fault = Literal["drop", "half", "stall"]


class Server:
    """Listens on ``host`` (port 0: an ephemeral one) and serves ``catalog`` until :meth:`stop`."""

    def __init__(
        self,
        catalog: Catalog,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.catalog, self.version, self.ssl_context = catalog, catalog.version, ssl_context
        self.listener = socket.create_server((host, port))
        self.listener.settimeout(0.2)
        self.host, self.port = self.listener.getsockname()[:2]
        self.stopping = threading.Event()
        self.api_counts: collections.Counter[int] = collections.Counter()
        self._faults: dict[int, list[Fault]] = {}
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept, name="irods-accept", daemon=True)

    def start(self) -> Server:
        self._acceptor.start()
        return self

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(sock,), name="irods-agent", daemon=True)
            with self._lock:
                if self.stopping.is_set():
                    sock.close()
                    return
                self._socks.add(sock)
                self._threads.add(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        agent = Agent(self, sock)
        try:
            agent.run()
        finally:
            with self._lock:
                self._socks.discard(sock)
                self._socks.discard(agent.sock)
                self._threads.discard(threading.current_thread())

    def track(self, sock: socket.socket) -> None:
        """Remember a replacement socket (the TLS wrapper) so that :meth:`stop` closes it."""
        with self._lock:
            self._socks.add(sock)

    def count(self, api: int) -> None:
        with self._lock:
            self.api_counts[api] += 1

    def inject(self, api: int, action: Fault, count: int = 1) -> None:
        if action not in ("drop", "half", "stall"):
            raise ValueError(f"unknown fault {action!r}")
        with self._lock:
            self._faults.setdefault(api, []).extend([action] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, api: int) -> Fault | None:
        with self._lock:
            pending = self._faults.get(api)
            return pending.pop(0) if pending else None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, release stalled agents and join the threads."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        deadline = time.monotonic() + timeout
        self._acceptor.join(timeout)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

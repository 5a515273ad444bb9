"""Loopback TCP proxy modelling a wide-area network: latency, bandwidth and injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._handle import LoopThread

_RST_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, timeout 0: close() sends a TCP RST
_WRITE_HIGH_WATER = 1 << 20
_RCVBUF = 1 << 20


@dataclass
class NetemStats:
    """Counters of a :class:`Netem` proxy; bytes are counted when delivered."""

    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class _Pipe:
    """One direction of a proxied connection.

    A chunk read at time ``t`` is queued for delivery at ``max(t + delay, busy_until) + len / bandwidth``
    (``busy_until`` being the previous chunk's delivery time), so latency pipelines and bandwidth paces.
    """

    __slots__ = (
        "blocked", "busy_until", "conn", "delay", "done", "dst", "eof_in", "limit", "loop", "pace", "queue",
        "queued", "read_paused", "src", "stalled", "stats", "timer", "up", "window",
    )  # fmt: skip

    def __init__(self, conn: _Conn, up: bool, delay: float, bandwidth: float | None, start: float) -> None:
        self.conn, self.loop, self.stats, self.up = conn, conn.loop, conn.net.stats, up
        self.delay = delay
        self.pace = 1.0 / bandwidth if bandwidth else 0.0
        bdp = int(bandwidth * delay) if bandwidth else 6 << 20
        self.window = (4 << 20) + 2 * bdp  # bytes in flight before the source is paused
        self.busy_until = start
        self.queue: deque[tuple[float, bytes | None]] = deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.src: asyncio.Transport
        self.dst: asyncio.Transport
        self.read_paused = self.blocked = self.done = self.stalled = self.eof_in = False
        self.limit: int | None = None  # bytes left to deliver before the connection's fault fires

    def push(self, data: bytes | None) -> None:
        """Queue ``data`` (``None`` is EOF) for delayed delivery."""
        if self.stalled or self.done:
            return
        t = self.loop.time() + self.delay
        if t < self.busy_until:
            t = self.busy_until
        if data is not None:
            t += len(data) * self.pace
            self.queued += len(data)
            if self.queued > self.window and not self.read_paused:
                self.read_paused = True
                self.src.pause_reading()
        else:
            self.eof_in = True
        self.busy_until = t
        self.queue.append((t, data))
        if self.timer is None and not self.blocked:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def flush(self) -> None:
        """Deliver every chunk that is due, then re-arm the timer for the next one."""
        self.timer = None
        queue, dst, stats, now = self.queue, self.dst, self.stats, self.loop.time()
        while queue and queue[0][0] <= now and not self.blocked and not self.conn.closed:
            data = queue.popleft()[1]
            if data is None:
                self.done = True
                self.conn.eof_delivered(self)
                break
            n = len(data)
            self.queued -= n
            fault = self.limit is not None and n >= self.limit
            if fault:
                data = data[: self.limit]
                n = len(data)
            elif self.limit is not None:
                self.limit -= n
            if self.up:  # count before writing, so a reader never sees bytes not yet counted
                stats.bytes_up += n
            else:
                stats.bytes_down += n
            dst.write(data)
            if fault:
                self.conn.fault()
                return
        if self.read_paused and self.queued <= self.window >> 1 and not self.stalled:
            self.read_paused = False
            self.src.resume_reading()
        if queue and not self.blocked and self.timer is None and not self.done:
            self.timer = self.loop.call_at(queue[0][0], self.flush)

    def unblock(self) -> None:
        self.blocked = False
        if self.timer is None and self.queue:
            self.flush()

    def halt(self) -> None:
        """Stop forwarding for good: drop the queue and stop reading the source."""
        self.stalled = True
        self.queue.clear()
        self.queued = 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.read_paused and not self.src.is_closing():
            self.read_paused = True
            self.src.pause_reading()


class _Side(asyncio.Protocol):
    """Protocol for one socket of a proxied connection."""

    conn: _Conn
    outbound: _Pipe  # carries what this socket receives
    inbound: _Pipe  # writes to this socket

    def data_received(self, data: bytes) -> None:
        self.outbound.push(data)

    def eof_received(self) -> bool:
        self.conn.side_eof(self.outbound)
        return True  # keep the socket half-open

    def pause_writing(self) -> None:
        self.inbound.blocked = True

    def resume_writing(self) -> None:
        self.inbound.unblock()

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost(exc)


class _ClientSide(_Side):
    def __init__(self, net: Netem) -> None:
        self.net = net

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # until the upstream connection is up
        self.net.stats.connections += 1
        self.conn = _Conn(self.net, transport)
        self.outbound, self.inbound = self.conn.up, self.conn.down
        task = self.conn.loop.create_task(self.conn.connect())
        self.net._tasks.add(task)
        task.add_done_callback(self.net._tasks.discard)


class _ServerSide(_Side):
    def __init__(self, conn: _Conn) -> None:
        self.conn, self.outbound, self.inbound = conn, conn.down, conn.up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.conn.attach(transport)


class _Conn:
    """A proxied client connection and its upstream connection."""

    def __init__(self, net: Netem, client: asyncio.Transport) -> None:
        self.net, self.loop, self.client = net, asyncio.get_running_loop(), client
        self.server: asyncio.Transport | None = None
        self.closed = False
        now, lu, ld = self.loop.time(), net.latency_up, net.latency_down
        self.up = _Pipe(self, True, lu, net.bandwidth, now + (2 * lu + ld if net.handshake else 0))
        self.down = _Pipe(self, False, ld, net.bandwidth, now + (lu + ld if net.handshake else 0))
        faults = [
            (n, k) for n, k in ((net.reset_after, "reset"), (net.stall_after, "stall")) if n is not None
        ]
        self.down.limit, self.fault_kind = min(faults) if faults else (None, "")
        net._conns.add(self)

    async def connect(self) -> None:
        try:
            server, _ = await self.loop.create_connection(lambda: _ServerSide(self), *self.net.target)
        except OSError:
            self.abort(rst=True)
            return
        if self.closed:
            server.abort()
        else:
            self.client.resume_reading()

    def attach(self, server: asyncio.Transport) -> None:
        """Wire the pipes once the upstream socket is connected."""
        self.server = server
        self.up.src = self.down.dst = self.client
        self.up.dst = self.down.src = server
        for t in (self.client, server):
            t.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
            sock = t.get_extra_info("socket")
            if sock is not None:  # skip receive-window autotuning's slow start
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)

    def side_eof(self, pipe: _Pipe) -> None:
        if pipe.up and self.down.stalled:
            self.close()  # the client gave up on a stalled connection
        else:
            pipe.push(None)

    def eof_delivered(self, pipe: _Pipe) -> None:
        other = self.down if pipe.up else self.up
        if other.done:
            self.close()
        elif not other.eof_in and not pipe.dst.is_closing():  # a real half-close: forward it
            try:
                pipe.dst.write_eof()
            except OSError:
                self.abort(rst=True)

    def fault(self) -> None:
        self.down.halt()
        if self.fault_kind == "reset":
            self.up.halt()
            self._reset_when_flushed(self.loop.time() + 0.1)

    def _reset_when_flushed(self, deadline: float) -> None:
        """Abort with RST once the last bytes have left our write buffer (or at ``deadline``)."""
        if self.closed:
            return
        if self.client.get_write_buffer_size() and self.loop.time() < deadline:
            self.loop.call_later(0.001, self._reset_when_flushed, deadline)
        else:
            self.loop.call_later(0.002, self.abort, True)

    def _transports(self) -> list[asyncio.Transport]:
        return [t for t in (self.client, self.server) if t is not None]

    def _finish(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        self.net._conns.discard(self)
        for p in (self.up, self.down):
            if p.timer is not None:
                p.timer.cancel()
                p.timer = None
        return True

    def close(self) -> None:
        if self._finish():
            for t in self._transports():
                t.close()

    def abort(self, rst: bool = False) -> None:
        if self._finish():
            for t in self._transports():
                sock = t.get_extra_info("socket")
                if rst and sock is not None and sock.fileno() >= 0:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
                t.abort()

    def lost(self, exc: Exception | None) -> None:
        """One socket went away: reset the other one if it broke, else close it."""
        self.abort(rst=exc is not None)


def _quiet_socket_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Socket errors are expected in a fault-injecting proxy; report anything else."""
    if not isinstance(context.get("exception"), OSError):
        loop.default_exception_handler(context)


class Netem:
    """Loopback TCP proxy to ``target`` that adds latency, caps bandwidth and injects faults.

    ``latency`` is the one-way delay applied in each direction (``latency_up``/``latency_down`` override it
    for client->server / server->client); it is a pipeline, so throughput stays bandwidth-limited.
    ``bandwidth`` caps bytes/s per connection and direction (``None``: uncapped). After a connection has
    delivered ``reset_after`` bytes downstream both of its sockets are reset (RST); after ``stall_after``
    bytes it stops forwarding downstream but stays open. ``handshake=True`` also charges the TCP handshake
    round trip before a new connection's first bytes arrive. Each direction keeps at most about
    ``4 MiB + 2 * bandwidth * latency`` (16 MiB uncapped) in flight, like a TCP window. Sockets are read
    in chunks of up to 256 KiB (asyncio's default).

    Use as a context manager; clients connect to ``(net.host, net.port)``.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        target: tuple[str, int],
        *,
        latency: float = 0.0,
        latency_up: float | None = None,
        latency_down: float | None = None,
        bandwidth: float | None = None,
        reset_after: int | None = None,
        stall_after: int | None = None,
        handshake: bool = False,
    ) -> None:
        self.target = (target[0], int(target[1]))
        self.latency_up = latency if latency_up is None else latency_up
        self.latency_down = latency if latency_down is None else latency_down
        self.bandwidth = bandwidth
        self.handshake = handshake
        self.reset_after, self.stall_after = reset_after, stall_after
        self.stats = NetemStats()
        self.port = 0
        self._loop = LoopThread("netem")
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, scheme: str = "http") -> str:
        """Base URL of the proxy, e.g. ``http://127.0.0.1:PORT``."""
        return f"{scheme}://{self.host}:{self.port}"

    def reset_stats(self) -> None:
        self.stats.connections = self.stats.bytes_up = self.stats.bytes_down = 0

    def set_faults(self, reset_after: int | None = None, stall_after: int | None = None) -> None:
        """Set the faults of connections accepted from now on (``None`` disables)."""
        self.reset_after, self.stall_after = reset_after, stall_after

    def start(self) -> Netem:
        if self._server is None:
            loop = self._loop.start()
            loop.set_exception_handler(_quiet_socket_errors)
            try:
                server = self._loop.run(loop.create_server(lambda: _ClientSide(self), self.host, 0))
            except BaseException:
                self._loop.stop()
                raise
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every proxied connection, then join the loop thread."""
        server, self._server = self._server, None
        if server is None:
            return

        async def shutdown() -> None:
            server.close()
            for conn in list(self._conns):
                conn.abort()
            for _ in range(3):
                await asyncio.sleep(0)  # let the transports close their sockets

        try:
            self._loop.run(shutdown())
        finally:
            self._loop.stop()

    def __enter__(self) -> Netem:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NetemProcess:
    """A :class:`Netem` (same parameters, no fault changes) running in a child process, for benchmarks:
    the model's own CPU work (a Python event loop pacing every byte) then does not contend for the
    interpreter lock of the process whose clients it measures, as a real network would not. The child
    is a fresh interpreter (not a ``multiprocessing`` spawn, which would re-run the caller's script)."""

    host = Netem.host

    def __init__(self, target: tuple[str, int], **options: Any) -> None:
        self._args = json.dumps({"target": list(target), "options": options})
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The child's process id (None when stopped)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def stats(self) -> NetemStats:
        """A snapshot of the child's counters."""
        return NetemStats(**json.loads(self._ask("stats")))

    def reset_stats(self) -> None:
        self._ask("reset")

    def _ask(self, command: str) -> str:
        if self._proc is None:
            raise RuntimeError("NetemProcess is not running")
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        reply = self._proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"netem's child process exited (code {self._proc.poll()})")
        return reply

    def start(self) -> NetemProcess:
        if self._proc is None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            code = "from fsspec_research.testing.netem import _serve; _serve()"
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code, self._args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            )  # fmt: skip
            try:
                self.port = int(self._ask("port"))
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):  # the child is gone already
            assert proc.stdin is not None
            proc.stdin.close()  # end of commands: the child stops its proxy and exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()

    def __enter__(self) -> NetemProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _serve() -> None:
    """The child of :class:`NetemProcess`: run the proxy, answer a command per line on stdin until EOF."""
    args = json.loads(sys.argv[1])
    with Netem(tuple(args["target"]), **args["options"]) as net:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                net.reset_stats()
            reply = {"port": net.port, "stats": json.dumps(vars(net.stats))}.get(command, "ok")
            sys.stdout.write(f"{reply}\n")
            sys.stdout.flush()

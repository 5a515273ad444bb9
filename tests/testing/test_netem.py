"""Tests of the Netem loopback WAN proxy (timing assertions are lower bounds only)."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import fsspec
import pytest

from fsspec_research.testing import HttpServerHandle, Netem, NetemProcess, http_server

pytestmark = pytest.mark.timeout(60)

MiB = 2**20


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1 << 16):
            self.request.sendall(data)
        self.request.shutdown(socket.SHUT_WR)  # echo the half-close back


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[:2]
        server.shutdown()


@pytest.fixture
def served() -> Iterator[tuple[HttpServerHandle, bytes]]:
    """An HTTP server holding ``blob`` (1 MiB) and ``big`` (2 MiB)."""
    with http_server() as srv:
        blob = os.urandom(MiB)
        with open(os.path.join(srv.directory, "blob"), "wb") as f:
            f.write(blob)
        with open(os.path.join(srv.directory, "big"), "wb") as f:
            f.write(os.urandom(2 * MiB))
        yield srv, blob


def _connect(net: Netem) -> socket.socket:
    return socket.create_connection((net.host, net.port), timeout=10)


def _roundtrip(net: Netem, payload: bytes) -> bytes:
    """Send ``payload`` through the echo server while reading it back; half-close when done."""
    with _connect(net) as s:

        def send() -> None:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while chunk := s.recv(1 << 16):  # EOF only arrives if both half-closes propagate
            chunks.append(chunk)
        sender.join()
        return b"".join(chunks)


def _http_get(net: Netem, path: str, timeout: float = 10) -> socket.socket:
    s = socket.create_connection((net.host, net.port), timeout=timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return s


def test_byte_exact_both_directions_and_half_close(echo: tuple[str, int]) -> None:
    payload = os.urandom(4 * MiB + 123)
    with Netem(echo, latency=0.002) as net:
        assert _roundtrip(net, payload) == payload
        st = net.stats
        assert (st.connections, st.bytes_up, st.bytes_down) == (1, len(payload), len(payload))


def test_parallel_connections_byte_exact(echo: tuple[str, int]) -> None:
    payloads = [os.urandom(MiB + i) for i in range(8)]
    results: list[bytes] = [b""] * len(payloads)
    with Netem(echo, latency=0.005, bandwidth=64 * MiB) as net:

        def run(i: int) -> None:
            results[i] = _roundtrip(net, payloads[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == payloads
        assert net.stats.connections == len(payloads)
        assert net.stats.bytes_up == net.stats.bytes_down == sum(map(len, payloads))


def test_stats_and_reset(echo: tuple[str, int]) -> None:
    with Netem(echo) as net:
        for _ in range(3):
            assert _roundtrip(net, b"hello") == b"hello"
        assert (net.stats.connections, net.stats.bytes_up, net.stats.bytes_down) == (3, 15, 15)
        net.reset_stats()
        assert (net.stats.connections, net.stats.bytes_up, net.stats.bytes_down) == (0, 0, 0)
        assert net.url("http") == f"http://127.0.0.1:{net.port}"


def test_latency_is_applied_each_way(echo: tuple[str, int]) -> None:
    with Netem(echo, latency=0.05) as net, _connect(net) as s:
        t0 = time.monotonic()
        s.sendall(b"ping")
        assert s.recv(16) == b"ping"
        assert time.monotonic() - t0 >= 0.1 * 0.98


def test_asymmetric_latency(echo: tuple[str, int]) -> None:
    with Netem(echo, latency=1.0, latency_up=0.08, latency_down=0.0) as net, _connect(net) as s:
        assert (net.latency_up, net.latency_down) == (0.08, 0.0)
        t0 = time.monotonic()
        s.sendall(b"ping")
        assert s.recv(16) == b"ping"
        assert time.monotonic() - t0 >= 0.08 * 0.98


def test_handshake_costs_a_round_trip(echo: tuple[str, int]) -> None:
    with Netem(echo, latency=0.03, handshake=True) as net, _connect(net) as s:
        t0 = time.monotonic()
        s.sendall(b"ping")
        assert s.recv(16) == b"ping"
        assert time.monotonic() - t0 >= 4 * 0.03 * 0.98


def test_bandwidth_cap(served: tuple[HttpServerHandle, bytes]) -> None:
    srv, _ = served
    with Netem(("127.0.0.1", srv.port), bandwidth=4 * MiB) as net:
        fs = fsspec.filesystem("http", skip_instance_cache=True)
        t0 = time.monotonic()
        data = fs.cat_file(f"{net.url()}/big")
        assert time.monotonic() - t0 >= 0.45
        with open(os.path.join(srv.directory, "big"), "rb") as f:
            assert data == f.read()
        assert net.stats.bytes_down > 2 * MiB


def test_fsspec_through_latency(served: tuple[HttpServerHandle, bytes]) -> None:
    srv, blob = served
    with Netem(("127.0.0.1", srv.port), latency=0.02, bandwidth=32 * MiB) as net:
        fs = fsspec.filesystem("http", skip_instance_cache=True)
        url = f"{net.url()}/blob"
        t0 = time.monotonic()
        assert fs.cat_file(url, 1000, 2000) == blob[1000:2000]
        assert time.monotonic() - t0 >= 0.04 * 0.98
        starts = list(range(0, MiB, 100_000))
        ends = [s + 5000 for s in starts]
        assert fs.cat_ranges([url] * len(starts), starts, ends) == [blob[a:b] for a, b in zip(starts, ends)]


def test_reset_after(served: tuple[HttpServerHandle, bytes]) -> None:
    srv, _ = served
    limit = 100_000
    with Netem(("127.0.0.1", srv.port), reset_after=limit) as net:
        got = 0
        with _http_get(net, "/blob") as s, pytest.raises(ConnectionResetError):
            while chunk := s.recv(1 << 16):
                got += len(chunk)
        assert 0 < got <= limit
        assert net.stats.bytes_down == limit


def test_set_faults_applies_to_new_connections(served: tuple[HttpServerHandle, bytes]) -> None:
    srv, blob = served
    with Netem(("127.0.0.1", srv.port)) as net:
        old = _http_get(net, "/blob")
        deadline = time.monotonic() + 10
        while net.stats.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # let the proxy accept it before the faults change
        net.set_faults(reset_after=5000)
        with _http_get(net, "/blob") as s, pytest.raises(ConnectionResetError):
            while s.recv(1 << 16):
                pass
        with old:
            body = b""
            while chunk := old.recv(1 << 16):
                body += chunk
        assert body.endswith(blob)
        net.set_faults()
        with _http_get(net, "/blob") as s:
            body = b""
            while chunk := s.recv(1 << 16):
                body += chunk
        assert body.endswith(blob)


def test_stall_after(served: tuple[HttpServerHandle, bytes]) -> None:
    srv, _ = served
    limit = 10_000
    with Netem(("127.0.0.1", srv.port), stall_after=limit) as net:
        got = 0
        t0 = time.monotonic()
        with _http_get(net, "/blob", timeout=1.0) as s, pytest.raises(TimeoutError):
            while chunk := s.recv(1 << 16):
                got += len(chunk)
        assert time.monotonic() - t0 >= 1.0 * 0.98
        assert 0 < got <= limit


def _peer_closed(s: socket.socket) -> bool:
    """Whether the peer closed ``s`` (EOF or reset)."""
    try:
        return s.recv(16) == b""
    except ConnectionResetError:
        return True


def test_upstream_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    with Netem(("127.0.0.1", port)) as net:
        try:
            s = _connect(net)
        except ConnectionResetError:
            return  # reset before connect() even returned
        with s:
            assert _peer_closed(s)


def test_stop_closes_everything(echo: tuple[str, int]) -> None:
    net = Netem(echo, latency=0.01).start()
    s = _connect(net)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    assert any(t.name == "netem" for t in threading.enumerate())
    net.stop()
    assert not any(t.name == "netem" for t in threading.enumerate())
    assert _peer_closed(s)
    s.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((net.host, net.port), timeout=5).close()


def test_netem_in_a_child_process_proxies_models_and_counts(echo: tuple[str, int]) -> None:
    payload = os.urandom(2 * MiB + 7)
    net = NetemProcess(echo, latency=0.05).start()
    try:
        assert net.pid not in (None, os.getpid()) and not any(
            t.name == "netem" for t in threading.enumerate()
        )
        assert _roundtrip(net, payload) == payload
        stats = net.stats
        assert (stats.connections, stats.bytes_up, stats.bytes_down) == (1, len(payload), len(payload))
        net.reset_stats()
        assert (net.stats.connections, net.stats.bytes_up) == (0, 0)
        with _connect(net) as s:
            t0 = time.monotonic()
            s.sendall(b"ping")
            assert s.recv(16) == b"ping"
            assert time.monotonic() - t0 >= 0.1 * 0.98
        proc = net._proc
    finally:
        net.stop()
    assert proc.poll() is not None and net.pid is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((net.host, net.port), timeout=5).close()

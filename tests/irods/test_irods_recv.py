"""The own receive of read and write replies: exact bytes, the server's errors, no wait on a closed socket."""

from __future__ import annotations

import socket
import threading

import pytest
from irods.exception import CAT_NO_ACCESS_PERMISSION
from irods.message import iRODSMessage

from fsspec_research.irods.client import recv_reply


def reply(data: bytes = b"", int_info: int | None = None) -> bytes:
    return iRODSMessage(
        "RODS_API_REPLY", bs=data, int_info=len(data) if int_info is None else int_info
    ).pack()


def serve(server: socket.socket, wire: bytes) -> threading.Thread:
    """Send ``wire`` from a thread (a socket pair holds less than a large reply), then close."""

    def send() -> None:
        with server:
            server.sendall(wire)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def receive(wire: bytes, size: int) -> tuple[int, bytes]:
    ours, server = socket.socketpair()
    with ours:
        serve(server, wire)
        buffer = bytearray(size)
        got = recv_reply(ours, memoryview(buffer))[1]
        return got, bytes(buffer[:got])


def test_bytes_land_in_the_buffer_and_the_next_reply_stays_on_the_socket() -> None:
    data = bytes(range(256)) * 4000
    ours, server = socket.socketpair()
    with ours:
        serve(server, reply(data) + reply(b"next"))
        first, second = bytearray(len(data)), bytearray(10)
        assert recv_reply(ours, memoryview(first)) == (len(data), len(data)) and first == data
        assert recv_reply(ours, memoryview(second)) == (4, 4) and second[:4] == b"next"


def test_a_short_read_at_the_end_of_an_object() -> None:
    assert receive(reply(b"tail"), 100) == (4, b"tail")
    assert receive(reply(), 100) == (0, b"")


def test_an_error_reply_raises_the_clients_exception() -> None:
    with pytest.raises(CAT_NO_ACCESS_PERMISSION):
        receive(reply(int_info=-818000), 10)


@pytest.mark.parametrize("cut", [2, 30, -5], ids=["in length", "in header", "in data"])
def test_a_connection_closed_mid_reply_raises_instead_of_waiting(cut: int) -> None:
    with pytest.raises(ConnectionError, match="mid-reply"):
        receive(reply(b"x" * 1000)[:cut], 1000)


def test_more_bytes_than_asked_for_is_an_error() -> None:
    with pytest.raises(OSError, match="1000 bytes for a read of 10"):
        receive(reply(b"x" * 1000), 10)


def test_a_reply_without_bytes_gives_its_int_info() -> None:
    """A write's reply: ``intInfo`` is the count written, no byte stream."""
    assert receive(reply(int_info=4096), 0) == (0, b"")
    ours, server = socket.socketpair()
    with ours:
        serve(server, reply(int_info=4096))
        assert recv_reply(ours) == (4096, 0)

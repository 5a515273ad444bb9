"""The ``s3_server`` test server: moto on 127.0.0.1, counters, checksum rejection, stopped on exit."""

from __future__ import annotations

import socket
from collections.abc import Callable

import fsspec
import pytest
import s3fs

from fsspec_research.testing import S3ServerHandle, ServerHandle, s3_server


def test_handle_shape_and_both_clients() -> None:
    with s3_server() as srv:
        assert isinstance(srv, (S3ServerHandle, ServerHandle)) and srv.protocol == "s3r"
        assert srv.endpoint_url.startswith("http://127.0.0.1:") and srv.root == f"s3r://{srv.bucket}"
        ours = fsspec.filesystem(srv.protocol, skip_instance_cache=True, **srv.storage_options)
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        ours.pipe(f"{srv.root}/x.txt", b"from s3r")
        assert plain.cat(f"{srv.bucket}/x.txt") == b"from s3r"
        assert srv.stats.requests >= 2 and srv.stats.by_method["PUT"] == 1
        srv.reset_stats()
        assert srv.stats.requests == 0 and srv.stats.by_method == {}
        port = srv.port
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))  # stopped: nothing listens any more


def test_reject_checksums_answers_like_an_old_store() -> None:
    with s3_server(reject_checksums=True) as srv:
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        with pytest.raises(OSError, match="Unsupported header 'x-amz-checksum-crc32'"):
            plain.pipe(f"{srv.bucket}/x", b"1")
        assert srv.stats.rejected == 1
        plain.ls(srv.bucket)  # requests without checksums pass
        assert srv.stats.rejected == 1


def test_backend_lookup_happens_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dispatcher lists its package folders to find a host's backend; the server does it once."""
    from moto import backends

    listings = []
    original = backends.list_of_moto_modules

    def counted() -> object:
        listings.append(1)
        return original()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    with s3_server() as srv:
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        plain.pipe(f"{srv.bucket}/k", b"0123456789")
        first = len(listings)
        assert [plain.cat_file(f"{srv.bucket}/k", start=i, end=i + 2) for i in range(5)] == [
            b"01", b"12", b"23", b"34", b"45",
        ]  # fmt: skip
        assert first >= 1 and len(listings) == first


def test_connections_are_kept_alive_and_unread_bodies_drained() -> None:
    """Requests share one connection (as with S3); a body the server leaves unread does not leak into
    the next request."""
    import http.client

    with s3_server() as srv:
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        plain.pipe(f"{srv.bucket}/k", b"0123456789")
        signed = plain.url(f"{srv.bucket}/k").split(str(srv.port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            conn.request("PUT", "/fsr-no-such-bucket/x", body=b"GET / HTTP/1.1\r\n\r\n" * 4096)
            refused = conn.getresponse()
            assert refused.status == 404 and b"NoSuchBucket" in refused.read()
            sock = conn.sock
            for lo in (0, 3, 7):
                conn.request("GET", signed, headers={"Range": f"bytes={lo}-{lo + 2}"})
                answer = conn.getresponse()
                assert answer.status == 206 and answer.read() == b"0123456789"[lo : lo + 3]
                assert conn.sock is sock and answer.getheader("Connection") != "close"
        finally:
            conn.close()


def test_a_body_left_unread_is_drained_and_a_length_less_answer_closes() -> None:
    """The keep-alive handler under an application that never reads bodies (moto reads them all)."""
    import http.client
    import threading

    from werkzeug.serving import make_server

    from fsspec_research.testing.s3 import _handler_class

    seen = []

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/streamed":
            start_response("200 OK", [])
            return [b"no ", b"length"]
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    handler = _handler_class()
    server = make_server("127.0.0.1", 0, app, True, request_handler=handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    try:
        conn.request("PUT", "/first", body=b"GET /smuggled HTTP/1.1\r\n\r\n" * 4096)
        assert conn.getresponse().read() == b"ok"
        sock = conn.sock
        conn.request("GET", "/second")
        assert conn.getresponse().read() == b"ok" and conn.sock is sock
        assert seen == ["/first", "/second"]
        conn.request("GET", "/streamed")
        answer = conn.getresponse()
        assert answer.getheader("Connection") == "close" and answer.read() == b"no length"
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
        handler.close_all()

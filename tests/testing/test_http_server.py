"""Tests of the HTTP object-store test server, directly and through fsspec's HTTPFileSystem."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import fsspec
import pytest

from fsspec_research.testing import HttpServerHandle, ServerHandle, http_server

pytestmark = pytest.mark.timeout(60)

SIZE = 300_001


@pytest.fixture
def srv() -> Iterator[HttpServerHandle]:
    with http_server() as handle:
        yield handle


@pytest.fixture
def blob(srv: HttpServerHandle) -> bytes:
    data = os.urandom(SIZE)
    os.makedirs(os.path.join(srv.directory, "dir"))
    with open(os.path.join(srv.directory, "dir", "blob.bin"), "wb") as f:
        f.write(data)
    return data


def request(
    srv: HttpServerHandle,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_handle_shape(srv: HttpServerHandle) -> None:
    assert isinstance(srv, ServerHandle)
    assert (srv.protocol, srv.storage_options, srv.root) == ("http", {}, f"http://127.0.0.1:{srv.port}")
    assert os.path.isdir(srv.directory)
    fs = fsspec.filesystem(srv.protocol, **srv.storage_options)
    assert fs.protocol[0] == "http"


def test_full_get(srv: HttpServerHandle, blob: bytes) -> None:
    status, headers, body = request(srv, "GET", "/dir/blob.bin")
    assert status == 200 and body == blob
    assert headers["Content-Length"] == str(SIZE)
    assert headers["Accept-Ranges"] == "bytes"
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    mtime = os.stat(os.path.join(srv.directory, "dir", "blob.bin")).st_mtime
    assert abs(parsedate_to_datetime(headers["Last-Modified"]).timestamp() - mtime) < 1


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=10-19", 10, 20),
        ("bytes=1000-", 1000, SIZE),
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE),
        ("bytes=-7", SIZE - 7, SIZE),
        (f"bytes=-{SIZE + 50}", 0, SIZE),
        (f"bytes=5-{SIZE + 100}", 5, SIZE),
    ],
)
def test_range(srv: HttpServerHandle, blob: bytes, spec: str, start: int, stop: int) -> None:
    status, headers, body = request(srv, "GET", "/dir/blob.bin", {"Range": spec})
    assert status == 206
    assert body == blob[start:stop]
    assert headers["Content-Length"] == str(stop - start)
    assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_range(srv: HttpServerHandle, blob: bytes, spec: str) -> None:
    status, headers, _ = request(srv, "GET", "/dir/blob.bin", {"Range": spec})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("spec", ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=x-"])
def test_ignored_range_gives_whole_body(srv: HttpServerHandle, blob: bytes, spec: str) -> None:
    status, _, body = request(srv, "GET", "/dir/blob.bin", {"Range": spec})
    assert status == 200 and body == blob


def test_head(srv: HttpServerHandle, blob: bytes) -> None:
    status, headers, body = request(srv, "HEAD", "/dir/blob.bin")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(SIZE)
    assert headers["ETag"] == request(srv, "GET", "/dir/blob.bin")[1]["ETag"]
    status, headers, body = request(srv, "HEAD", "/dir/blob.bin", {"Range": "bytes=-10"})
    assert (status, headers["Content-Length"], body) == (206, "10", b"")


@pytest.mark.parametrize("path", ["/missing", "/dir", "/dir/", "/dir/blob.bin/x"])
def test_not_found(srv: HttpServerHandle, blob: bytes, path: str) -> None:
    assert request(srv, "GET", path)[0] == 404
    assert request(srv, "HEAD", path)[0] == 404


@pytest.mark.parametrize("path", ["/../secret", "/a/../../secret", "/%2e%2e/secret", "/..%2fsecret"])
def test_no_escape_from_root(tmp_path: os.PathLike[str], path: str) -> None:
    with open(os.path.join(tmp_path, "secret"), "wb") as f:
        f.write(b"secret")
    with http_server(os.path.join(tmp_path, "root")) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert reply.split()[1] in (b"400", b"403", b"404")
        assert b"secret" not in reply


def test_etag_changes_when_file_replaced(srv: HttpServerHandle, blob: bytes) -> None:
    path = os.path.join(srv.directory, "dir", "blob.bin")
    etag = request(srv, "HEAD", "/dir/blob.bin")[1]["ETag"]
    st = os.stat(path)
    with open(path + ".new", "wb") as f:
        f.write(bytes(SIZE))
    os.utime(path + ".new", ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime, new inode
    os.replace(path + ".new", path)
    assert request(srv, "HEAD", "/dir/blob.bin")[1]["ETag"] != etag


def test_if_match(srv: HttpServerHandle, blob: bytes) -> None:
    etag = request(srv, "HEAD", "/dir/blob.bin")[1]["ETag"]
    assert request(srv, "GET", "/dir/blob.bin", {"If-Match": etag})[0] == 200
    assert request(srv, "GET", "/dir/blob.bin", {"If-Match": f'"nope", {etag}'})[0] == 200
    assert request(srv, "GET", "/dir/blob.bin", {"If-Match": '"nope"'})[0] == 412
    assert request(srv, "GET", "/dir/blob.bin", {"If-Match": "*"})[0] == 200
    assert request(srv, "PUT", "/dir/blob.bin", {"If-Match": '"nope"'}, b"new")[0] == 412
    assert request(srv, "DELETE", "/dir/blob.bin", {"If-Match": '"nope"'})[0] == 412
    assert request(srv, "GET", "/dir/blob.bin")[2] == blob
    assert request(srv, "PUT", "/dir/blob.bin", {"If-Match": etag}, b"new")[0] == 201
    assert request(srv, "GET", "/dir/blob.bin")[2] == b"new"
    assert request(srv, "PUT", "/other", {"If-Match": "*"}, b"x")[0] == 412


def test_put_creates_parents_and_if_none_match(srv: HttpServerHandle) -> None:
    status, headers, _ = request(srv, "PUT", "/a/b/c.bin", {"If-None-Match": "*"}, b"first")
    assert status == 201 and headers["ETag"]
    with open(os.path.join(srv.directory, "a", "b", "c.bin"), "rb") as f:
        assert f.read() == b"first"
    assert request(srv, "PUT", "/a/b/c.bin", {"If-None-Match": "*"}, b"second")[0] == 412
    assert request(srv, "GET", "/a/b/c.bin")[2] == b"first"
    assert request(srv, "PUT", "/a/b/c.bin", body=b"second")[0] == 201
    assert request(srv, "GET", "/a/b/c.bin")[2] == b"second"
    assert os.listdir(os.path.join(srv.directory, "a", "b")) == ["c.bin"]  # no temp files left
    assert request(srv, "PUT", "/a/b", body=b"x")[0] == 409  # a directory


def test_put_is_atomic(srv: HttpServerHandle, blob: bytes) -> None:
    new = os.urandom(2 * SIZE)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"PUT /dir/blob.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {len(new)}\r\n\r\n".encode())
        s.sendall(new[:SIZE])
        time.sleep(0.2)  # half the body is on the server now
        assert request(srv, "GET", "/dir/blob.bin")[2] == blob
        s.sendall(new[SIZE:])
        assert s.recv(4096).startswith(b"HTTP/1.1 201")
    assert request(srv, "GET", "/dir/blob.bin")[2] == new


def test_interrupted_put_leaves_nothing(srv: HttpServerHandle) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"PUT /x/partial HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + bytes(5000))
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while os.listdir(os.path.join(srv.directory, "x")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(os.path.join(srv.directory, "x")) == []
    assert request(srv, "GET", "/x/partial")[0] == 404


def test_delete(srv: HttpServerHandle, blob: bytes) -> None:
    assert request(srv, "DELETE", "/dir/blob.bin")[0] == 204
    assert request(srv, "GET", "/dir/blob.bin")[0] == 404
    assert request(srv, "DELETE", "/dir/blob.bin")[0] == 404
    assert not os.path.exists(os.path.join(srv.directory, "dir", "blob.bin"))


def test_stats(srv: HttpServerHandle, blob: bytes) -> None:
    srv.reset_stats()
    request(srv, "GET", "/dir/blob.bin")
    request(srv, "GET", "/dir/blob.bin", {"Range": "bytes=0-99"})
    request(srv, "HEAD", "/dir/blob.bin")
    request(srv, "GET", "/missing")
    request(srv, "PUT", "/p", body=b"abc")
    st = srv.stats
    assert st.requests == 5
    assert st.by_method == {"GET": 3, "HEAD": 1, "PUT": 1}
    assert st.bytes_sent == SIZE + 100
    srv.reset_stats()
    assert (srv.stats.requests, srv.stats.bytes_sent, srv.stats.by_method) == (0, 0, {})


def test_pread_fallback_without_sendfile(
    srv: HttpServerHandle, blob: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_sendfile(*args: object, **kwargs: object) -> int:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", no_sendfile)
    srv.reset_stats()
    assert request(srv, "GET", "/dir/blob.bin")[2] == blob
    assert request(srv, "GET", "/dir/blob.bin", {"Range": "bytes=-1234"})[2] == blob[-1234:]
    assert srv.stats.bytes_sent == SIZE + 1234


def test_fsspec_http_filesystem(srv: HttpServerHandle, blob: bytes) -> None:
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    url = f"{srv.root}/dir/blob.bin"
    assert fs.info(url)["size"] == SIZE
    assert fs.cat_file(url) == blob
    assert fs.cat_file(url, 100, 5000) == blob[100:5000]
    assert fs.cat_file(url, 1000) == blob[1000:]
    assert fs.cat_file(url, -500) == blob[-500:]
    starts = [0, 7, 99_999, SIZE - 3]
    ends = [1, 70_000, 200_000, SIZE]
    assert fs.cat_ranges([url] * 4, starts, ends) == [blob[a:b] for a, b in zip(starts, ends)]
    with fs.open(url, "rb", block_size=4096) as f:
        assert f.size == SIZE
        for pos, n in [(0, 10), (250_000, 9000), (4095, 2), (SIZE - 5, 100), (123_456, 50_000)]:
            f.seek(pos)
            assert f.read(n) == blob[pos : pos + n]
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{srv.root}/missing")


def test_served_root_is_kept(tmp_path: os.PathLike[str]) -> None:
    with http_server(tmp_path) as srv:
        assert os.path.samefile(srv.directory, tmp_path)
        assert request(srv, "PUT", "/k", body=b"kept")[0] == 201
    with open(os.path.join(tmp_path, "k"), "rb") as f:
        assert f.read() == b"kept"


def test_temporary_root_is_removed() -> None:
    with http_server() as srv:
        directory = srv.directory
        assert os.path.isdir(directory)
    assert not os.path.exists(directory)


def test_package_import_is_lazy() -> None:
    code = "import sys, fsspec_research.testing as t; assert 'aiohttp' not in sys.modules"
    code += "; t.Netem; t.ServerHandle; assert 'aiohttp' not in sys.modules"
    code += "; t.http_server; assert 'aiohttp' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

"""Swift's own API on a real Swift: metadata, ACLs, temporary URLs."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.testing.swift import SwiftServerHandle


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_object_metadata_set_merged_and_removed(fs: SwiftFileSystem, root: str) -> None:
    path = f"{root}/obs.nc"
    fs.pipe(path, b"data")
    fs.set_metadata(path, {"Instrument": "lidar", "site": "Hyytiala"})
    fs.set_metadata(path, {"site": None, "run": "7"})
    assert fs.get_metadata(path) == {"instrument": "lidar", "run": "7"}
    assert fs.info(path)["metadata"] == {"instrument": "lidar", "run": "7"}
    assert fs.cat(path) == b"data" and fs.info(path)["content_type"] == "application/x-netcdf"


def test_container_and_account_metadata(fs: SwiftFileSystem, root: str) -> None:
    fs.set_metadata(root, {"project": "climate"})
    assert fs.get_metadata(root)["project"] == "climate"
    fs.set_metadata(root, {"project": None})
    assert "project" not in fs.get_metadata(root)
    account = root.rsplit("/", 1)[0]
    fs.set_metadata(account, {"fsr-test": "1"})
    assert fs.get_metadata(account)["fsr-test"] == "1"
    fs.set_metadata(account, {"fsr-test": None})


def test_metadata_must_be_ascii(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe(f"{root}/x", b"x")
    with pytest.raises(ValueError, match="ASCII"):
        fs.set_metadata(f"{root}/x", {"ort": "Jyväskylä"})


def test_grant_and_revoke_read_access(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str, login
) -> None:
    fs.pipe(f"{root}/shared.txt", b"for test2")
    other = login(swift.users["tester2"])
    with pytest.raises(PermissionError, match=r"shared\.txt"):
        other.cat(f"{root}/shared.txt")
    fs.grant(root, "test2:tester2")
    assert fs.acl(root) == {"read": ["test2:tester2"], "write": []}
    assert other.cat(f"{root}/shared.txt") == b"for test2"
    fs.grant(root, "public")
    assert fs.acl(root)["read"] == ["test2:tester2", ".r:*", ".rlistings"]
    fs.revoke(root, "test2:tester2", "public")
    assert fs.acl(root) == {"read": [], "write": []}
    with pytest.raises(PermissionError):
        other.cat(f"{root}/shared.txt")


def test_write_acl(swift: SwiftServerHandle, fs: SwiftFileSystem, root: str, login) -> None:
    writer = login(swift.users["tester3"])  # same account, no .admin group
    with pytest.raises(PermissionError):
        writer.pipe(f"{root}/w.txt", b"w")
    fs.grant(root, "test:tester3", write=True)
    writer.pipe(f"{root}/w.txt", b"w")
    assert fs.cat(f"{root}/w.txt") == b"w"


def test_bad_acl_requests(fs: SwiftFileSystem, root: str) -> None:
    with pytest.raises(ValueError, match="containers"):
        fs.grant(f"{root}/obj", "public")
    with pytest.raises(ValueError, match="without commas"):
        fs.grant(root, "a:b,c:d")


def test_temporary_urls(fs: SwiftFileSystem, root: str) -> None:
    path = f"{root}/report.pdf"
    fs.pipe(path, b"%PDF-1.7 ...")
    with pytest.raises(PermissionError, match="temp-URL key"):
        fs.sign(path)
    fs.set_temp_url_key(root, "k3y-for-tests")
    try:
        url = fs.sign(path, expiration=60)
        assert "k3y-for-tests" not in url
        assert fetch(url) == (200, b"%PDF-1.7 ...")
        assert fetch(url.replace("temp_url_sig=", "temp_url_sig=0"))[0] == 401
        put_url = fs.sign(f"{root}/upload.bin", method="PUT", key="k3y-for-tests")
        assert fetch(put_url, "PUT", b"uploaded")[0] == 201
        assert fs.cat(f"{root}/upload.bin") == b"uploaded"
        assert fetch(fs.sign(path, expiration=-1))[0] == 401
    finally:
        asyncio.run_coroutine_threadsafe(fs._set_temp_url_key(root, ""), fs.loop).result()

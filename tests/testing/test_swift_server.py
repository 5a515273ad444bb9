"""Tests of the real-Swift test server itself, with python-swiftclient, keystoneauth1, urllib and aiohttp."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import importlib
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from swiftclient import ClientException, Connection
from swiftclient.utils import generate_temp_url

from fsspec_research.testing import ServerHandle, SwiftServerHandle, swift_server
from fsspec_research.testing.swift.process import read_pids

pytestmark = [
    pytest.mark.timeout(600),  # the first use installs Swift (and Keystone) into the cache
    # swiftclient's auth v3 path goes through the deprecated keystoneclient
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keystoneclient"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:debtcollector"),
]


@pytest.fixture(scope="module")
def srv() -> Iterator[SwiftServerHandle]:
    with swift_server() as handle:
        yield handle


@pytest.fixture(scope="module")
def ks() -> Iterator[SwiftServerHandle]:
    with swift_server(keystone=True, tls=True) as handle:
        yield handle


def conn(opts: dict[str, Any]) -> Connection:
    """A swiftclient connection from tempauth storage_options."""
    return Connection(opts["auth_url"], opts["user"], opts["key"], cacert=opts.get("verify"), retries=0)


def ks_conn(opts: dict[str, Any]) -> Connection:
    """A swiftclient connection from keystone storage_options."""
    os_options = {k: opts[k] for k in ("project_name", "user_domain_name", "project_domain_name")}
    return Connection(
        opts["auth_url"],
        opts["username"],
        opts["password"],
        auth_version="3",
        os_options=os_options,
        cacert=opts.get("verify"),
        retries=0,
    )


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None, ctx: Any = None) -> Any:
    """(status, headers, body) of a plain urllib request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def status_of(fn: Any, *args: Any, **kwargs: Any) -> int:
    try:
        fn(*args, **kwargs)
    except ClientException as e:
        return e.http_status
    return 200


def gone(directory: str) -> bool:
    """Whether no process started for ``directory`` is left (exiting children get a moment)."""
    deadline = time.monotonic() + 5
    while processes_in(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not processes_in(directory)


def processes_in(directory: str) -> list[int]:
    """PIDs of live processes started for ``directory`` or below (they carry it in their environment)."""
    marker = f"FSSPEC_RESEARCH_SWIFT_DIR={directory}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if any(v == marker or v.startswith(marker + b"/") for v in f.read().split(b"\0")):
                    found.append(int(pid))
        except OSError:
            continue
    return found


# --- tempauth -------------------------------------------------------------------------------------------


def test_handle(srv: SwiftServerHandle) -> None:
    assert isinstance(srv, ServerHandle)
    port = srv.proxy_port
    assert srv.protocol == "swift" and srv.scheme == "http" and srv.ca_file is None
    assert srv.storage_options == {
        "auth_url": f"http://127.0.0.1:{port}/auth/v1.0",
        "user": "test:tester",
        "key": "testing",
    }
    assert srv.root == f"swift://127.0.0.1:{port}/AUTH_test" == srv.tempauth_root
    assert srv.host == f"127.0.0.1:{port}" and srv.account == "AUTH_test"
    assert srv.storage_url == f"http://127.0.0.1:{port}/v1/AUTH_test" == srv.tempauth_storage_url
    assert srv.tempauth_storage_options == srv.storage_options == srv.users["tester"]
    assert set(srv.users) == {"tester", "tester2", "tester3", "admin"}
    assert srv.users["tester2"]["user"] == "test2:tester2" and srv.users["admin"]["key"] == "admin"
    assert srv.s3 == {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "key": "test:tester",
        "secret": "testing",
        "region_name": "us-east-1",
    }
    assert srv.keystone is None and os.path.isfile(srv.log_file)
    names = (
        "syslog-sink memcached account-server container-server object-server proxy-server container-updater"
    )
    assert [p.name for p in read_pids(srv.directory)] == names.split()
    json.dumps(srv.to_dict())


def test_info_lists_middlewares(srv: SwiftServerHandle) -> None:
    status, _, body = http(f"http://{srv.host}/info")
    info = json.loads(body)
    assert status == 200
    for name in ("s3api", "slo", "tempurl", "formpost", "staticweb", "bulk_delete", "bulk_upload", "symlink"):
        assert name in info, name
    assert {"container_quotas", "account_quotas", "versioned_writes", "object_versioning"} <= set(info)
    assert info["slo"]["max_manifest_segments"] >= 1000 and info["slo"]["min_segment_size"] == 1
    assert set(info["tempurl"]["methods"]) == {"GET", "HEAD", "PUT", "POST", "DELETE"}


def test_auth_and_ranges(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    url, token = c.get_auth()
    assert url == srv.storage_url and token
    data = bytes(range(256)) * 40
    c.put_container("ranges")
    etag = c.put_object("ranges", "blob", data)
    assert etag == hashlib.md5(data).hexdigest()
    headers, body = c.get_object("ranges", "blob", headers={"Range": "bytes=2-6"})
    assert body == data[2:7] and headers["content-range"] == f"bytes 2-6/{len(data)}"
    assert c.get_object("ranges", "blob", headers={"Range": "bytes=-5"})[1] == data[-5:]
    assert c.get_object("ranges", "blob", headers={"Range": "bytes=10000-"})[1] == data[10000:]
    assert status_of(c.get_object, "ranges", "blob", headers={"Range": f"bytes={len(data)}-"}) == 416
    assert int(c.head_object("ranges", "blob")["content-length"]) == len(data)
    assert status_of(c.head_object, "ranges", "missing") == 404


def test_listing_and_container_updater(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.put_container("listing")
    for name in ("a/b/1", "a/b/2", "a/c", "d"):
        c.put_object("listing", name, name.encode())
    _, listing = c.get_container("listing", prefix="a/", delimiter="/")
    assert [x.get("subdir") or x["name"] for x in listing] == ["a/b/", "a/c"]
    _, listing = c.get_container("listing", delimiter="/")
    assert [x.get("subdir") or x["name"] for x in listing] == ["a/", "d"]
    _, listing = c.get_container("listing")
    assert {x["name"]: x["bytes"] for x in listing} == {"a/b/1": 5, "a/b/2": 5, "a/c": 3, "d": 1}
    # the container-updater reports object counts to the account (and must not quarantine the container)
    deadline = time.monotonic() + 30
    while int(c.head_account().get("x-account-object-count", 0)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert int(c.head_account()["x-account-object-count"]) >= 4
    assert int(c.head_container("listing")["x-container-object-count"]) == 4
    assert "listing" in [x["name"] for x in c.get_account()[1]]


def test_slo_manifest(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.put_container("segments")
    c.put_container("slo")
    parts = [os.urandom(n) for n in (100_000, 70_000, 30_001)]
    manifest = []
    for i, part in enumerate(parts):
        c.put_object("segments", f"big/{i:03d}", part)
        manifest.append(
            {"path": f"/segments/big/{i:03d}", "etag": hashlib.md5(part).hexdigest(), "size_bytes": len(part)}
        )
    c.put_object("slo", "big", json.dumps(manifest), query_string="multipart-manifest=put")
    data = b"".join(parts)
    head = c.head_object("slo", "big")
    assert head["x-static-large-object"] == "True" and int(head["content-length"]) == len(data)
    assert c.get_object("slo", "big")[1] == data
    across = c.get_object("slo", "big", headers={"Range": "bytes=99990-170009"})[1]
    assert across == data[99990:170010]
    _, raw = c.get_object("slo", "big", query_string="multipart-manifest=get")
    assert [s["name"] for s in json.loads(raw)] == [m["path"] for m in manifest]


def test_public_container_anonymous_read(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.put_container("public", headers={"X-Container-Read": ".r:*,.rlistings"})
    c.put_container("private")
    c.put_object("public", "x.txt", b"0123456789")
    c.put_object("private", "x.txt", b"secret")
    status, _, body = http(f"{srv.storage_url}/public/x.txt", headers={"Range": "bytes=3-4"})
    assert (status, body) == (206, b"34")
    status, _, body = http(f"{srv.storage_url}/public?format=json")
    assert status == 200 and [x["name"] for x in json.loads(body)] == ["x.txt"]
    assert http(f"{srv.storage_url}/private/x.txt")[0] == 401
    assert http(f"{srv.storage_url}/public/y.txt", method="PUT")[0] == 401

    async def read() -> tuple[int, bytes]:
        url, headers = f"{srv.storage_url}/public/x.txt", {"Range": "bytes=5-"}
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
            return r.status, await r.read()

    assert asyncio.run(read()) == (206, b"56789")


def test_accounts_are_separate(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.put_container("mine")
    url2, token2 = conn(srv.users["tester2"]).get_auth()
    assert url2.endswith("/v1/AUTH_test2")
    assert http(f"{srv.storage_url}/mine", headers={"X-Auth-Token": token2})[0] == 403
    _, token3 = conn(srv.users["tester3"]).get_auth()  # same account, no group: needs an ACL
    assert http(f"{srv.storage_url}/mine", headers={"X-Auth-Token": token3})[0] == 403
    _, admin = conn(srv.users["admin"]).get_auth()  # reseller admin
    assert http(f"{srv.storage_url}/mine", headers={"X-Auth-Token": admin})[0] == 204


def test_container_quota(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.put_container("quota", headers={"X-Container-Meta-Quota-Bytes": "10"})
    assert status_of(c.put_object, "quota", "big", b"0123456789a") == 413
    c.put_object("quota", "small", b"0123456789")


def test_tempurl(srv: SwiftServerHandle) -> None:
    c = conn(srv.storage_options)
    c.post_account({"X-Account-Meta-Temp-URL-Key": "tempkey"})
    c.put_container("temp")
    c.put_object("temp", "o", b"temporary")
    path = generate_temp_url("/v1/AUTH_test/temp/o", 60, "tempkey", "GET")
    assert http(f"http://{srv.host}{path}")[::2] == (200, b"temporary")
    assert http(f"http://{srv.host}{path.replace('/o?', '/other?')}")[0] == 401


def _s3(srv: SwiftServerHandle, method: str, path: str, body: bytes = b"", secret: str | None = None) -> Any:
    """A request to s3api signed with AWS signature V2 (enough for bucket/object basics)."""
    date, ctype = email.utils.formatdate(usegmt=True), "application/octet-stream"
    string_to_sign = f"{method}\n\n{ctype}\n{date}\n{path}"
    key = (secret or srv.s3["secret"]).encode()
    sig = base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha1).digest()).decode()
    headers = {"Date": date, "Content-Type": ctype, "Authorization": f"AWS {srv.s3['key']}:{sig}"}
    req = urllib.request.Request(
        srv.s3["endpoint_url"] + path, data=body or None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_s3api(srv: SwiftServerHandle) -> None:
    assert _s3(srv, "PUT", "/s3bucket")[0] == 200
    assert _s3(srv, "PUT", "/s3bucket/key.txt", b"over s3")[0] == 200
    status, body = _s3(srv, "GET", "/")
    assert status == 200 and b"<Name>s3bucket</Name>" in body
    assert _s3(srv, "GET", "/s3bucket/key.txt") == (200, b"over s3")
    assert conn(srv.storage_options).get_object("s3bucket", "key.txt")[1] == b"over s3"  # same data via Swift
    status, body = _s3(srv, "GET", "/", secret="wrong")
    assert status == 403 and b"SignatureDoesNotMatch" in body


# --- TLS, stop, restart, failures ------------------------------------------------------------------------


def test_tls_stop_and_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(tmp_path / "swift")
    with pytest.raises(KeyError), swift_server(tls=True, directory=directory) as s:
        assert s.scheme == "https" and s.ca_file and os.path.isfile(s.ca_file)
        assert s.storage_url.startswith("https://") and s.storage_options["verify"] == s.ca_file
        assert s.users["tester2"]["verify"] == s.ca_file and s.s3["verify"] == s.ca_file
        c = conn(s.storage_options)
        assert c.get_auth()[0] == s.storage_url  # tempauth hands out https storage URLs
        c.put_container("kept")
        c.put_object("kept", "o", b"persisted")
        ctx = ssl.create_default_context(cafile=s.ca_file)
        assert http(f"https://{s.host}/info", ctx=ctx)[0] == 200
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            http(f"https://{s.host}/info", ctx=ssl.create_default_context())
        procs = read_pids(directory)
        assert len(procs) == 7 and all(p.alive() for p in procs)
        assert {p.pid for p in procs} <= set(processes_in(directory))  # (+ the updater's sweep forks)
        raise KeyError("an error in the with block stops the servers too")
    assert not any(p.alive() for p in procs) and gone(directory)
    assert read_pids(directory) == [] and os.path.isdir(directory)  # a given directory is kept

    # the command line, on the same directory: same data, new ports
    from fsspec_research.testing.swift.__main__ import main

    capsys.readouterr()
    main(["start", directory, "--tls"])
    try:
        fields = json.loads(capsys.readouterr().out)
        assert fields["scheme"] == "https" and fields["proxy_port"] != s.proxy_port
        assert conn(fields["storage_options"]).get_object("kept", "o")[1] == b"persisted"
        procs = read_pids(directory)
        assert len(procs) == 7 and all(p.alive() for p in procs)
        with pytest.raises(RuntimeError, match="already running"):
            main(["start", directory])
    finally:
        main(["stop", directory])
    assert not any(p.alive() for p in procs) and gone(directory)


def test_failed_start_stops_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSSPEC_RESEARCH_SWIFT_TIMEOUT", "0.8")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="timed out"), swift_server():
        pass
    assert gone(str(tmp_path)) and os.listdir(tmp_path) == []  # temporary directory removed


def test_install_failure_and_half_built_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inst = importlib.import_module("fsspec_research.testing.swift.install")  # the module, not the function
    monkeypatch.setenv("FSSPEC_RESEARCH_CACHE", str(tmp_path))
    monkeypatch.setattr(inst, "SWIFT_VERSION", "0.0.0.1")  # no such release: pip fails
    venv = tmp_path / "swift-0.0.0.1"
    venv.mkdir()
    (venv / "left-over").write_text("from an interrupted install")  # no marker: rebuilt
    with pytest.raises(
        RuntimeError, match=r"(?s)pip install swift==0\.0\.0\.1 failed.*swift==0\.0\.0\.1"
    ) as excinfo:
        inst.install()
    assert not (venv / "left-over").exists() and (venv / "bin" / "python").exists()
    assert "is ignored" not in str(excinfo.value)  # pip's noise about missing local index folders
    assert not list(venv.glob(".fsspec-research-*"))  # still not marked complete


# --- keystone (with TLS) ----------------------------------------------------------------------------------


def test_keystone_handle(ks: SwiftServerHandle) -> None:
    assert ks.keystone is not None
    k = ks.keystone
    auth_url, project_id = k["auth_url"], k["project_id"]
    assert auth_url.startswith("https://127.0.0.1:") and auth_url.endswith("/v3")
    assert ks.storage_options == {
        "auth_url": auth_url,
        "username": "tester",
        "password": "testing",
        "project_name": "test",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "verify": ks.ca_file,
    }
    assert ks.account == f"AUTH_{project_id}" and ks.root == f"swift://{ks.host}/{ks.account}"
    assert ks.storage_url == f"https://{ks.host}/v1/{ks.account}" == k["storage_url"]
    assert ks.proxy_port == k["proxy_port"] != int(ks.tempauth_root.split(":")[2].split("/")[0])
    assert set(k["users"]) == {"tester", "tester2", "tester3"} and k["project_id2"] != project_id
    assert k["admin_password"] not in repr(ks) and "admin_password" not in json.dumps(ks.to_dict())
    assert ks.to_dict(secrets=True)["keystone"]["admin_password"] == k["admin_password"]


def test_keystone_password_auth(ks: SwiftServerHandle) -> None:
    c = ks_conn(ks.storage_options)
    url, _ = c.get_auth()
    assert url == ks.storage_url
    c.put_container("kc")
    c.put_object("kc", "o", b"via keystone")
    assert c.get_object("kc", "o", headers={"Range": "bytes=4-11"})[1] == b"keystone"


def test_keystone_catalog_and_app_credential(ks: SwiftServerHandle) -> None:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    assert ks.keystone is not None
    ks_conn(ks.storage_options).put_container("appcred")
    ks_conn(ks.storage_options).put_object("appcred", "o", b"app")
    cred_id, secret = ks.create_application_credential("tester")
    auth = v3.ApplicationCredential(
        auth_url=ks.keystone["auth_url"],
        application_credential_id=cred_id,
        application_credential_secret=secret,
    )
    sess = session.Session(auth=auth, verify=ks.ca_file)
    assert sess.get_endpoint(service_type="object-store", interface="public") == ks.storage_url
    assert sess.get(f"{ks.storage_url}/appcred/o").content == b"app"


def test_keystone_roles_and_acls(ks: SwiftServerHandle) -> None:
    assert ks.keystone is not None
    k = ks.keystone
    c = ks_conn(ks.storage_options)
    c.put_container("acl")
    c.put_object("acl", "o", b"shared")
    reader = ks_conn(k["users"]["tester3"])  # reader role only: reads, but is not an operator
    assert reader.get_auth()[0] == ks.storage_url
    assert reader.get_object("acl", "o")[1] == b"shared"
    assert status_of(reader.put_object, "acl", "by-reader", b"x") == 403
    other = ks_conn(k["users"]["tester2"])
    url2, token2 = other.get_auth()
    assert url2 == k["storage_url2"] and url2.endswith(k["project_id2"])
    ctx = ssl.create_default_context(cafile=ks.ca_file)
    assert http(f"{ks.storage_url}/acl/o", headers={"X-Auth-Token": token2}, ctx=ctx)[0] == 403
    c.post_container("acl", {"X-Container-Read": f"{k['project_id2']}:*"})
    assert http(f"{ks.storage_url}/acl/o", headers={"X-Auth-Token": token2}, ctx=ctx)[::2] == (200, b"shared")


def test_keystone_mode_keeps_tempauth(ks: SwiftServerHandle) -> None:
    c = conn(ks.tempauth_storage_options)
    assert c.get_auth()[0] == ks.tempauth_storage_url and ks.tempauth_storage_url.startswith("https://")
    c.put_container("ta")
    assert [x["name"] for x in c.get_account()[1]] == ["ta"]
    assert ks.s3["endpoint_url"] == ks.tempauth_storage_url.split("/v1/")[0]

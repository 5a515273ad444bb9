"""Bad input and faults against a real Swift: clear builtin exceptions naming the path, no secrets."""

from __future__ import annotations

import socket
import time

import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.testing import Netem
from fsspec_research.testing.swift import SwiftServerHandle

FAST = {"retries": {"retries": 1, "backoff": 0.01}}


def test_wrong_password_is_a_permission_error_without_the_secret(swift: SwiftServerHandle, login) -> None:
    bad = login({**swift.storage_options, "key": "not-the-s3cret"})
    with pytest.raises(PermissionError, match="authentication failed") as err:
        bad.ls(bad._strip_protocol(swift.root))
    assert "not-the-s3cret" not in str(err.value) and "not-the-s3cret" not in repr(bad)


def test_unknown_container_and_object(fs: SwiftFileSystem, root: str) -> None:
    missing = root + "-missing"
    for call in (fs.ls, fs.info, fs.cat):
        with pytest.raises(FileNotFoundError, match=missing):
            call(missing + "/x")
    with pytest.raises(FileNotFoundError, match=r"nope\.bin"):
        fs.open(f"{root}/nope.bin")
    assert not fs.exists(f"{root}/nope.bin")


def test_unknown_account_is_forbidden(fs: SwiftFileSystem, root: str) -> None:
    host = root.split("/")[0]
    with pytest.raises(PermissionError, match=f"{host}/AUTH_nobody"):
        fs.ls(f"{host}/AUTH_nobody")


def test_another_account_is_forbidden(swift: SwiftServerHandle, login, root: str) -> None:
    other = login(swift.users["tester2"])
    with pytest.raises(PermissionError, match=root):
        other.ls(root)
    with pytest.raises(PermissionError):
        other.pipe(f"{root}/intruder.txt", b"x")


def test_anonymous_cannot_write_even_to_a_public_container(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str, login
) -> None:
    fs.grant(root, "public")
    anon = login({"anon": True, "scheme": "http"})
    fs.pipe(f"{root}/pub.txt", b"public")
    assert anon.cat(f"{root}/pub.txt") == b"public"
    with pytest.raises(PermissionError, match=r"pub2\.txt"):
        anon.pipe(f"{root}/pub2.txt", b"x")
    with pytest.raises(PermissionError):
        anon.rm(f"{root}/pub.txt")
    assert fs.cat(f"{root}/pub.txt") == b"public"


def test_a_revoked_token_is_renewed_once(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe(f"{root}/a", b"1")
    token = fs.client.auth._token
    token.value = "AUTH_tk-revoked"
    assert fs.cat(f"{root}/a") == b"1"
    assert fs.client.auth._token is not token and fs.client.auth._token.value != "AUTH_tk-revoked"


def test_a_token_about_to_expire_is_renewed_before_use(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe(f"{root}/a", b"1")
    old = fs.client.auth._token
    old.expires = time.time() + 5  # inside the renewal window
    assert fs.cat(f"{root}/a") == b"1"
    assert fs.client.auth._token is not old


def test_a_foreign_token_that_expired_cannot_be_renewed(swift: SwiftServerHandle, login, root: str) -> None:
    stale = login({"token": "AUTH_tk-expired", "storage_url": swift.storage_url})
    with pytest.raises(PermissionError, match="expired") as err:
        stale.ls(root)
    assert "AUTH_tk-expired" not in str(err.value)


def test_token_from_the_environment(
    swift: SwiftServerHandle, fs: SwiftFileSystem, root: str, monkeypatch
) -> None:
    fs.pipe(f"{root}/env.txt", b"env")
    fs.ls(root)
    monkeypatch.setenv("OS_STORAGE_URL", swift.storage_url)
    monkeypatch.setenv("OS_AUTH_TOKEN", fs.client.auth._token.value)
    assert SwiftFileSystem(skip_instance_cache=True).cat(f"{root}/env.txt") == b"env"


def test_st_variables_of_v1_auth(swift: SwiftServerHandle, root: str, monkeypatch) -> None:
    monkeypatch.setenv("ST_AUTH", swift.storage_options["auth_url"])
    monkeypatch.setenv("ST_USER", swift.storage_options["user"])
    monkeypatch.setenv("ST_KEY", swift.storage_options["key"])
    fs = SwiftFileSystem(skip_instance_cache=True)
    fs.pipe(f"{root}/st.txt", b"st")
    assert fs.cat(f"{root}/st.txt") == b"st"


@pytest.mark.parametrize("url", ["swift://", "https://host/data/c/o"])
def test_malformed_urls(fs: SwiftFileSystem, url: str) -> None:
    with pytest.raises(ValueError):
        fs.info(url)


def test_ranges_outside_the_object(fs: SwiftFileSystem, root: str) -> None:
    fs.pipe(f"{root}/ten", b"0123456789")
    assert fs.cat_file(f"{root}/ten", 20, 30) == b""
    with pytest.raises(ValueError, match="ten"):  # 416 from the server on a raw range past the end
        fs.read_ranges(f"{root}/ten", [(20, 30)])


def test_rm_of_accounts_and_mkdir_of_hosts_are_refused(fs: SwiftFileSystem, root: str) -> None:
    account = root.rsplit("/", 1)[0]
    with pytest.raises(PermissionError):
        fs.rm(account, recursive=True)
    with pytest.raises(PermissionError):
        fs.mkdir(account.split("/")[0] + "/AUTH_new")
    with pytest.raises(IsADirectoryError):
        fs.pipe(root, b"x")


def test_unreachable_server_is_a_connection_error_naming_the_path(login) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fs = login({"anon": True, "scheme": "http"}, **FAST)
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}/AUTH_x/c/o"):
        fs.cat(f"127.0.0.1:{port}/AUTH_x/c/o")


def test_resets_mid_read_are_retried_to_exact_bytes(swift: SwiftServerHandle, root: str, login) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    with Netem(("127.0.0.1", swift.proxy_port)) as net:
        via = login({**swift.storage_options, "auth_url": f"{net.url()}/auth/v1.0"},
                    part_size=256 * 1024, retries={"retries": 8, "backoff": 0.01})  # fmt: skip
        path = f"127.0.0.1:{net.port}/{root.split('/', 1)[1]}/reset.bin"
        via.pipe(path, data)
        net.set_faults(reset_after=300 * 1024)
        assert via.cat_file(path) == data
        assert net.stats.connections > 2


def test_stalled_server_times_out_instead_of_hanging(swift: SwiftServerHandle, root: str, login) -> None:
    with Netem(("127.0.0.1", swift.proxy_port)) as net:
        options = {**swift.storage_options, "auth_url": f"{net.url()}/auth/v1.0"}
        path = f"127.0.0.1:{net.port}/{root.split('/', 1)[1]}/stall.bin"
        login(options).pipe(path, b"s" * 300_000)
        net.set_faults(stall_after=10_000)  # for connections from now on: a new filesystem's
        t0 = time.monotonic()
        with pytest.raises(ConnectionError, match=r"stall\.bin"):
            login(options, timeout=0.5, **FAST).cat_file(path)
        assert time.monotonic() - t0 < 20

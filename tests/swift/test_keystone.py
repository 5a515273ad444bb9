"""``swift://`` through a real Keystone v3: password, ``OS_*`` environment, application credentials, roles,
cross-project ACLs, refused passwords kept secret, and tokens renewed on 401 or before they expire."""

from __future__ import annotations

import os
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.auth import Keystone, Preauthenticated
from fsspec_research.testing.swift import SwiftServerHandle

PAYLOAD = b"keystone \x00\xff payload\n" * 100


def make_fs(options: dict[str, Any], **extra: Any) -> SwiftFileSystem:
    return fsspec.filesystem("swift", skip_instance_cache=True, **options, **extra)


def app_credential(ks: dict[str, Any], app_id: str, secret: str) -> dict[str, Any]:
    return {
        "auth_url": ks["auth_url"],
        "application_credential_id": app_id,
        "application_credential_secret": secret,
    }


@pytest.fixture
def ks(swift_keystone: SwiftServerHandle) -> dict[str, Any]:
    return swift_keystone.keystone


@pytest.fixture
def kfs(swift_keystone: SwiftServerHandle) -> SwiftFileSystem:
    """``tester`` (member of project ``test``) logged in with a Keystone password."""
    return make_fs(swift_keystone.storage_options)


@pytest.fixture
def home(swift_keystone: SwiftServerHandle, ks: dict[str, Any]) -> str:
    """``host/AUTH_<project id of test>``, the account of ``tester``."""
    return f"{swift_keystone.host}/AUTH_{ks['project_id']}"


@pytest.fixture
def kroot(kfs: SwiftFileSystem, home: str) -> Iterator[str]:
    """A fresh container in ``tester``'s account holding ``PAYLOAD`` at ``data/obj.bin``; removed after."""
    path = f"{home}/ks-{uuid.uuid4().hex[:10]}"
    kfs.mkdir(path)
    kfs.pipe(f"{path}/data/obj.bin", PAYLOAD)
    yield path
    kfs.invalidate_cache()
    for container in (path, path + "_segments"):
        if kfs.exists(container):
            kfs.rm(container, recursive=True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OpenStack or swiftclient credentials in the environment."""
    for name in list(os.environ):
        if name.startswith(("OS_", "ST_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_password_login_from_storage_options(
    swift_keystone: SwiftServerHandle, kfs: SwiftFileSystem, kroot: str, home: str, ks: dict[str, Any]
) -> None:
    assert isinstance(kfs.client.auth, Keystone)
    assert kfs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    token = kfs.client.auth._token
    assert token.storage_url == ks["storage_url"]  # the object-store endpoint of the catalog
    assert token.expires is not None and token.expires > time.time() + 600
    assert kfs.info(kroot)["type"] == "directory"
    assert kroot in kfs.ls(home, detail=False)
    assert kfs.ls(swift_keystone.host, detail=False) == [home]  # the host lists only our own account


def test_login_from_os_environment_only(
    clean_env: pytest.MonkeyPatch, swift_keystone: SwiftServerHandle, kroot: str, ks: dict[str, Any]
) -> None:
    user = ks["users"]["tester"]
    for name, key in (
        ("OS_AUTH_URL", "auth_url"),
        ("OS_USERNAME", "username"),
        ("OS_PASSWORD", "password"),
        ("OS_PROJECT_NAME", "project_name"),
        ("OS_USER_DOMAIN_NAME", "user_domain_name"),
        ("OS_PROJECT_DOMAIN_NAME", "project_domain_name"),
    ):
        clean_env.setenv(name, user[key])
    fs = SwiftFileSystem(skip_instance_cache=True)  # no credentials among the options
    assert isinstance(fs.client.auth, Keystone)
    assert fs.client.auth.settings["username"] == "tester"
    assert fs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    fs.pipe(f"{kroot}/from-env.txt", b"written with OS_* credentials")
    assert make_fs(swift_keystone.storage_options).cat(f"{kroot}/from-env.txt") == (
        b"written with OS_* credentials"
    )


def test_application_credential(swift_keystone: SwiftServerHandle, kroot: str, ks: dict[str, Any]) -> None:
    app_id, secret = swift_keystone.create_application_credential("tester")
    fs = make_fs(app_credential(ks, app_id, secret))
    assert type(fs.client.auth._make_plugin()).__name__ == "ApplicationCredential"
    assert secret not in repr(fs)
    assert fs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    assert fs.client.auth._token.storage_url == ks["storage_url"]  # scoped to the credential's project
    assert fs.cat_file(f"{kroot}/data/obj.bin", 10, 30) == PAYLOAD[10:30]


def test_wrong_application_credential_secret_is_refused(
    swift_keystone: SwiftServerHandle, kroot: str, ks: dict[str, Any]
) -> None:
    app_id, secret = swift_keystone.create_application_credential("tester")
    wrong = "not-" + secret
    fs = make_fs(app_credential(ks, app_id, wrong))
    with pytest.raises(PermissionError) as info:
        fs.cat(f"{kroot}/data/obj.bin")
    text = "".join(traceback.format_exception(info.value))
    assert wrong not in text and secret not in text


def test_reader_role_cannot_write(kroot: str, ks: dict[str, Any]) -> None:
    reader = make_fs(ks["users"]["tester3"])
    with pytest.raises(PermissionError):
        reader.pipe(f"{kroot}/data/by-reader.bin", b"nope")
    with pytest.raises(PermissionError):
        reader.rm(f"{kroot}/data/obj.bin")
    with pytest.raises(PermissionError):
        reader.mkdir(f"{kroot}-reader")
    owner = make_fs(ks["users"]["tester"])
    assert not owner.exists(f"{kroot}/data/by-reader.bin")
    assert owner.cat(f"{kroot}/data/obj.bin") == PAYLOAD


def test_reader_role_can_read(kroot: str, ks: dict[str, Any], home: str) -> None:
    reader = make_fs(ks["users"]["tester3"])
    assert reader.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    assert reader.ls(kroot, detail=False) == [f"{kroot}/data"]
    assert kroot in reader.ls(home, detail=False)


def test_other_project_needs_a_read_acl(kfs: SwiftFileSystem, kroot: str, ks: dict[str, Any]) -> None:
    other = make_fs(ks["users"]["tester2"])
    with pytest.raises(PermissionError):
        other.cat(f"{kroot}/data/obj.bin")
    assert other.client.auth._token.storage_url == ks["storage_url2"]  # its own project's account

    kfs.grant(kroot, f"{ks['project_id2']}:*")
    assert f"{ks['project_id2']}:*" in kfs.acl(kroot)["read"]
    assert other.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    assert other.find(kroot) == [f"{kroot}/data/obj.bin"]
    with pytest.raises(PermissionError):  # a read ACL does not let it write
        other.pipe(f"{kroot}/data/by-other.bin", b"nope")

    kfs.revoke(kroot, f"{ks['project_id2']}:*")
    with pytest.raises(PermissionError):
        make_fs(ks["users"]["tester2"]).cat(f"{kroot}/data/obj.bin")


def test_wrong_password_is_a_permission_error_without_the_password(kroot: str, ks: dict[str, Any]) -> None:
    wrong = "Wr0ng-" + uuid.uuid4().hex
    fs = make_fs({**ks["users"]["tester"], "password": wrong})
    with pytest.raises(PermissionError) as info:
        fs.cat(f"{kroot}/data/obj.bin")
    assert "Keystone refused" in str(info.value)
    assert wrong not in str(info.value)
    assert wrong not in "".join(traceback.format_exception(info.value))  # nor anywhere in the chain
    assert wrong not in repr(fs)


def test_invalid_token_is_renewed_on_401(kfs: SwiftFileSystem, kroot: str) -> None:
    assert kfs.cat(f"{kroot}/data/obj.bin") == PAYLOAD  # logged in
    token = kfs.client.auth._token
    token.value = "bogus"
    assert kfs.cat(f"{kroot}/data/obj.bin") == PAYLOAD  # 401, log in again, same request again
    renewed = kfs.client.auth._token
    assert renewed is not token and renewed.value not in (None, "bogus")
    kfs.client.auth._token.value = "bogus-again"
    kfs.pipe(f"{kroot}/after-renewal.bin", b"written after a renewal")  # a write renews the same way
    assert kfs.cat(f"{kroot}/after-renewal.bin") == b"written after a renewal"
    assert kfs.client.auth._token.value != "bogus-again"


def test_token_about_to_expire_is_renewed_before_use(kfs: SwiftFileSystem, kroot: str) -> None:
    assert kfs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    old = kfs.client.auth._token
    old.expires = time.time() + 5  # within the renewal margin
    assert kfs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    assert kfs.client.auth._token is not old
    assert kfs.client.auth._token.expires > time.time() + 600


def test_keystone_token_passed_as_storage_options(
    kfs: SwiftFileSystem, kroot: str, ks: dict[str, Any]
) -> None:
    """A token from elsewhere (as ``OS_AUTH_TOKEN``) works until it is refused; it cannot be renewed."""
    kfs.ls(kroot)
    token = kfs.client.auth._token
    fs = make_fs({"token": token.value, "storage_url": ks["storage_url"]})
    assert isinstance(fs.client.auth, Preauthenticated)
    assert fs.cat(f"{kroot}/data/obj.bin") == PAYLOAD
    fs.client.auth._token.value = "bogus"
    with pytest.raises(PermissionError):
        fs.cat(f"{kroot}/data/obj.bin")

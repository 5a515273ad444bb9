"""Where Swift credentials come from, in which order, and that secrets stay out of reprs and errors."""

from __future__ import annotations

import pickle

import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.auth import Anonymous, Keystone, Preauthenticated, TempAuth, resolve_auth

RC_FILE = {  # what `source project-openrc.sh` of an OpenStack cloud (as CSC Allas) exports
    "OS_AUTH_URL": "https://pouta.example.org:5001/v3",
    "OS_USERNAME": "alice",
    "OS_PASSWORD": "s3cret-rc",
    "OS_PROJECT_NAME": "project_2001234",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_ID": "default",
    "OS_REGION_NAME": "regionOne",
    "OS_INTERFACE": "public",
}
V1 = {"ST_AUTH": "http://h/auth/v1.0", "ST_USER": "test:tester", "ST_KEY": "s3cret-st"}
PREAUTH = {"OS_STORAGE_URL": "https://h/v1/AUTH_a", "OS_AUTH_TOKEN": "s3cret-token"}


def test_explicit_options_win_over_the_environment() -> None:
    auth = resolve_auth({"auth_url": "http://h/auth/v1.0", "user": "u", "key": "s3cret"}, RC_FILE | V1)
    assert isinstance(auth, TempAuth)
    assert auth.settings["user"] == "u"


def test_environment_order_rc_file_then_st_then_token() -> None:
    keystone = resolve_auth({}, RC_FILE | V1 | PREAUTH)
    assert isinstance(keystone, Keystone)
    assert keystone.settings["project_name"] == "project_2001234"
    assert keystone.settings["project_domain_id"] == "default"
    assert keystone.settings["region_name"] == "regionOne"
    assert isinstance(resolve_auth({}, V1 | PREAUTH), TempAuth)
    token = resolve_auth({}, PREAUTH)
    assert isinstance(token, Preauthenticated)
    assert token.settings["storage_url"] == "https://h/v1/AUTH_a"
    assert isinstance(resolve_auth({}, {}), Anonymous)


def test_application_credentials_from_the_environment() -> None:
    env = {
        "OS_AUTH_URL": "https://k/v3",
        "OS_APPLICATION_CREDENTIAL_ID": "id1",
        "OS_APPLICATION_CREDENTIAL_SECRET": "s3cret-app",
        "OS_AUTH_TYPE": "v3applicationcredential",
    }
    auth = resolve_auth({}, env)
    assert isinstance(auth, Keystone)
    assert type(auth._make_plugin()).__name__ == "ApplicationCredential"


def test_keystone_plugin_gets_a_v3_url() -> None:
    auth = resolve_auth(
        {"auth_url": "https://k:5000", "username": "u", "password": "p", "project_name": "x"}, {}
    )
    plugin = auth._make_plugin()
    assert type(plugin).__name__ == "Password"
    assert plugin.auth_url == "https://k:5000/v3"


def test_anon_forces_anonymous_even_with_credentials() -> None:
    assert isinstance(resolve_auth({"anon": True}, RC_FILE), Anonymous)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auth_url": "http://h/auth/v1.0"}, "without credentials"),
        ({"user": "u", "key": "k"}, "need 'auth_url'"),
        ({"auth_url": "http://h/auth/v1.0", "user": "u"}, "need 'key'"),
    ],
)
def test_incomplete_credentials_are_a_value_error(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_auth(options, {})


def test_unknown_storage_option_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown Swift storage options: \\['pasword'\\]"):
        SwiftFileSystem(auth_url="http://h/v3", username="u", pasword="p", skip_instance_cache=True)


@pytest.mark.parametrize(
    "options",
    [
        {"auth_url": "http://h/auth/v1.0", "user": "u", "key": "s3cret"},
        {"auth_url": "http://h/v3", "username": "u", "password": "s3cret", "project_name": "p"},
        {
            "auth_url": "http://h/v3",
            "application_credential_id": "i",
            "application_credential_secret": "s3cret",
        },
        {"token": "s3cret", "storage_url": "http://h/v1/AUTH_a"},
    ],
)
def test_secrets_never_in_repr(options: dict) -> None:
    fs = SwiftFileSystem(skip_instance_cache=True, **options)
    assert "s3cret" not in repr(fs)
    assert "s3cret" not in repr(fs.client.auth)


def test_filesystem_pickles_without_connections() -> None:
    fs = SwiftFileSystem(auth_url="http://h/auth/v1.0", user="u", key="k", segment_size=2**20)
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.upload_part_size == 2**20
    assert clone.client._session is None
    assert clone.storage_options == fs.storage_options


@pytest.mark.parametrize(
    ("name", "value"), [("segment_size", 0), ("listing_limit", "10"), ("concurrency", -1)]
)
def test_bad_tuning_values(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        SwiftFileSystem(anon=True, skip_instance_cache=True, **{name: value})

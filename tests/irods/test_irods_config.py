"""Connection settings, credentials and bad input on ``irods://``."""

from __future__ import annotations

import pickle

import fsspec
import pytest

from fsspec_research.irods import IRODSFileSystem
from fsspec_research.irods.config import resolve_account
from fsspec_research.testing import irods_server


def test_the_environment_file_and_irodsA_are_used(irods, tmp_path, monkeypatch):
    env_file = irods.write_env(str(tmp_path), user="alice")
    monkeypatch.setenv("IRODS_ENVIRONMENT_FILE", env_file)
    fs = IRODSFileSystem(skip_instance_cache=True)
    try:
        assert fs.client.account.user == "alice" and fs.client.account.password == irods.users["alice"]
        home = f"/{irods.zone}/home/alice"
        assert fs.isdir(home)
        with fsspec.open(f"irods://{home}/env.txt", "wb") as f:
            f.write(b"through the environment file")
        assert fs.cat_file(f"{home}/env.txt") == b"through the environment file"
        fs.rm(f"{home}/env.txt")
    finally:
        fs.close()


def test_url_user_and_storage_options_override_the_environment_file(irods, tmp_path):
    env_file = irods.write_env(str(tmp_path), user="alice")
    account = resolve_account(
        {"irods_env_file": env_file, "user": "bob", "password": irods.users["bob"], "port": irods.port}, {}
    )
    assert account.user == "bob" and account.password == irods.users["bob"]
    kwargs = IRODSFileSystem._get_kwargs_from_urls(f"irods://carol@example.org:2247/{irods.zone}/x")
    assert kwargs == {"host": "example.org", "port": 2247, "user": "carol"}


def test_a_missing_environment_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.json"):
        IRODSFileSystem(irods_env_file=str(tmp_path / "nowhere.json"), skip_instance_cache=True)


def test_missing_settings_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IRODS_ENVIRONMENT_FILE", raising=False)
    with pytest.raises(ValueError, match="host"):
        IRODSFileSystem(user="alice", zone="z", skip_instance_cache=True)


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="colour"):
        IRODSFileSystem(host="h", port=1, user="u", zone="z", password="p", colour="red")


def test_wrong_password_and_unknown_user_are_permission_errors(irods, login):
    bad = login({**irods.storage_options, "password": "not-the-password"})
    with pytest.raises(PermissionError) as caught:
        bad.ls(f"/{irods.zone}/home/alice")
    assert "not-the-password" not in str(caught.value)
    nobody = login({**irods.storage_options, "user": "mallory"})
    with pytest.raises(PermissionError):
        nobody.ls(f"/{irods.zone}/home")


def test_secrets_stay_out_of_repr_and_pickles_rebuild_lazily(irods, fs, root):
    assert irods.users["alice"] not in repr(fs) and "alice@" in repr(fs)
    fs.pipe(f"{root}/p.txt", b"pickled")
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.cat_file(f"{root}/p.txt") == b"pickled"
    clone.close()


def test_a_path_outside_the_zone_is_not_found(fs):
    with pytest.raises(FileNotFoundError, match="otherZone"):
        fs.ls("/otherZone/home")


def test_ssl_negotiation_and_a_missing_ca_file(tmp_path, login):
    with irods_server(ssl=True) as srv:
        fs = login(srv.storage_options)
        try:
            path = f"{fs._strip_protocol(srv.root)}/over-tls.bin"
            fs.pipe(path, b"encrypted on the wire")
            assert fs.cat_file(path) == b"encrypted on the wire"
        finally:
            fs.close()
        with pytest.raises(FileNotFoundError, match=r"missing\.pem"):
            login({**srv.storage_options, "ssl_ca_certificate_file": str(tmp_path / "missing.pem")})

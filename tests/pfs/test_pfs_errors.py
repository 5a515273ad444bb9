"""Bad input and faults on ``pfs://``: clear builtin exceptions, retries of transient faults."""

from __future__ import annotations

import pytest

from fsspec_research.testing import pfs_server

pytestmark = pytest.mark.timeout(120)


def test_unknown_repo_branch_and_commit(fs, repo, root):
    with pytest.raises(FileNotFoundError, match="nope"):
        fs.cat_file("nope@master/x")
    with pytest.raises(FileNotFoundError, match="nobranch"):
        fs.ls(f"{repo}@nobranch")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{repo}@{'0' * 12}4{'0' * 19}")


def test_no_connection_settings_and_unknown_options(monkeypatch, tmp_path, login):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PACH_CONFIG", raising=False)
    with pytest.raises(ValueError, match="host and port"):
        login({})
    with pytest.raises(ValueError, match="colour"):
        login({"host": "127.0.0.1", "port": 1, "colour": "red"})


def test_the_pachctl_config_is_read(pfs, tmp_path, monkeypatch, login):
    config = tmp_path / "config.json"
    config.write_text(
        '{"v2": {"active_context": "local", "contexts": {"local": '
        f'{{"pachd_address": "grpc://{pfs.host}:{pfs.port}"}}}}}}}}'
    )
    monkeypatch.setenv("PACH_CONFIG", str(config))
    fs = login({})
    try:
        assert "test" in fs.ls("", detail=False)
    finally:
        fs.close()


def test_tokens_and_tls():
    with pfs_server(auth_token="s3cret", tls=True) as srv:
        from fsspec_research.pfs import PFSFileSystem

        good = PFSFileSystem(skip_instance_cache=True, **srv.storage_options)
        assert "test" in good.ls("", detail=False)
        assert "s3cret" not in repr(good)
        bad = PFSFileSystem(skip_instance_cache=True, **{**srv.storage_options, "auth_token": "wrong"})
        with pytest.raises(PermissionError):
            bad.ls("")
        plain = PFSFileSystem(skip_instance_cache=True, host=srv.host, port=srv.port, auth_token="s3cret")
        with pytest.raises(ConnectionError):
            plain.ls("")
        for fs in (good, bad, plain):
            fs.close()


def test_a_stream_aborted_midway_is_retried(pfs, fs, root):
    data = bytes(range(256)) * 4096
    fs.pipe(f"{root}/f.bin", data)
    pfs.inject("GetFile", "abort_midstream", count=1)
    assert fs.cat_file(f"{root}/f.bin") == data


def test_a_server_that_is_gone_gives_a_connection_error(login):
    with pfs_server() as srv:
        options = srv.storage_options
    fs = login(options, timeout=2, retries={"retries": 1, "backoff": 0.01})
    with pytest.raises(ConnectionError):
        fs.ls("")
    fs.close()

"""Endpoint, region and credential discovery of ``s3r://``, and its research-cloud checksum defaults."""

from __future__ import annotations

import pickle
from pathlib import Path

import fsspec
import pytest
import s3fs

from fsspec_research.s3 import PRESETS, ResearchS3FileSystem, resolve_settings
from fsspec_research.testing import S3ServerHandle

WHEN_REQUIRED = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}

# as `allas-conf --mode s3cmd` writes it (values made up)
ALLAS_S3CFG = """[default]
access_key = 0123456789abcdef0123456789abcdef
secret_key = fedcba9876543210fedcba9876543210
host_base = a3s.fi
host_bucket = %(bucket)s.a3s.fi
use_https = True
check_ssl_certificate = True
signature_v2 = False
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_protocol_is_s3r_and_s3_stays_s3fs() -> None:
    assert fsspec.get_filesystem_class("s3r") is ResearchS3FileSystem
    assert fsspec.get_filesystem_class("s3") is s3fs.S3FileSystem
    assert ResearchS3FileSystem._strip_protocol("s3r://bucket/key/") == "bucket/key"
    fs, path = fsspec.core.url_to_fs("s3r://bucket/a/b.nc", key="k", secret="s", endpoint_url="http://x")
    assert isinstance(fs, ResearchS3FileSystem) and path == "bucket/a/b.nc"
    assert fs.unstrip_protocol(path) == "s3r://bucket/a/b.nc"


def test_allas_preset() -> None:
    s = resolve_settings(preset="allas", key="k", secret="s", environ={}, home="/nonexistent")
    assert s.endpoint_url == "https://a3s.fi" == PRESETS["allas"].endpoint_url
    assert s.region_name == "us-east-1"
    assert s.config_kwargs == WHEN_REQUIRED
    with pytest.raises(ValueError, match="unknown S3 preset 'nope'; known: allas"):
        resolve_settings(preset="nope", environ={}, home="/nonexistent")


def test_s3cfg_as_allas_conf_writes_it(tmp_path: Path) -> None:
    write(tmp_path / ".s3cfg", ALLAS_S3CFG)
    s = resolve_settings(environ={}, home=tmp_path)
    assert s.key == "0123456789abcdef0123456789abcdef"
    assert s.secret == "fedcba9876543210fedcba9876543210"
    assert s.endpoint_url == "https://a3s.fi" and s.region_name == "us-east-1"
    assert s.source == f"s3cmd config {tmp_path / '.s3cfg'}"
    assert s.config_kwargs == WHEN_REQUIRED
    assert "fedcba" not in repr(s)  # the secret is not in the settings' repr


def test_s3cfg_named_explicitly_or_by_variable(tmp_path: Path) -> None:
    cfg = write(tmp_path / "elsewhere.cfg", ALLAS_S3CFG.replace("use_https = True", "use_https = False"))
    assert resolve_settings(s3cfg=cfg, environ={}, home=tmp_path).endpoint_url == "http://a3s.fi"
    by_var = resolve_settings(environ={"S3CMD_CONFIG": str(cfg)}, home=tmp_path)
    assert by_var.key == "0123456789abcdef0123456789abcdef"
    with pytest.raises(FileNotFoundError, match=r"missing\.cfg"):
        resolve_settings(s3cfg=tmp_path / "missing.cfg", environ={}, home=tmp_path)


def test_aws_profiles(tmp_path: Path) -> None:
    write(
        tmp_path / ".aws" / "credentials",
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = sdefault\n"
        "[lumi]\naws_access_key_id = AKLUMI\naws_secret_access_key = slumi\n",
    )
    write(
        tmp_path / ".aws" / "config",
        "[default]\nregion = eu-north-1\n[profile lumi]\nendpoint_url = https://lumidata.eu\nregion = lumi\n",
    )
    default = resolve_settings(environ={}, home=tmp_path)
    assert (default.key, default.region_name, default.endpoint_url) == ("AKDEFAULT", "eu-north-1", None)
    assert default.config_kwargs == {}  # AWS itself keeps botocore's checksum defaults
    lumi = resolve_settings(profile="lumi", environ={}, home=tmp_path)
    assert (lumi.key, lumi.endpoint_url, lumi.region_name) == ("AKLUMI", "https://lumidata.eu", "lumi")
    assert lumi.source == "AWS profile 'lumi'" and lumi.config_kwargs == WHEN_REQUIRED
    assert resolve_settings(environ={"AWS_PROFILE": "lumi"}, home=tmp_path).key == "AKLUMI"
    with pytest.raises(ValueError, match="AWS profile 'missing' not found"):
        resolve_settings(profile="missing", environ={}, home=tmp_path)


def test_environment_variables_and_their_order(tmp_path: Path) -> None:
    write(tmp_path / ".s3cfg", ALLAS_S3CFG)
    env = {"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "senv", "AWS_SESSION_TOKEN": "tok"}
    s = resolve_settings(environ=env, home=tmp_path)
    assert (s.key, s.token, s.source) == ("AKENV", "tok", "environment (AWS_ACCESS_KEY_ID)")
    env["AWS_ENDPOINT_URL_S3"] = "https://object.example.org"
    assert resolve_settings(environ=env, home=tmp_path).endpoint_url == "https://object.example.org"
    gdal = resolve_settings(
        environ={**env, "AWS_ENDPOINT_URL_S3": "", "AWS_S3_ENDPOINT": "a3s.fi"}, home=tmp_path
    )
    assert gdal.endpoint_url == "https://a3s.fi"
    # explicit options beat everything
    mine = resolve_settings(
        key="k", secret="s", endpoint_url="http://127.0.0.1:1", environ=env, home=tmp_path
    )
    assert (mine.key, mine.endpoint_url, mine.source) == ("k", "http://127.0.0.1:1", "storage_options")
    with pytest.raises(ValueError, match="both key and secret"):
        resolve_settings(key="k", environ={}, home=tmp_path)


@pytest.mark.parametrize(
    "env, key, endpoint",
    [
        ({"OS_ACCESS_KEY": "osk", "OS_SECRET_KEY": "oss"}, "osk", None),
        (
            {"EC2_ACCESS_KEY": "eck", "EC2_SECRET_KEY": "ecs", "S3_URL": "https://object.pouta.example:443"},
            "eck",
            "https://object.pouta.example:443",
        ),
    ],
)
def test_openstack_ec2_credentials(tmp_path: Path, env: dict, key: str, endpoint: str | None) -> None:
    s = resolve_settings(environ=env, home=tmp_path)
    assert s.key == key and s.endpoint_url == endpoint
    assert s.source.startswith("OpenStack EC2 credentials")


def test_checksum_defaults_only_off_aws_and_overridable(tmp_path: Path) -> None:
    aws = resolve_settings(
        key="k", secret="s", endpoint_url="https://s3.eu-north-1.amazonaws.com", environ={}
    )
    assert aws.config_kwargs == {} and aws.aws
    ceph = resolve_settings(key="k", secret="s", endpoint_url="https://rgw.example.org", environ={})
    assert ceph.config_kwargs == WHEN_REQUIRED and not ceph.aws
    forced = resolve_settings(
        key="k", secret="s", endpoint_url="https://rgw.example.org", environ={},
        config_kwargs={"request_checksum_calculation": "when_supported"},
    )  # fmt: skip
    assert forced.config_kwargs["request_checksum_calculation"] == "when_supported"
    assert forced.config_kwargs["response_checksum_validation"] == "when_required"
    by_env = resolve_settings(
        key="k", secret="s", endpoint_url="https://rgw.example.org",
        environ={"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_SUPPORTED"},
    )  # fmt: skip
    assert "request_checksum_calculation" not in by_env.config_kwargs  # botocore reads the variable


def test_the_botocore_client_gets_the_settings(s3: S3ServerHandle, login) -> None:
    fs = login(s3.storage_options)
    fs.connect()
    config = fs.s3.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.max_pool_connections >= fs.concurrency  # room for the core's parallel reads
    assert fs.s3.meta.region_name == "us-east-1"
    assert fs.s3.meta.endpoint_url == s3.endpoint_url


def test_credentials_from_a_temporary_home_s3cfg(s3: S3ServerHandle, tmp_path: Path, monkeypatch) -> None:
    """An ~/.s3cfg naming the moto server is all the filesystem needs: no options at all."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "S3CMD_CONFIG",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    host = s3.endpoint_url.split("://")[1]
    opts = s3.storage_options
    cfg = f"[default]\naccess_key = {opts['key']}\nsecret_key = {opts['secret']}\nhost_base = {host}\n"
    write(tmp_path / ".s3cfg", cfg + f"host_bucket = {host}\nuse_https = False\n")
    fs = ResearchS3FileSystem(skip_instance_cache=True)
    assert fs.settings.source == f"s3cmd config {tmp_path / '.s3cfg'}"
    assert fs.settings.endpoint_url == s3.endpoint_url
    path = f"{s3.bucket}/from-s3cfg.txt"
    fs.pipe(path, b"configured by ~/.s3cfg")
    assert fs.cat(path) == b"configured by ~/.s3cfg"
    fs.rm(path)


def test_repr_and_pickle_keep_secrets_out_of_sight(s3: S3ServerHandle, login) -> None:
    fs = login(s3.storage_options, secret="a-very-secret-value", concurrency=7)
    assert "a-very-secret-value" not in repr(fs) and "a-very-secret-value" not in repr(fs.settings)
    assert repr(fs) == (
        f"ResearchS3FileSystem(endpoint_url='{s3.endpoint_url}', region='us-east-1', "
        "credentials='storage_options')"
    )
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.concurrency == 7 and clone.settings.endpoint_url == s3.endpoint_url
    assert clone.default_cache_type == "parallel" and clone.default_block_size == 4 * 2**20

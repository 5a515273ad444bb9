"""Endpoint, region and credentials of an ``s3r://`` filesystem: presets, the tools' own files, variables.

Credentials, first complete source wins:

1. storage_options ``key``/``secret`` (and ``token``), or ``anon=True`` for unsigned requests;
2. ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``);
3. an AWS profile: ``profile=`` or ``AWS_PROFILE`` (else ``default`` when it exists) from
   ``~/.aws/credentials`` and ``~/.aws/config`` (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``),
   with the profile's ``region`` and ``endpoint_url``;
4. s3cmd's ``~/.s3cfg`` (``s3cfg=`` or ``S3CMD_CONFIG``), as CSC's ``allas-conf --mode s3cmd`` writes it:
   ``access_key``, ``secret_key``, ``host_base`` and ``use_https`` give credentials and endpoint;
5. OpenStack EC2 credentials: ``OS_ACCESS_KEY``/``OS_SECRET_KEY``, or ``EC2_ACCESS_KEY``/``EC2_SECRET_KEY``
   with ``S3_URL`` as Horizon's ``ec2rc.sh`` exports them.

Without any, botocore's own chain runs (instance roles and the like). The endpoint is, in order: the
``endpoint_url`` option, a ``preset``, the credential source's own endpoint, ``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``AWS_S3_ENDPOINT`` (GDAL's); none means AWS itself.

Research clouds (any endpoint not on ``amazonaws.com``) get botocore's integrity checksums only where an
operation requires them (``request_checksum_calculation`` and ``response_checksum_validation`` set to
``when_required``): since botocore 1.36 the default sends CRC checksums and ``aws-chunked`` bodies that
Ceph RGW, MinIO and other S3 implementations reject. ``config_kwargs`` and botocore's
``AWS_REQUEST_CHECKSUM_CALCULATION``/``AWS_RESPONSE_CHECKSUM_VALIDATION`` variables override it. Under
``when_required`` the operations that must carry a checksum (``DeleteObjects``) send Content-MD5, which
every S3 implementation accepts, instead of botocore's CRC32.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["PRESETS", "Preset", "S3Settings", "is_aws", "resolve_settings"]


@dataclass(frozen=True)
class Preset:
    """A named research S3 service: where it is and what its clients should send."""

    endpoint_url: str
    region_name: str = "us-east-1"
    description: str = ""


PRESETS: dict[str, Preset] = {
    "allas": Preset("https://a3s.fi", "us-east-1", "CSC Allas (Ceph RGW), S3 side of the Swift service"),
}

CHECKSUM_OPTIONS = ("request_checksum_calculation", "response_checksum_validation")
_CHECKSUM_ENV = ("AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")
_AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


@dataclass
class S3Settings:
    """Resolved connection settings; ``secret`` and ``token`` never appear in its repr."""

    endpoint_url: str | None
    region_name: str | None
    key: str | None = None
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "botocore default chain"  #: where the credentials came from (names, never values)
    anon: bool = False
    config_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def aws(self) -> bool:
        return is_aws(self.endpoint_url)

    def s3fs_kwargs(self, client_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` (the ``anon`` flag is passed separately)."""
        client = dict(client_kwargs or {})
        if self.region_name and not client.get("region_name"):
            client["region_name"] = self.region_name
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "token": self.token,
            "client_kwargs": client,
            "config_kwargs": dict(self.config_kwargs),
        }


def is_aws(endpoint_url: str | None) -> bool:
    """Whether requests go to AWS S3 itself (no endpoint, or one on an AWS domain)."""
    if not endpoint_url:
        return True
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host == "amazonaws.com" or host.endswith(_AWS_SUFFIXES)


def _endpoint(host: str, https: bool = True) -> str:
    """An endpoint URL from ``host[:port]`` or a URL."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"{'https' if https else 'http'}://{host}"


def _truthy(value: str | None, default: bool = True) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)  # s3cfg has %(bucket)s templates
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ValueError(f"{path}: not a valid INI file ({type(exc).__name__})") from None
    return parser


@dataclass
class _Found:
    key: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = ""
    endpoint_url: str | None = None
    region_name: str | None = None


def _from_env_aws(env: Mapping[str, str]) -> _Found | None:
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return _Found(key, secret, env.get("AWS_SESSION_TOKEN"), "environment (AWS_ACCESS_KEY_ID)")
    return None


def _aws_files(env: Mapping[str, str], home: Path) -> tuple[Path, Path]:
    creds = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials").expanduser()
    config = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config").expanduser()
    return creds, config


def _from_profile(env: Mapping[str, str], home: Path, profile: str | None) -> _Found | None:
    name = profile or env.get("AWS_PROFILE")
    creds_path, config_path = _aws_files(env, home)
    creds, config = _read_ini(creds_path), _read_ini(config_path)
    config_section = "default" if (name or "default") == "default" else f"profile {name}"
    values: dict[str, str] = {}
    if config.has_section(config_section):
        values.update(config[config_section])
    if creds.has_section(name or "default"):
        values.update(creds[name or "default"])
    if not values:
        if name:
            raise ValueError(f"AWS profile {name!r} not found in {creds_path} or {config_path}")
        return None
    key, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
    if not (key and secret):
        if name:
            raise ValueError(f"AWS profile {name!r} has no aws_access_key_id/aws_secret_access_key")
        return None
    return _Found(
        key,
        secret,
        values.get("aws_session_token"),
        f"AWS profile {name or 'default'!r}",
        values.get("endpoint_url") or None,
        values.get("region") or None,
    )


def _from_s3cfg(env: Mapping[str, str], home: Path, s3cfg: str | os.PathLike | None) -> _Found | None:
    path = Path(s3cfg or env.get("S3CMD_CONFIG") or home / ".s3cfg").expanduser()
    if s3cfg and not path.is_file():
        raise FileNotFoundError(f"s3cmd configuration {path} does not exist")
    parser = _read_ini(path)
    if not parser.has_section("default"):
        return None
    cfg = parser["default"]
    key, secret = cfg.get("access_key", "").strip(), cfg.get("secret_key", "").strip()
    if not (key and secret):
        return None
    host = cfg.get("host_base", "").strip()
    endpoint = _endpoint(host, _truthy(cfg.get("use_https"))) if host else None
    location = cfg.get("bucket_location", "").strip()
    region = location if location and location.upper() not in ("US", "EU") else None
    return _Found(
        key, secret, cfg.get("access_token", "").strip() or None, f"s3cmd config {path}", endpoint, region
    )


def _from_openstack(env: Mapping[str, str]) -> _Found | None:
    for key_var, secret_var in (("OS_ACCESS_KEY", "OS_SECRET_KEY"), ("EC2_ACCESS_KEY", "EC2_SECRET_KEY")):
        key, secret = env.get(key_var), env.get(secret_var)
        if key and secret:
            endpoint = env.get("S3_URL") or None
            return _Found(key, secret, None, f"OpenStack EC2 credentials ({key_var})", endpoint)
    return None


def _env_endpoint(env: Mapping[str, str]) -> str | None:
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if env.get(var):
            return _endpoint(env[var])
    if env.get("AWS_S3_ENDPOINT"):  # GDAL's: a host, https unless AWS_HTTPS=NO
        return _endpoint(env["AWS_S3_ENDPOINT"], _truthy(env.get("AWS_HTTPS")))
    return None


def resolve_settings(
    *,
    endpoint_url: str | None = None,
    key: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    region_name: str | None = None,
    anon: bool = False,
    preset: str | None = None,
    profile: str | None = None,
    s3cfg: str | os.PathLike | None = None,
    config_kwargs: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike | None = None,
) -> S3Settings:
    """Settings from explicit options, then a preset, credential sources and variables (see the module)."""
    env = os.environ if environ is None else environ
    home_dir = Path(home) if home is not None else Path(env.get("HOME") or Path.home())
    chosen: Preset | None = None
    if preset is not None:
        chosen = PRESETS.get(preset.lower())
        if chosen is None:
            raise ValueError(f"unknown S3 preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    if (key is None) != (secret is None):
        raise ValueError("give both key and secret, or neither")

    found: _Found | None = None
    source = "anonymous" if anon else "botocore default chain"
    if key is not None and secret is not None:
        found = _Found(key, secret, token, "storage_options")
    elif not anon:
        if profile is not None:
            found = _from_profile(env, home_dir, profile)
        elif s3cfg is not None:
            found = _from_s3cfg(env, home_dir, s3cfg)
        else:
            found = (
                _from_env_aws(env)
                or _from_profile(env, home_dir, None)
                or _from_s3cfg(env, home_dir, None)
                or _from_openstack(env)
            )
    if found is not None:
        source = found.source

    endpoint = (
        endpoint_url
        or (chosen.endpoint_url if chosen else None)
        or (found.endpoint_url if found else None)
        or _env_endpoint(env)
    )
    region = (
        region_name
        or (chosen.region_name if chosen else None)
        or (found.region_name if found else None)
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or (None if is_aws(endpoint) else "us-east-1")
    )
    config = dict(config_kwargs or {})
    if not is_aws(endpoint):
        for option, var in zip(CHECKSUM_OPTIONS, _CHECKSUM_ENV):
            if not env.get(var):
                config.setdefault(option, "when_required")
    return S3Settings(
        endpoint_url=endpoint,
        region_name=region,
        key=found.key if found else None,
        secret=found.secret if found else None,
        token=found.token if found else None,
        source=source,
        anon=anon,
        config_kwargs=config,
    )

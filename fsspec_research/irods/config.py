"""Where an ``irods://`` filesystem connects, and as whom.

Settings come, lowest precedence first, from the iRODS environment file (``irods_env_file``, else
``$IRODS_ENVIRONMENT_FILE``, else ``~/.irods/irods_environment.json``) with its ``.irodsA`` password,
then the URL's ``user@host:port``, then storage options.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Account", "resolve_account"]

#: storage options and the environment-file keys they set
_OPTION_KEYS = {
    "host": "irods_host",
    "port": "irods_port",
    "user": "irods_user_name",
    "zone": "irods_zone_name",
    "authentication_scheme": "irods_authentication_scheme",
    "default_resource": "irods_default_resource",
    "ssl_ca_certificate_file": "irods_ssl_ca_certificate_file",
    "ssl_verify_server": "irods_ssl_verify_server",
    "client_server_policy": "irods_client_server_policy",
    "client_server_negotiation": "irods_client_server_negotiation",
    "encryption_algorithm": "irods_encryption_algorithm",
    "encryption_key_size": "irods_encryption_key_size",
    "encryption_num_hash_rounds": "irods_encryption_num_hash_rounds",
    "encryption_salt_size": "irods_encryption_salt_size",
}
ACCOUNT_OPTIONS = (*_OPTION_KEYS, "password", "irods_env_file", "ticket")
_REQUIRED = ("irods_host", "irods_port", "irods_user_name", "irods_zone_name")


@dataclass(frozen=True)
class Account:
    """A resolved iRODS login; :meth:`session_kwargs` are ``iRODSSession``'s keyword arguments."""

    settings: dict[str, Any]
    password: str | None = field(default=None, repr=False)
    ticket: str | None = field(default=None, repr=False)
    env_file: str | None = None

    @property
    def user(self) -> str:
        return self.settings["irods_user_name"]

    @property
    def zone(self) -> str:
        return self.settings["irods_zone_name"]

    @property
    def host(self) -> str:
        return self.settings["irods_host"]

    def session_kwargs(self) -> dict[str, Any]:
        kwargs = {k: v for k, v in self.settings.items() if k.startswith("irods_")}
        kwargs["irods_port"] = int(kwargs["irods_port"])
        kwargs["password"] = self.password or ""
        return kwargs

    def __repr__(self) -> str:
        where = f"{self.user}@{self.host}:{self.settings['irods_port']}/{self.zone}"
        return f"Account({where}{', ticket' if self.ticket else ''})"


def resolve_account(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Account:
    """The account for ``options`` (storage options plus ``host``/``port``/``user`` from a URL)."""
    env_file = options.get("irods_env_file") or environ.get("IRODS_ENVIRONMENT_FILE")
    explicit = env_file is not None
    env_file = os.path.expanduser(env_file or "~/.irods/irods_environment.json")
    settings: dict[str, Any] = {}
    if os.path.exists(env_file):
        settings.update(_read_env_file(env_file))
    elif explicit:
        raise FileNotFoundError(2, "iRODS environment file not found", env_file)
    else:
        env_file = None
    for option, key in _OPTION_KEYS.items():
        if options.get(option) is not None:
            settings[key] = options[option]
    settings.update({k: v for k, v in options.items() if k.startswith("irods_") and k != "irods_env_file"})
    missing = [k for k in _REQUIRED if settings.get(k) in (None, "")]
    if missing:
        names = ", ".join(k.removeprefix("irods_").replace("_name", "") for k in missing)
        where = env_file or "no iRODS environment file (~/.irods/irods_environment.json)"
        raise ValueError(f"iRODS connection settings missing: {names} (from {where} and storage_options)")
    ca_file = settings.get("irods_ssl_ca_certificate_file")
    if ca_file and not os.path.exists(os.path.expanduser(ca_file)):
        raise FileNotFoundError(2, "iRODS SSL CA certificate file not found", ca_file)
    password = options.get("password")
    if password is None and settings["irods_user_name"] != "anonymous":
        password = _read_auth_file(env_file, environ)
    return Account(settings, password, options.get("ticket"), env_file)


def _read_env_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable iRODS environment file ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an iRODS environment file holds a JSON object")
    return data


def _read_auth_file(env_file: str | None, environ: Mapping[str, str]) -> str | None:
    """The password scrambled in ``.irodsA`` (beside the environment file, as iCommands keep it)."""
    path = environ.get("IRODS_AUTHENTICATION_FILE")
    if path is None:
        folder = os.path.dirname(env_file) if env_file else os.path.expanduser("~/.irods")
        path = os.path.join(folder, ".irodsA")
    if not os.path.exists(path):
        return None
    from irods.password_obfuscation import decode

    with open(path, encoding="utf-8") as f:
        return decode(f.read().rstrip("\n"))

"""The pachd address from the pachctl config, as python-pachyderm reads it (without its default host)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

__all__ = ["from_pachctl_config"]


def from_pachctl_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``host``, ``port``, ``tls``, ``auth_token`` and ``root_certs`` of the active pachctl context.

    The config is ``$PACH_CONFIG``, else ``~/.pachyderm/config.json``; ``$PACH_PYTHON_AUTH_TOKEN`` supplies a
    token the context lacks. Raises ValueError naming what is missing rather than guessing a host.
    """
    environ = os.environ if environ is None else environ
    path = environ.get("PACH_CONFIG") or os.path.expanduser("~/.pachyderm/config.json")
    if not os.path.exists(path):
        raise ValueError(f"PFS connection settings missing: give host and port (no pachctl config at {path})")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    contexts = config.get("v2", {}).get("contexts", {})
    name = config.get("v2", {}).get("active_context")
    context = contexts.get(name) if name else None
    if not context or not context.get("pachd_address"):
        raise ValueError(f"{path}: the active pachctl context has no pachd_address")
    address = context["pachd_address"]
    scheme, _, rest = address.partition("://") if "://" in address else ("grpc", "", address)
    host, _, port = rest.rpartition(":")
    settings: dict[str, Any] = {"host": host or rest, "port": int(port or 30650)}
    settings["tls"] = scheme in ("grpcs", "https")
    token = context.get("session_token") or environ.get("PACH_PYTHON_AUTH_TOKEN")
    if token:
        settings["auth_token"] = token
    if context.get("server_cas"):
        settings["root_certs"] = base64.b64decode(context["server_cas"])
        settings["tls"] = True
    return settings

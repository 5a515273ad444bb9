"""The handle a running :func:`swift_server` yields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .._handle import ServerHandle


@dataclass
class SwiftServerHandle(ServerHandle):
    """Where a running Swift is and how to log in.

    ``storage_options``/``root``/``host``/``account``/``storage_url``/``proxy_port`` belong to the proxy the
    default identity logs in to: tempauth's ``test:tester``, or Keystone's ``tester`` when started with
    ``keystone=True`` (the tempauth proxy keeps running then; see ``tempauth_*``). ``users`` maps tempauth
    user names (``tester``, ``tester2``, ``tester3``, ``admin``) to their storage_options; ``keystone`` is
    ``None`` or holds ``auth_url``, ``admin_password``, ``project_id``/``project_id2`` (projects ``test`` and
    ``test2``), ``storage_url``/``storage_url2`` and ``users`` (``tester``, ``tester2``, ``tester3``
    with only the reader role). ``s3`` holds botocore/s3fs settings for the tempauth proxy's s3api.
    """

    host: str
    account: str
    storage_url: str
    proxy_port: int
    scheme: str
    ca_file: str | None
    directory: str
    log_file: str
    users: dict[str, dict[str, Any]]
    tempauth_storage_options: dict[str, Any]
    tempauth_root: str
    tempauth_storage_url: str
    s3: dict[str, Any]
    keystone: dict[str, Any] | None = field(default=None, repr=False)

    def create_application_credential(self, user: str = "tester", name: str | None = None) -> tuple[str, str]:
        """Create a Keystone application credential for ``user``; returns ``(id, secret)``."""
        if self.keystone is None:
            raise RuntimeError("started without keystone=True")
        from .keystone import create_application_credential

        return create_application_credential(self.keystone["users"][user], name)

    def to_dict(self, secrets: bool = False) -> dict[str, Any]:
        """The fields as plain data; the keystone admin password only with ``secrets=True``."""
        data = asdict(self)
        if data["keystone"] is not None and not secrets:
            data["keystone"].pop("admin_password")
        return data

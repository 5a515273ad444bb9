"""The handle a running :func:`irods_server` yields."""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._handle import ServerHandle
from .obfuscation import encode_irodsA

if TYPE_CHECKING:
    from irods.session import iRODSSession

    from .server import Fault, Server

SSL_OPTIONS = {
    "client_server_negotiation": "request_server_negotiation",
    "client_server_policy": "CS_NEG_REQUIRE",
    "encryption_algorithm": "AES-256-CBC",
    "encryption_key_size": 32,
    "encryption_num_hash_rounds": 16,
    "encryption_salt_size": 8,
}


@dataclass
class IRODSServerHandle(ServerHandle):
    """Where a running iRODS protocol server is and how to log in.

    ``users`` maps user names to passwords: ``rods`` is the rodsadmin, the others are rodsusers with homes
    ``/<zone>/home/<name>``. ``storage_options`` log in as the first rodsuser (``alice``); with ``ssl=True``
    they carry python-irodsclient's negotiation settings and ``ssl_ca_certificate_file``.
    """

    host: str
    port: int
    zone: str
    version: str
    users: dict[str, str]
    ca_file: str | None
    directory: str
    server: Server = field(repr=False)
    owns_directory: bool = field(default=False, repr=False)  # a temporary directory, removed on stop

    def options_for(self, user: str = "alice") -> dict[str, Any]:
        """Keyword arguments for ``iRODSSession`` (and the fsspec filesystem) logging in as ``user``."""
        opts: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": user,
            "zone": self.zone,
            "password": self.users.get(user, ""),
        }
        if self.ca_file:
            opts.update(SSL_OPTIONS, ssl_ca_certificate_file=self.ca_file)
        return opts

    def write_env(self, directory: str | os.PathLike[str], user: str = "alice") -> str:
        """Write ``irods_environment.json`` and an obfuscated ``.irodsA`` (as iCommands do) in ``directory``.

        Returns the environment file's path. Point ``IRODS_ENVIRONMENT_FILE`` and
        ``IRODS_AUTHENTICATION_FILE`` at the two files (or use ``~/.irods`` as ``directory``).
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        env: dict[str, Any] = {
            "irods_host": self.host,
            "irods_port": self.port,
            "irods_user_name": user,
            "irods_zone_name": self.zone,
            "irods_authentication_scheme": "native",
        }
        if self.ca_file:
            env.update({f"irods_{k}": v for k, v in SSL_OPTIONS.items()})
            env["irods_ssl_ca_certificate_file"] = self.ca_file
        path = os.path.join(directory, "irods_environment.json")
        with open(path, "w") as f:
            json.dump(env, f, indent=4)
        auth = os.path.join(directory, ".irodsA")
        fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(encode_irodsA(self.users.get(user, "")))
        return path

    @property
    def api_counts(self) -> collections.Counter[int]:
        """API numbers received since start (or :meth:`reset_counts`)."""
        return self.server.api_counts

    def reset_counts(self) -> None:
        self.server.api_counts.clear()

    def inject(self, api: int, action: Fault, count: int = 1) -> None:
        """Fault the next ``count`` requests of API ``api``.

        ``drop`` closes the socket before replying; ``half`` sends the reply header and part of its message,
        then closes (for a reply that is only a byte stream, such as a read, the cut falls inside the header,
        because python-irodsclient never returns from a truncated read payload); ``stall`` never replies.
        """
        self.server.inject(api, action, count)

    def clear_faults(self) -> None:
        """Forget the injected faults not yet taken."""
        self.server.clear_faults()

    def session(self, user: str = "alice", **kwargs: Any) -> iRODSSession:
        """A python-irodsclient session logged in as ``user``."""
        from irods.session import iRODSSession

        return iRODSSession(**{**self.options_for(user), **kwargs})

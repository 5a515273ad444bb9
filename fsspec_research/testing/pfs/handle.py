"""The handle a running :func:`pfs_server` yields."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._handle import ServerHandle

if TYPE_CHECKING:
    import python_pachyderm

    from .server import Server


@dataclass
class PFSServerHandle(ServerHandle):
    """Where a running PFS server is, how to reach it, and its test controls.

    ``storage_options`` hold ``host`` and ``port``, plus ``auth_token`` when the server requires one and
    ``tls``/``root_certs`` (PEM bytes of its self-signed certificate) when it speaks TLS.
    """

    host: str
    port: int
    root_certs: bytes | None
    auth_token: str | None
    server: Server = field(repr=False)

    def client(self, **kwargs: Any) -> python_pachyderm.Client:
        """A python-pachyderm client for this server (host and port explicit: no pachctl config lookup)."""
        import python_pachyderm

        options: dict[str, Any] = {"host": self.host, "port": self.port, "auth_token": self.auth_token}
        if self.root_certs is not None:
            options.update(root_certs=self.root_certs, tls=True)
        return python_pachyderm.Client(**{**options, **kwargs})

    def reset(self) -> None:
        """Back to the initial state: repo ``test`` with an empty ``master``; no faults, counters at zero."""
        self.server.reset()

    @property
    def rpc_counts(self) -> collections.Counter[str]:
        """Calls received per RPC method name (``"GetFile"``, ``"ModifyFile"``, ...)."""
        return self.server.rpc_counts

    def reset_counts(self) -> None:
        self.server.reset_counts()

    @property
    def bytes_sent(self) -> int:
        """Payload bytes sent in GetFile messages since start (or :meth:`reset_counts`)."""
        return self.server.bytes_sent

    def inject(self, method: str, action: str, count: int = 1) -> None:
        """Fault the next ``count`` calls of RPC ``method`` (e.g. ``"GetFile"``).

        ``unavailable``: fail with UNAVAILABLE before doing anything; ``abort_midstream``: a server stream
        sends its first message, then fails with UNAVAILABLE; ``stall``: block until the server stops (or
        60 s, or the client gives up), then fail with UNAVAILABLE.
        """
        self.server.inject(method, action, count)

"""A Pachyderm PFS gRPC server in pure Python for tests: :func:`pfs_server`.

The unmodified python-pachyderm 7.6 talks to it over TCP on 127.0.0.1. It serves ``pfs_v2.API`` as pachd
2.7 does for every PFS call that client makes (projects, repos, branches, copy-on-write commits with
ancestry references, ModifyFile, ranged GetFile, listings, globs, diffs, commit sets, SubscribeCommit), plus
``versionpb_v2.API/GetVersion`` and ``grpc.health.v1.Health``, with pachd's error texts and status codes.
Optional: an auth token (``authn-token`` metadata), TLS with a per-server self-signed certificate, a GetFile
message size. Not served: branch provenance and triggers, URL egress, transactions, the file-set RPCs.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from .handle import PFSServerHandle
from .server import Server

__all__ = ["PFSServerHandle", "pfs_server", "start", "stop"]


def start(auth_token: str | None = None, tls: bool = False, chunk_size: int | None = None) -> PFSServerHandle:
    """Start a server with repo ``test`` (project ``default``) whose ``master`` head is an empty finished
    commit; stop it with :func:`stop`. ``auth_token=True`` makes up a token."""
    if auth_token is True:
        auth_token = secrets.token_hex(16)
    server = Server(auth_token or None, tls, chunk_size)
    server.reset()
    server.start()
    options: dict = {"host": server.host, "port": server.port}
    if server.auth_token:
        options["auth_token"] = server.auth_token
    if server.cert_pem is not None:
        options.update(tls=True, root_certs=server.cert_pem)
    return PFSServerHandle(
        protocol="pfs", storage_options=options, root="pfs://test@master", host=server.host, port=server.port,
        root_certs=server.cert_pem, auth_token=server.auth_token, server=server,
    )  # fmt: skip


def stop(handle: PFSServerHandle) -> None:
    """Stop the server and join its threads."""
    handle.server.stop()


@contextlib.contextmanager
def pfs_server(
    auth_token: str | None = None, tls: bool = False, chunk_size: int | None = None
) -> Iterator[PFSServerHandle]:
    """Run a PFS server on 127.0.0.1 for the ``with`` block.

    ``auth_token``: calls must carry it as ``authn-token`` metadata (else UNAUTHENTICATED, as pachd with
    auth on); ``tls``: serve TLS with a new certificate for ``IP:127.0.0.1`` (see ``root_certs``);
    ``chunk_size``: bytes per GetFile message (default pachd's 19 MiB).
    """
    handle = start(auth_token, tls, chunk_size)
    try:
        yield handle
    finally:
        stop(handle)

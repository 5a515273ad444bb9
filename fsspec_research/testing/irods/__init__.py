"""An iRODS protocol server in pure Python for tests: :func:`irods_server`.

The unmodified python-irodsclient talks to it over TCP on 127.0.0.1: native authentication (the 4.3 JSON
flow and the legacy challenge), optional TLS after client-server negotiation, collections, data objects with
server-side descriptors and parallel transfers, GenQuery with paging, checksums, AVUs, ACLs and tickets
(both enforced), users and groups. The catalog is in memory; file contents live in a vault directory.
Behaviour that differs between server versions follows the announced one (``4.3.4`` or ``4.2.8``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from .catalog import Catalog
from .handle import IRODSServerHandle
from .server import Server

__all__ = ["IRODSServerHandle", "irods_server", "start"]

SUPPORTED_VERSIONS = ("4.3.4", "4.2.8")


def start(
    version: str = "4.3.4",
    ssl: bool = False,
    directory: str | os.PathLike[str] | None = None,
    users: Iterable[str] = ("alice", "bob"),
    zone: str = "tempZone",
    anonymous: bool = True,
) -> IRODSServerHandle:
    """Start a server (vault in ``directory``, default a new temporary one); stop it with :func:`stop`.

    ``anonymous`` adds the passwordless ``anonymous`` rodsuser (for ticket access) besides ``users``.
    """
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"version must be one of {SUPPORTED_VERSIONS}")
    users = tuple(users)
    path = tempfile.mkdtemp(prefix="fsspec-irods-") if directory is None else os.fspath(directory)
    try:
        vault = os.path.join(path, "vault")
        os.makedirs(vault, exist_ok=True)
        catalog = Catalog(zone, vault, tuple(int(x) for x in version.split(".")))
        passwords = {"rods": "rods"}
        catalog.need_user("rods").password = "rods"
        for name in users:
            passwords[name] = secrets.token_hex(6)
            catalog.add_user(name, "rodsuser", password=passwords[name])
        if anonymous:
            catalog.add_user("anonymous", "rodsuser")
        ca_file = context = None
        if ssl:
            from .tls import make_certs, server_context

            ca_file, cert, key = make_certs(os.path.join(path, "tls"))
            context = server_context(cert, key)
        server = Server(catalog, ssl_context=context).start()
    except BaseException:
        if directory is None:
            shutil.rmtree(path, ignore_errors=True)
        raise
    catalog.resources["demoResc"].host = server.host
    first = users[0] if users else "rods"
    handle = IRODSServerHandle(
        protocol="irods",
        storage_options={},
        root=f"irods:///{zone}/home/{first}",
        host=server.host,
        port=server.port,
        zone=zone,
        version=version,
        users=passwords,
        ca_file=ca_file,
        directory=path,
        server=server,
        owns_directory=directory is None,
    )
    handle.storage_options = handle.options_for(first)
    return handle


def stop(handle: IRODSServerHandle) -> None:
    """Stop the server, close its connections, join its threads; remove a temporary directory."""
    handle.server.stop()
    if handle.owns_directory:
        shutil.rmtree(handle.directory, ignore_errors=True)


@contextlib.contextmanager
def irods_server(
    version: str = "4.3.4",
    ssl: bool = False,
    directory: str | os.PathLike[str] | None = None,
    *,
    users: Iterable[str] = ("alice", "bob"),
    anonymous: bool = True,
) -> Iterator[IRODSServerHandle]:
    """Run an iRODS protocol server on 127.0.0.1 for the ``with`` block.

    ``version`` is what the server announces (``"4.3.4"`` or ``"4.2.8"``); ``ssl=True`` requires TLS after
    client-server negotiation (see :attr:`IRODSServerHandle.ca_file`); ``directory`` holds the vault (default:
    a temporary directory, removed afterwards); ``users`` are the rodsusers created besides ``rods`` (and,
    with ``anonymous``, the passwordless ``anonymous`` user that ticket holders log in as).
    """
    handle = start(version, ssl, directory, users, anonymous=anonymous)
    try:
        yield handle
    finally:
        stop(handle)

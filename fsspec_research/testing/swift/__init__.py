"""A real OpenStack Swift on 127.0.0.1 for tests and benchmarks: :func:`swift_server`.

PyPI ``swift`` runs from its own cached venv (see :mod:`.install`) with Debian's memcached: account,
container and object servers, a proxy with tempauth and s3api, and the container-updater, all with
``workers = 0`` and their state, configs, rings and logs in one directory. With ``keystone=True`` a real
Keystone v3 (sqlite) and a second proxy with authtoken + keystoneauth run too; with ``tls=True`` the
proxies and Keystone serve https with a generated CA (``srv.ca_file``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from .handle import SwiftServerHandle
from .install import install
from .server import start, stop

__all__ = ["SwiftServerHandle", "install", "start", "stop", "swift_server"]


@contextlib.contextmanager
def swift_server(
    keystone: bool = False, tls: bool = False, directory: str | os.PathLike[str] | None = None
) -> Iterator[SwiftServerHandle]:
    """Start Swift in ``directory`` (``None``: a fresh temporary one, removed afterwards); stop it on exit.

    Installs on first use. Data in a given ``directory`` survives a stop and a later start there. The start
    times out after ``$FSSPEC_RESEARCH_SWIFT_TIMEOUT`` seconds (default 60), leaving nothing running.
    """
    path = tempfile.mkdtemp(prefix="fsspec-swift-") if directory is None else os.fspath(directory)
    try:
        handle = start(path, keystone=keystone, tls=tls)  # stops what it started if it fails
        try:
            yield handle
        finally:
            stop(path)
    finally:
        if directory is None:
            shutil.rmtree(path, ignore_errors=True)

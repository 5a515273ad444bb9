"""Public test-server API of fsspec_research.

Every backend adds a ``<backend>_server()`` context manager yielding a :class:`ServerHandle` with

- ``.protocol``: the fsspec protocol name,
- ``.storage_options``: keyword arguments such that ``fsspec.filesystem(srv.protocol, **srv.storage_options)``
  talks to the server; also usable as pandas/xarray ``storage_options``,
- ``.root``: a URL under which a test may write.

:class:`Netem` is a loopback TCP proxy adding wide-area latency, bandwidth caps and faults in front of any
of them. Names are imported lazily, so importing this package does not import aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._handle import ServerHandle
    from .http import HttpServerHandle, HttpStats, http_server
    from .irods import IRODSServerHandle, irods_server
    from .netem import Netem, NetemProcess, NetemStats
    from .pfs import PFSServerHandle, pfs_server
    from .s3 import S3ServerHandle, s3_server
    from .swift import SwiftServerHandle, swift_server

__all__ = [
    "HttpServerHandle",
    "HttpStats",
    "IRODSServerHandle",
    "Netem",
    "NetemProcess",
    "NetemStats",
    "PFSServerHandle",
    "S3ServerHandle",
    "ServerHandle",
    "SwiftServerHandle",
    "http_server",
    "irods_server",
    "pfs_server",
    "s3_server",
    "swift_server",
]

_LAZY = {
    "ServerHandle": "._handle",
    "Netem": ".netem",
    "NetemProcess": ".netem",
    "NetemStats": ".netem",
    "http_server": ".http",
    "HttpServerHandle": ".http",
    "HttpStats": ".http",
    "irods_server": ".irods",
    "pfs_server": ".pfs",
    "PFSServerHandle": ".pfs",
    "IRODSServerHandle": ".irods",
    "s3_server": ".s3",
    "S3ServerHandle": ".s3",
    "swift_server": ".swift",
    "SwiftServerHandle": ".swift",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

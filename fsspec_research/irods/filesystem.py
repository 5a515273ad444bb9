"""``irods://`` - iRODS as an fsspec filesystem, on python-irodsclient.

Paths are absolute iRODS paths: ``irods:///zone/home/alice/x.csv`` (connection settings from the iRODS
environment file) or ``irods://alice@host:1247/zone/home/alice/x.csv``. Listing and stat use the
filesystem's own narrow GenQueries; reads go through the range core over a pool of connections, each
worker keeping data-object descriptors open; writes go to a hidden object beside the target that is
published whole (see :mod:`.upload`). AVU metadata, checksums and tickets are in :mod:`.metadata`.
"""

from __future__ import annotations

import errno
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path, tokenize

from ..core.errors import ObjectChangedError, translate
from ..core.filesystem import RangeFileSystemMixin
from .client import IRODSClient, Reader, ReaderCache, classify_irods, is_not_empty, not_empty
from .config import ACCOUNT_OPTIONS, resolve_account
from .metadata import IRODSMetadata
from .upload import IRODSUploads, is_upload_temp

__all__ = ["IRODSFileSystem"]

MiB = 2**20
T = TypeVar("T")
_OPTIONS = ("timeout", "trash")
_GLOB = re.compile(r"[*?\[]")
_FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache")
_IGNORED = ("asynchronous", "loop")  # zarr passes these to every filesystem; this one is blocking


class IRODSFileSystem(IRODSUploads, IRODSMetadata, RangeFileSystemMixin, AbstractFileSystem):
    """iRODS through python-irodsclient.

    Connection settings (later wins): the iRODS environment file (``irods_env_file``, else
    ``$IRODS_ENVIRONMENT_FILE``, else ``~/.irods/irods_environment.json``) and its ``.irodsA``; the URL's
    ``user@host:port``; storage options ``host``, ``port``, ``user``, ``zone``, ``password``,
    ``authentication_scheme``, ``default_resource`` (where writes go), ``ssl_ca_certificate_file``,
    ``ssl_verify_server``, ``client_server_policy``, ``client_server_negotiation``, any other
    ``irods_*`` key of the environment file, and ``ticket`` (supplied on every connection; with
    ``user="anonymous"`` it gives ticket-only access).

    Other options: ``timeout`` (seconds a connection may wait for the server, default 60), ``trash``
    (``rm`` moves to the zone's trash instead of deleting; default False), and the core's tuning
    options (``concurrency`` = connections used for parallel reads, default 16; ``block_size``, ...).
    """

    protocol = ("irods",)
    root_marker = "/"
    pins_versions = True
    confirms_versions = True
    concurrency = 16  # connections for parallel reads (PRC's parallel transfers use up to 16 too)
    # 16 streams of 8 MiB parts as PRC's parallel put uses 16 threads (memory 128 MiB, as 8 x 16 MiB)
    upload_concurrency = 16
    upload_part_size = 8 * MiB
    min_part_size = 4 * MiB
    reads_into = True
    part_size = 16 * MiB  # a whole read in parts of two pipelined 8 MiB reads: half the per-part overhead

    def __init__(self, **options: Any) -> None:
        options = dict(options)
        self._configure_core(options)
        unknown = {k for k in options if not k.startswith("irods_")} - {
            *ACCOUNT_OPTIONS,
            *_OPTIONS,
            *_FSSPEC_OPTIONS,
            *_IGNORED,
        }
        if unknown:
            raise ValueError(f"unknown iRODS storage options: {sorted(unknown)}")
        super().__init__(**{k: options[k] for k in _FSSPEC_OPTIONS if k in options})
        self.trash = bool(options.get("trash", False))
        self.client = IRODSClient(resolve_account(options), float(options.get("timeout", 60.0)))

    def __repr__(self) -> str:
        account = getattr(getattr(self, "client", None), "account", None)
        return f"IRODSFileSystem({account!r})"

    @property
    def session(self) -> Any:
        """This process's python-irodsclient session (for anything this filesystem does not cover)."""
        return self.client.session

    def close(self) -> None:
        """Close open descriptors and disconnect (the filesystem reconnects on next use)."""
        self._close_runner()
        self.client.close()

    # paths
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("irods://"):
            path = urlsplit(path).path
        if not path.startswith("/"):
            path = "/" + path
        path = re.sub("/+", "/", path)
        return path.rstrip("/") or "/"

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        parts = urlsplit(stringify_path(path))
        if parts.scheme != "irods" or not parts.hostname:
            return {}
        kwargs: dict[str, Any] = {"host": parts.hostname}
        if parts.port:
            kwargs["port"] = parts.port
        if parts.username:
            kwargs["user"] = unquote(parts.username)
        return kwargs

    def unstrip_protocol(self, name: str) -> str:
        return "irods://" + self._strip_protocol(name)

    def _parent_dirs(self, path: str) -> list[str]:
        parents = []
        while path != "/":
            path = self._parent(path)
            parents.append(path)
        return parents

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        for p in [path, *self._parent_dirs(path)]:
            self.dircache.pop(p, None)

    def _irods(self, path: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, retried on transient faults; failures become builtins naming ``path``."""
        try:
            return self.retry.call(fn, *args, classifier=classify_irods, **kwargs)
        except (FileNotFoundError, FileExistsError, PermissionError, ValueError, ObjectChangedError):
            raise
        except Exception as exc:
            if is_not_empty(exc):
                raise not_empty(path, exc) from exc
            raise translate(exc, path, classify_irods) from exc

    # metadata
    def _stat(self, path: str, cached: bool = True) -> dict[str, Any]:
        """The info of one path from the catalog (data object first, then collection)."""
        from irods.models import Collection, DataObject

        path = self._strip_protocol(path)
        parent = self._parent(path)
        for entry in self.dircache.get(parent, ()) if cached else ():
            if entry["name"] == path:
                return entry
        if path != "/":
            rows = self._irods(
                path,
                self.client.data_rows,
                Collection.name == parent,
                DataObject.name == path.rsplit("/", 1)[1],
            )
            if rows:
                return _object_entries(rows)[0]
        rows = self._irods(path, self.client.collection_rows, Collection.name == path)
        if rows:
            return _collection_entry(rows[0])
        raise FileNotFoundError(errno.ENOENT, "no such data object or collection", path)

    def info(self, path: str, metadata: bool = True, **kwargs: Any) -> dict[str, Any]:
        """Name, size, type, times, checksum, replicas, and (unless ``metadata=False``) the AVUs."""
        info = dict(self._stat(path))
        if metadata:
            info["metadata"] = self.get_metadata(info["name"], _kind=info["type"])
        return info

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self._stat(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        try:
            return self._stat(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path: str) -> bool:
        try:
            return self._stat(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def size(self, path: str) -> int:
        return self._stat(path)["size"]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        entries = None if kwargs.get("refresh") else self.dircache.get(path)
        if entries is None:
            entries = self._list_collection(path)
            if entries is None:
                return [self._stat(path)] if detail else [path]
            self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    def _list_collection(self, path: str) -> list[dict] | None:
        """The entries of collection ``path`` (two queries), or None if ``path`` is a data object."""
        from irods.models import Collection

        subs = [c for c in self._irods(path, self.client.collection_rows, Collection.parent_name == path)]
        objects = _object_entries(self._irods(path, self.client.data_rows, Collection.name == path))
        if not subs and not objects:
            info = self._stat(path)  # raises FileNotFoundError
            if info["type"] == "file":
                return None
        entries = [_collection_entry(c) for c in subs if c["name"] != path] + objects
        return sorted((e for e in entries if not is_upload_temp(e["name"])), key=lambda e: e["name"])

    def find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kw
    ):
        """Everything below ``path`` with three queries, however deep the tree (``COLL_NAME LIKE 'p/%'``);
        without ``detail`` the object query asks for names only."""
        from irods.column import Like
        from irods.models import Collection

        path = self._strip_protocol(path)
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        base = path.rstrip("/")
        under = Like(Collection.name, base + "/%")
        rows_of = self.client.data_rows if detail else self.client.data_paths
        rows = self._irods(path, rows_of, Collection.name == path)
        rows += [r for r in self._irods(path, rows_of, under) if r["collection"].startswith(base + "/")]
        if detail:
            found = {e["name"]: e for e in _object_entries(rows) if not is_upload_temp(e["name"])}
        else:
            names = (f"{r['collection'].rstrip('/')}/{r['base']}" for r in rows)
            found = dict.fromkeys(n for n in names if not is_upload_temp(n))
        if withdirs:
            for row in self._irods(path, self.client.collection_rows, under):
                if row["name"].startswith(base + "/"):
                    found[row["name"]] = _collection_entry(row)
        if maxdepth is not None:
            found = {n: e for n, e in found.items() if n[len(base) :].count("/") <= maxdepth}
        if not found:
            try:
                info = self._stat(path)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "file":
                found[path] = info
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    def _read_info(self, path: str) -> dict[str, Any]:
        return self._stat(path, cached=False)

    def _version_of(self, info: dict[str, Any]) -> str | None:
        return info.get("version")

    def _pin_version(self, path: str) -> str | None:
        return self._stat(path, cached=False).get("version")

    def ukey(self, path: str) -> str:
        info = self._stat(path)
        return tokenize(info.get("checksum") or info.get("version"), info["name"])

    def modified(self, path: str) -> datetime:
        return self._stat(path)["mtime"]

    def created(self, path: str) -> datetime:
        return self._stat(path)["created"]

    # reads
    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode == "rb" and kwargs.get("size") is None:
            info = self._stat(path, cached=False)
            if info["type"] == "directory":
                raise IsADirectoryError(errno.EISDIR, "is a collection", self._strip_protocol(path))
            kwargs.setdefault("size", info["size"])
            kwargs.setdefault("version", info["version"])
        return super()._open(path, mode, block_size, autocommit, cache_options, **kwargs)

    def _read_range(self, path: str, start: int, end: int, version: str | None) -> bytearray | memoryview:
        return self._irods(path, self._with_reader, path, version, lambda r: r.read(start, end - start))

    def _read_range_into(self, path: str, start: int, view: memoryview, version: str | None) -> int:
        return self._irods(path, self._with_reader, path, version, lambda r: r.read_into(start, view))

    def _with_reader(self, path: str, version: str | None, read: Callable[[Reader], T]) -> T:
        """``read`` on this worker's open descriptor of ``path`` for ``version``. The core then confirms,
        once per batch, that the catalog still shows that version (:meth:`_confirm_version`): iRODS
        overwrites replicas in place, so bytes of a replaced object must not pass unnoticed."""
        readers = self._runner.worker_local("irods-readers", ReaderCache)
        key = (path, version)
        reader = readers.get(key)
        if reader is None:
            reader = Reader(self.client.session, path)
            readers.put(key, reader)
        try:
            return read(reader)
        except BaseException:
            readers.drop(key)
            raise

    def _confirm_version(self, path: str, version: str) -> None:
        current = self._stat(path, cached=False).get("version")
        if current != version:
            raise ObjectChangedError(path, "its replica changed since it was opened")

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        return self.read_parallel(path, start, end)

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any
    ) -> None:
        self.get_file_parallel(rpath, outfile or lpath, callback)

    # namespace
    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if self.exists(path):
            raise FileExistsError(errno.EEXIST, "exists already", path)
        self._irods(path, self.client.session.collections.create, path, recurse=create_parents)
        self.invalidate_cache(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if self.exists(path):
            if exist_ok and self.isdir(path):
                return
            raise FileExistsError(errno.EEXIST, "exists already", path)
        self._irods(path, self.client.session.collections.create, path, recurse=True)
        self.invalidate_cache(path)

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        if self._stat(path)["type"] != "directory":
            raise NotADirectoryError(errno.ENOTDIR, "not a collection", path)
        self._irods(path, self.client.session.collections.remove, path, recurse=False, force=not self.trash)
        self.invalidate_cache(path)

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        self._irods(path, self.client.session.data_objects.unlink, path, force=not self.trash)
        self.invalidate_cache(path)

    def _rm(self, path: str) -> None:
        if self.isdir(path):
            self.rmdir(path)
        else:
            self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Remove data objects, and with ``recursive`` whole collections in one server call each."""
        paths = path if isinstance(path, list) else [path]
        if maxdepth is not None or any(_GLOB.search(str(p)) for p in paths):
            return super().rm(path, recursive=recursive, maxdepth=maxdepth)
        for p in map(self._strip_protocol, paths):
            info = self._stat(p)
            if info["type"] == "file":
                self.rm_file(p)
            elif recursive:
                session = self.client.session
                self._irods(p, session.collections.remove, p, recurse=True, force=not self.trash)
                self.invalidate_cache(p)
                self.dircache.clear()
            else:
                self.rmdir(p)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kw) -> None:
        """Rename a data object or a whole collection on the server (into ``path2`` if it is a collection)."""
        p1, p2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if isinstance(path1, list) or maxdepth is not None:
            return super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kw)
        session = self.client.session
        manager = session.collections if self._stat(p1)["type"] == "directory" else session.data_objects
        self._irods(p1, manager.move, p1, p2)
        self.invalidate_cache(p1)
        self.invalidate_cache(p2)
        self.dircache.clear()

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side copy (the target is overwritten)."""
        from irods.keywords import FORCE_FLAG_KW

        p1, p2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if self._stat(p1)["type"] == "directory":
            self.makedirs(p2, exist_ok=True)
            return
        copy = self.client.session.data_objects.copy
        try:
            self._irods(p1, copy, p1, p2, **{FORCE_FLAG_KW: ""})
        except FileNotFoundError:
            if self.exists(p1) and not self.exists(self._parent(p2)):
                self.makedirs(self._parent(p2), exist_ok=True)
                self._irods(p1, copy, p1, p2, **{FORCE_FLAG_KW: ""})
            else:
                raise
        self.invalidate_cache(p2)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def _object_entries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per data object from its replica rows: the newest good replica speaks for it."""
    by_path: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_path[f"{row['collection'].rstrip('/')}/{row['base']}"].append(row)
    entries = []
    for path, replicas in by_path.items():
        best = max(
            replicas, key=lambda r: (r["status"] == "1", r["mtime"] or datetime.min, -int(r["replica"]))
        )
        mtime = _timestamp(best["mtime"])
        entries.append(
            {
                "name": path,
                "size": best["size"],
                "type": "file",
                "mtime": mtime,
                "created": _timestamp(best["created"]),
                "checksum": best["checksum"],
                "owner": best["owner"],
                "id": best["id"],
                "version": _version(best, mtime),
                "replicas": [
                    {
                        "number": int(r["replica"]),
                        "resource": r["resource"],
                        "status": {"0": "stale", "1": "good", "2": "intermediate"}.get(
                            r["status"], r["status"]
                        ),
                        "size": r["size"],
                        "checksum": r["checksum"],
                    }
                    for r in sorted(replicas, key=lambda r: int(r["replica"]))
                ],
            }
        )
    return sorted(entries, key=lambda e: e["name"])


def _version(row: dict[str, Any], mtime: datetime | None) -> str:
    """What changes when a data object's bytes do: its id, size, modify time and checksum."""
    return f"{row['id']}:{row['size']}:{mtime.timestamp() if mtime else ''}:{row['checksum']}"


def _collection_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "size": 0,
        "type": "directory",
        "mtime": _timestamp(row["mtime"]),
        "created": _timestamp(row["created"]),
        "owner": row["owner"],
        "id": row["id"],
    }

"""``pfs://`` - Pachyderm PFS as an fsspec filesystem, on python-pachyderm.

Paths are ``pfs://[project/]repo@ref/path`` (see :mod:`.urls`). A read at a branch is pinned to the
commit the branch's newest finished commit had when the file was opened (or the ``cat_ranges`` call
began), so bytes never mix across commits. Ranged reads stream from an offset and stop after the bytes
asked for (PFS takes no length); the planner therefore merges ranges closer than one server message and
reads big ranges in few, large parts, and a stream left at the end of one range serves the next range
that starts there. Every ``open(..., "wb")``/``pipe``/``rm``/``cp``/``mv`` is one commit; inside
``fs.transaction`` all of them are ONE commit per branch, finished at the end, dropped on error.
"""

from __future__ import annotations

import errno
import re
import threading
from datetime import datetime, timezone
from typing import Any

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path, tokenize

from ..core.errors import translate
from ..core.filesystem import RangeFileSystemMixin
from .client import PFSClient, classify_pfs
from .streams import StreamPool
from .urls import PFSPath, parse
from .writes import PFSTransaction, PFSWrites

__all__ = ["PFSFileSystem"]

MiB = 2**20
_OPTIONS = ("host", "port", "auth_token", "tls", "root_certs", "timeout", "connections")
_FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache")
_IGNORED = ("asynchronous", "loop")
_MAGIC = re.compile(r"[*?\[{]")


class PFSFileSystem(PFSWrites, RangeFileSystemMixin, AbstractFileSystem):
    """Pachyderm PFS through python-pachyderm.

    Connection: storage options ``host``, ``port``, ``auth_token``, ``tls``, ``root_certs`` (PEM bytes
    or a file path); else the active context of the pachctl config
    (``$PACH_CONFIG`` or ``~/.pachyderm/config.json``), as python-pachyderm reads it. ``timeout``:
    seconds a request may take (default 60; reads get a second more per MiB); ``connections``: TCP
    connections (gRPC channels) parallel reads spread over (default 4).
    """

    protocol = ("pfs",)
    root_marker = ""
    pins_versions = True
    merge_adjacent = True  # adjacent cache blocks: one stream, not one whole server message each
    transaction_type = PFSTransaction
    concurrency = 8
    upload_concurrency = 2
    upload_part_size = 32 * MiB
    # pachd sends a file in 19 MiB messages counted from the read's offset, and a ranged read costs at
    # least its first message: ranges closer than that are merged, and reads are cut in whole messages
    max_gap = 19 * MiB
    max_block = 38 * MiB
    part_size = 19 * MiB
    min_part_size = 19 * MiB
    default_block_size = 8 * MiB

    def __init__(self, **options: Any) -> None:
        options = dict(options)
        self._configure_core(options)
        unknown = set(options) - {*_OPTIONS, *_FSSPEC_OPTIONS, *_IGNORED}
        if unknown:
            raise ValueError(f"unknown PFS storage options: {sorted(unknown)}")
        super().__init__(**{k: options[k] for k in _FSSPEC_OPTIONS if k in options})
        self.client = PFSClient(**_connection(options))
        self.streams = StreamPool(self.client)
        self._branch_locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"PFSFileSystem({getattr(self, 'client', None)!r})"

    def close(self) -> None:
        """Cancel open streams and close the channel (reconnects on next use)."""
        self.streams.close()
        self._close_runner()
        self.client.close()

    # paths
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("pfs://"):
            path = path[len("pfs://") :]
        return re.sub("/+", "/", path).strip("/")

    def unstrip_protocol(self, name: str) -> str:
        return "pfs://" + self._strip_protocol(name)

    def _parent(self, path: str) -> str:
        where = parse(self._strip_protocol(path))
        if where.level == "file" and where.path != "/":
            return str(where.at(where.ref, where.path.rsplit("/", 1)[0] or "/"))
        if where.level == "file":
            return where.repo_name
        return ""

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        while True:
            self.dircache.pop(path, None)
            if not path:
                break
            path = self._parent(path)
        super().invalidate_cache(path)

    def _pfs(self, path: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args)``, retried on transient faults; failures become builtins naming ``path``."""
        try:
            return self.retry.call(fn, *args, classifier=classify_pfs, **kwargs)
        except (FileNotFoundError, FileExistsError, PermissionError, ValueError, IsADirectoryError):
            raise
        except Exception as exc:
            raise translate(exc, str(path), classify_pfs) from exc

    # refs
    def resolve(self, path: str) -> str:
        """The commit id ``path``'s ref stands for now: a commit id as is; a branch or ancestry, its
        newest finished commit (an open commit, such as a transaction's, is not read)."""
        where = parse(self._strip_protocol(path))
        if where.level != "file":
            raise ValueError(f"pfs://{path}: no ref (repo@branch-or-commit) in the path")
        info = self._pfs(path, self.client.inspect_commit, where)
        for _ in range(1000):
            if info.HasField("finished") or where.is_commit_id:
                return info.commit.id
            if not info.HasField("parent_commit") or not info.parent_commit.id:
                break
            info = self._pfs(path, self.client.inspect_commit, where, info.parent_commit.id)
        raise FileNotFoundError(errno.ENOENT, "the branch has no finished commit yet", path)

    def _pin_version(self, path: str) -> str | None:
        return self.resolve(path)

    def _version_of(self, info: dict[str, Any]) -> str | None:
        return info.get("commit")

    def _read_info(self, path: str) -> dict[str, Any]:
        return self.info(path)

    # metadata
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        where = parse(path)
        if where.level == "root":
            return {"name": "", "size": 0, "type": "directory"}
        if where.level == "repo":
            repo = self._pfs(path, self.client.inspect_repo, where)
            return _repo_entry(path, repo)
        commit = self.resolve(path)
        if where.path == "/":
            return {"name": path, "size": 0, "type": "directory", "commit": commit}
        parent = self._parent(path)
        for entry in self.dircache.get(parent, ()):
            if entry["name"] == path and entry.get("commit") == commit:
                return entry
        file_info = self._pfs(path, self.client.inspect_file, where, commit)
        return _file_entry(where, file_info, commit)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        entries = None if kwargs.get("refresh") else self.dircache.get(path)
        if entries is None:
            entries = self._list(path)
            self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    def _list(self, path: str) -> list[dict[str, Any]]:
        where = parse(path)
        if where.level == "root":
            repos = self._pfs(path, self.client.list_repos)
            return sorted((_repo_entry(_repo_name(r.repo), r) for r in repos), key=lambda e: e["name"])
        if where.level == "repo":
            branches = self._pfs(path, self.client.list_branches, where)
            return sorted(
                ({"name": f"{path}@{b.branch.name}", "size": 0, "type": "directory", "head": b.head.id}
                 for b in branches), key=lambda e: e["name"],
            )  # fmt: skip
        commit = self.resolve(path)
        infos = self._pfs(path, self.client.list_file, where, commit)
        if not infos:
            if where.path != "/":
                info = self.info(path)  # raises FileNotFoundError
                if info["type"] == "file":
                    return [info]
            return []
        entries = [_file_entry(where, i, commit) for i in infos]
        if len(entries) == 1 and entries[0]["name"] == path:
            return entries  # a file lists as itself
        return sorted(entries, key=lambda e: e["name"])

    def find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kw
    ):
        """A whole subtree in one WalkFile stream (repo and top levels are walked per entry)."""
        path = self._strip_protocol(path)
        where = parse(path)
        if where.level != "file":
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kw)
        commit = self.resolve(path)
        try:
            infos = self._pfs(path, self.client.walk_file, where, commit)
        except FileNotFoundError:
            infos = []
        base = where.path.rstrip("/")
        found = {}
        for info in infos:
            entry = _file_entry(where, info, commit)
            rel = info.file.path.rstrip("/")[len(base) :]
            if not rel and entry["type"] == "directory":
                continue  # the walked directory itself
            if maxdepth is not None and rel.count("/") > maxdepth:
                continue
            if entry["type"] == "file" or withdirs:
                found[entry["name"]] = entry
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    def glob(self, path: str, maxdepth: int | None = None, **kwargs: Any):
        """Server-side GlobFile for a pattern inside one commit without ``**``; else fsspec's glob (over
        one WalkFile)."""
        path = self._strip_protocol(path)
        head, _, rest = path.partition("@")
        ref, _, inner = rest.partition("/")
        if not _MAGIC.search(path) or _MAGIC.search(head + ref) or "**" in inner or maxdepth is not None:
            return super().glob(path, maxdepth=maxdepth, **kwargs)  # fsspec's "**" differs from pachd's
        where = parse(f"{head}@{ref}")
        commit = self.resolve(where.__str__())
        infos = self._pfs(path, self.client.glob_file, where, commit, "/" + inner)
        entries = {
            e["name"]: e for e in (_file_entry(where, i, commit) for i in infos) if e["name"] != str(where)
        }
        names = sorted(entries)
        return {n: entries[n] for n in names} if kwargs.get("detail") else names

    def ukey(self, path: str) -> str:
        info = self.info(path)
        return tokenize(info.get("hash") or info.get("commit"), info["name"])

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        if info.get("committed") is None:
            raise IsADirectoryError(errno.EISDIR, "directories have no commit time", path)
        return info["committed"]

    # history
    def find_commits(self, path: str, number: int | None = None) -> list[dict[str, Any]]:
        """The commits (newest first) of the ref that changed ``path``: id, time, description, hash, size."""
        path = self._strip_protocol(path)
        where = parse(path)
        history = []
        for info in self._pfs(path, lambda: list(self.client.list_commits(where, where.ref))):
            if not info.HasField("finished"):
                continue
            try:
                file_info = self._pfs(path, self.client.inspect_file, where, info.commit.id)
                state = (file_info.hash, file_info.size_bytes)
            except FileNotFoundError:
                state = None
            history.append((info, state))
        out = []
        for (info, state), older in zip(history, [*history[1:], (None, None)]):
            if state is not None and state != older[1]:
                digest = state[0].hex() if isinstance(state[0], bytes) else state[0]
                out.append({
                    "commit": info.commit.id, "finished": _time(info.finished),
                    "description": info.description, "hash": digest, "size": state[1],
                })  # fmt: skip
                if number is not None and len(out) >= number:
                    break
        return out

    def diff(self, path: str, other: str | None = None) -> list[dict[str, Any]]:
        """What changed under ``path`` between ``other`` (a ref of the same repo; default: the parent
        commit) and the path's ref: ``{"path", "change": "added"|"removed"|"modified", "size"}``."""
        path = self._strip_protocol(path)
        where = parse(path)
        new_id = self.resolve(path)
        old_id = self.resolve(str(where.at(other))) if other else None
        pairs = self._pfs(path, self.client.diff_file, where, new_id, where if other else None, old_id)
        out = []
        for pair in pairs:
            new = pair.new_file if pair.HasField("new_file") and pair.new_file.file.path else None
            old = pair.old_file if pair.HasField("old_file") and pair.old_file.file.path else None
            chosen = new or old
            if chosen is None or chosen.file_type != 1:
                continue
            change = "modified" if new and old else ("added" if new else "removed")
            out.append({"path": str(where.at(where.ref, chosen.file.path)), "change": change,
                        "size": chosen.size_bytes})  # fmt: skip
        return sorted(out, key=lambda e: e["path"])

    # reads
    def _read_range(self, path: str, start: int, end: int, version: str | None) -> bytes:
        where = parse(path)
        commit = version or self.resolve(path)
        data = self._pfs(path, self.streams.read, where, commit, start, end - start)
        return data

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(errno.EISDIR, "is a directory", self._strip_protocol(path))
        return self.read_parallel(path, start, end, info=info)

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any
    ) -> None:
        self.get_file_parallel(rpath, outfile or lpath, callback)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode == "rb" and kwargs.get("size") is None:
            info = self.info(path)
            if info["type"] != "file":
                raise IsADirectoryError(errno.EISDIR, "is a directory", self._strip_protocol(path))
            kwargs.setdefault("size", info["size"])
            kwargs.setdefault("version", info["commit"])
        return super()._open(path, mode, block_size, autocommit, cache_options, **kwargs)


def _connection(options: dict[str, Any]) -> dict[str, Any]:
    """Host, port, token and TLS from storage options, else from the pachctl config's active context."""
    settings = {k: options[k] for k in ("host", "port", "auth_token", "tls", "root_certs") if k in options}
    if "host" not in settings or "port" not in settings:
        from .config import from_pachctl_config

        settings = {**from_pachctl_config(), **settings}
    certs = settings.get("root_certs")
    if isinstance(certs, str):
        with open(certs, "rb") as f:
            settings["root_certs"] = f.read()
    return {
        **settings,
        "timeout": float(options.get("timeout", 60.0)),
        "connections": int(options.get("connections", 4)),
    }


def _time(value: Any) -> datetime | None:
    if value is None or (not value.seconds and not value.nanos):
        return None
    return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, tz=timezone.utc)


def _repo_name(repo: Any) -> str:
    project = repo.project.name or "default"
    return repo.name if project == "default" else f"{project}/{repo.name}"


def _repo_entry(name: str, info: Any) -> dict[str, Any]:
    return {
        "name": name,
        "size": int(info.details.size_bytes or info.size_bytes_upper_bound),
        "type": "directory",
        "created": _time(info.created),
        "description": info.description,
        "branches": sorted(b.name for b in info.branches),
    }


def _file_entry(where: PFSPath, info: Any, commit: str) -> dict[str, Any]:
    is_dir = info.file_type == 2
    path = info.file.path.rstrip("/") or "/"
    return {
        "name": str(where.at(where.ref, path)),
        "size": int(info.size_bytes) if not is_dir else 0,
        "type": "directory" if is_dir else "file",
        "commit": commit,
        "hash": info.hash.hex() if isinstance(info.hash, bytes) else str(info.hash),
        "committed": _time(info.committed),
    }

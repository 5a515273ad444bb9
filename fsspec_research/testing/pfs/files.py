"""File operations on commit snapshots: ModifyFile's operations, lookups, globs, diffs and tar streams."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from . import errors
from .glob import compile_glob, literal
from .model import Blob, Commit, Entry, Snapshot, Store, Tree
from .refs import clean_path, readable, resolve


@dataclass
class Put:
    """AddFile: append ``chunks`` to the ``datum`` part of ``path`` (AddFile always appends)."""

    path: str
    datum: str
    chunks: list[bytes] = field(default_factory=list)


@dataclass
class Delete:
    raw_path: str  # a trailing "/" deletes the directory below it
    datum: str


@dataclass
class Copy:
    src: Any  # a pfs File message
    dst: str
    datum: str
    append: bool


Op = Put | Delete | Copy


def add_op(ops: list[Op], request: Any) -> None:
    """Queue the operation of one ModifyFile message (consecutive raw chunks of a file are merged)."""
    body = request.WhichOneof("body")
    if body == "set_commit":
        raise errors.unknown("commit can only be set in the first ModifyFile message")
    if body == "add_file":
        add = request.add_file
        path = clean_path(add.path)
        if path == "/":
            raise errors.unknown("cannot add a file at the root path /")
        if add.WhichOneof("source") == "url":
            ops.extend(Put(p, add.datum, [data]) for p, data in fetch_url(add.url, path))
            return
        last = ops[-1] if ops else None
        if not (isinstance(last, Put) and last.path == path and last.datum == add.datum):
            last = Put(path, add.datum)
            ops.append(last)
        if add.raw.value:
            last.chunks.append(add.raw.value)
    elif body == "delete_file":
        ops.append(Delete(request.delete_file.path, request.delete_file.datum))
    elif body == "copy_file":
        c = request.copy_file
        ops.append(Copy(c.src, clean_path(c.dst), c.datum, c.append))


def fetch_url(source: Any, path: str) -> list[tuple[str, bytes]]:
    """(path, content) of an AddFile URL: ``file://`` only (a directory needs ``recursive``)."""
    url = urlparse(source.URL)
    if url.scheme != "file":
        raise errors.unimplemented(f"AddFile from a {url.scheme or 'schemeless'} URL (only file://)")
    local = unquote(url.path)
    try:
        if not os.path.isdir(local):
            with open(local, "rb") as f:
                return [(path, f.read())]
        if not source.recursive:
            raise errors.unknown(f"{source.URL} is a directory: use recursive")
        found = []
        for root, _, names in os.walk(local):
            for name in names:
                full = os.path.join(root, name)
                with open(full, "rb") as f:
                    found.append((clean_path(f"{path}/{os.path.relpath(full, local)}"), f.read()))
        return sorted(found)
    except OSError as exc:
        raise errors.unknown(f"cannot read {source.URL}: {exc.strerror or exc}") from exc


def apply(store: Store, commit: Commit, ops: Iterable[Op]) -> None:
    """Apply ``ops`` to ``commit`` (open; call under the lock), giving it a new snapshot."""
    files = dict(commit.snap.files)
    for op in ops:
        if isinstance(op, Put):
            blob, entry = Blob(tuple(op.chunks)), files.get(op.path)
            files[op.path] = entry.put(op.datum, blob, append=True) if entry else Entry(((op.datum, blob),))
        elif isinstance(op, Delete):
            _delete(files, op.raw_path, op.datum)
        else:
            source = readable(resolve(store, op.src.commit)).snap.files
            for src, dst in _copy_pairs(source, clean_path(op.src.path), op.dst):
                blob, entry = source[src].blob(op.src.datum) or Blob(), files.get(dst)
                if op.append and entry:
                    files[dst] = entry.put(op.datum, blob, append=True)
                else:
                    files[dst] = Entry(((op.datum, blob),))
    commit.snap = Snapshot(files)


def _delete(files: dict[str, Entry], raw: str, datum: str) -> None:
    path = clean_path(raw)
    if raw.endswith("/") or path == "/":
        prefix = path.rstrip("/") + "/"
        targets = [p for p in files if p.startswith(prefix)]
    else:
        targets = [path] if path in files else []
    for p in targets:
        rest = files[p].without(datum) if datum else None
        if rest is None:
            del files[p]
        else:
            files[p] = rest


def _copy_pairs(source: Any, src: str, dst: str) -> list[tuple[str, str]]:
    if src in source:
        return [(src, dst)]
    prefix = src.rstrip("/") + "/"
    return [(p, clean_path(f"{dst}/{p[len(prefix) :]}")) for p in sorted(source) if p.startswith(prefix)]


def tree_of(commit: Commit, datum: str = "") -> Tree:
    """The commit's tree; with ``datum`` only the files (and parts) written with that tag."""
    readable(commit)
    if not datum:
        return commit.snap.tree
    files = commit.snap.files
    return Tree({p: Entry(((datum, b),)) for p, e in files.items() if (b := e.blob(datum)) is not None})


def lookup(tree: Tree, path: str) -> str | None:
    """The entry (``/dir/`` for a directory) at a cleaned path, or None."""
    kind = tree.kind(path)
    if kind == "file":
        return path
    return path.rstrip("/") + "/" if kind == "dir" else None


def glob_entries(tree: Tree, pattern: str) -> list[str]:
    """Sorted entries whose path, trailing ``/`` trimmed (the root is ``""``), matches ``pattern``."""
    pattern = "/" + pattern.lstrip("/")
    if pattern.endswith("/") and not pattern.endswith("\\/"):
        pattern = pattern.rstrip("/")  # "/" becomes "", which only the root matches
    path = literal(pattern)
    if path is not None:
        found = lookup(tree, clean_path(path))
        return [found] if found else []
    match = compile_glob(pattern)
    return [e for e in tree.entries if match(e.rstrip("/"))]


def below(tree: Tree, entry: str | None) -> list[str]:
    """``entry`` and, for a directory, everything below it."""
    if entry is None:
        return []
    return tree.subtree(entry) if entry.endswith("/") else [entry]


def diff(new: Tree, new_path: str, old: Tree | None, old_path: str) -> list[tuple[str | None, str | None]]:
    """(new entry, old entry) pairs of the paths that differ, sorted by path."""
    fresh = {e: new.hash(e) for e in below(new, lookup(new, new_path))}
    stale = {e: old.hash(e) for e in below(old, lookup(old, old_path))} if old is not None else {}
    out: list[tuple[str | None, str | None]] = []
    for e in sorted(fresh.keys() | stale.keys()):
        if e in fresh and e in stale:
            if fresh[e] != stale[e]:
                out.append((e, e))
        else:
            out.append((e if e in fresh else None, e if e in stale else None))
    return out


def tar_stream(tree: Tree, entries: list[str], mtime: float) -> Iterator[bytes]:
    """A tar of ``entries`` (directories with their subtrees), names absolute as pachd writes them."""
    seen: set[str] = set()
    for top in entries:
        for entry in below(tree, top):
            if entry in seen:
                continue
            seen.add(entry)
            info = tarfile.TarInfo(entry)
            info.mtime = int(mtime)
            if entry.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                yield info.tobuf(tarfile.PAX_FORMAT)
                continue
            blob = tree.blobs[entry]
            info.size, info.mode = blob.size, 0o644
            yield info.tobuf(tarfile.PAX_FORMAT)
            yield from blob.chunks
            if blob.size % tarfile.BLOCKSIZE:
                yield b"\0" * (tarfile.BLOCKSIZE - blob.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``pieces`` regrouped into messages of ``size`` bytes (the last shorter; none when empty)."""
    yield from Blob(tuple(pieces)).pieces(0, size)

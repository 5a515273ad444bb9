"""The in-memory PFS: projects, repos, branches and copy-on-write commits.

A commit's files are a :class:`Snapshot`: an immutable ``path -> Entry`` mapping that a child commit shares
with its parent until its first write, which makes a new snapshot (old commits never change). An
:class:`Entry` holds a file's content per datum tag; a :class:`Blob` is immutable content kept as the chunks
it was written in. Every change happens under :attr:`Store.lock`; :attr:`Store.changed` wakes waiters.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

DEFAULT_PROJECT = "default"


class Blob:
    """Immutable file content as a tuple of chunks (appending shares the old ones)."""

    __slots__ = ("__dict__", "chunks", "size")

    def __init__(self, chunks: tuple[bytes, ...] = ()) -> None:
        self.chunks = tuple(c for c in chunks if c)
        self.size = sum(len(c) for c in self.chunks)

    def __add__(self, other: Blob) -> Blob:
        return Blob(self.chunks + other.chunks)

    @cached_property
    def hash(self) -> bytes:
        digest = hashlib.sha256()
        for chunk in self.chunks:
            digest.update(chunk)
        return digest.digest()

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def pieces(self, offset: int, size: int) -> Iterator[bytes]:
        """The content from ``offset`` in pieces of ``size`` bytes (the last shorter; none if empty)."""
        buf, pos = bytearray(), 0
        for chunk in self.chunks:
            start, pos = pos, pos + len(chunk)
            if pos <= offset:
                continue
            view = memoryview(chunk)[max(0, offset - start) :]
            while view:
                if not buf and len(view) >= size:
                    yield bytes(view[:size])
                    view = view[size:]
                    continue
                take = min(size - len(buf), len(view))
                buf += view[:take]
                view = view[take:]
                if len(buf) == size:
                    yield bytes(buf)
                    buf.clear()
        if buf:
            yield bytes(buf)


EMPTY = Blob()


@dataclass(frozen=True)
class Entry:
    """A file: its content per datum tag (sorted by tag); read as the concatenation in that order."""

    parts: tuple[tuple[str, Blob], ...]

    def blob(self, datum: str = "") -> Blob | None:
        """The content (only the ``datum`` part when given), or None if that part does not exist."""
        if datum:
            return next((b for d, b in self.parts if d == datum), None)
        if len(self.parts) == 1:
            return self.parts[0][1]
        return Blob(tuple(c for _, b in self.parts for c in b.chunks))

    def put(self, datum: str, blob: Blob, append: bool) -> Entry:
        parts = dict(self.parts)
        parts[datum] = parts[datum] + blob if append and datum in parts else blob
        return Entry(tuple(sorted(parts.items())))

    def without(self, datum: str) -> Entry | None:
        parts = tuple(p for p in self.parts if p[0] != datum)
        return Entry(parts) if parts else None


class Tree:
    """Directories and sorted entries of a snapshot. Directory paths end in ``/`` (the root is ``/``)."""

    def __init__(self, files: Mapping[str, Entry]) -> None:
        self.files = files
        self.sizes: dict[str, int] = {}
        kids: dict[str, set[str]] = {}
        self.blobs = {path: entry.blob() or EMPTY for path, entry in files.items()}
        for path, blob in self.blobs.items():
            child = parent = path
            while parent != "/":
                parent = parent[: parent.rstrip("/").rfind("/") + 1]
                self.sizes[parent] = self.sizes.get(parent, 0) + blob.size
                kids.setdefault(parent, set()).add(child)
                child = parent
        self.children = {name: sorted(names) for name, names in kids.items()}
        self.entries = sorted([*self.blobs, *self.sizes])
        self._hashes: dict[str, bytes] = {}

    def kind(self, path: str) -> str | None:
        """``"file"`` or ``"dir"`` for a cleaned path (no trailing slash), or None."""
        if path in self.blobs:
            return "file"
        if (path.rstrip("/") + "/") in self.sizes:
            return "dir"
        return None

    def subtree(self, directory: str) -> list[str]:
        """``directory`` (ending in ``/``) and every entry below it, sorted."""
        lo = bisect.bisect_left(self.entries, directory)
        hi = bisect.bisect_left(self.entries, directory[:-1] + "0")  # "0" follows "/"
        return self.entries[lo:hi]

    def size(self, entry: str) -> int:
        return self.sizes[entry] if entry.endswith("/") else self.blobs[entry].size

    def hash(self, entry: str) -> bytes:
        if not entry.endswith("/"):
            return self.blobs[entry].hash
        if entry not in self._hashes:
            digest = hashlib.sha256()
            for child in self.children.get(entry, ()):
                digest.update(child.encode() + b"\0" + self.hash(child))
            self._hashes[entry] = digest.digest()
        return self._hashes[entry]


class Snapshot:
    """An immutable file mapping shared by commits until one of them writes; its tree is built once."""

    __slots__ = ("_tree", "files")

    def __init__(self, files: dict[str, Entry] | None = None) -> None:
        self.files: Mapping[str, Entry] = files or {}
        self._tree: Tree | None = None

    @property
    def tree(self) -> Tree:
        if self._tree is None:
            self._tree = Tree(self.files)
        return self._tree

    @property
    def size(self) -> int:
        return self.tree.sizes.get("/", 0)


def now_ns() -> int:
    return time.time_ns()


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)
class Commit:
    id: str
    repo: Repo
    branch: str
    parent: Commit | None
    snap: Snapshot
    seq: int
    description: str = ""
    started: int = field(default_factory=now_ns)
    finishing: int | None = None
    finished: int | None = None
    error: str = ""
    children: list[Commit] = field(default_factory=list)
    dropped: bool = False

    @property
    def label(self) -> str:
        """How pachd prints the commit in errors: ``project/repo@id``."""
        return f"{self.repo.label}@{self.id}"

    def reached(self, state: int) -> bool:
        """Whether the commit reached CommitState ``state`` (1 STARTED, 2 READY, 3 FINISHING, 4 FINISHED)."""
        if state >= 4:
            return self.finished is not None
        if state == 3:
            return self.finishing is not None
        return True


@dataclass(eq=False)
class Branch:
    name: str
    repo: Repo
    head: Commit
    seq: int


@dataclass(eq=False)
class Repo:
    project: str
    name: str
    seq: int
    description: str = ""
    created: int = field(default_factory=now_ns)
    branches: dict[str, Branch] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.project}/{self.name}"


@dataclass(eq=False)
class Project:
    name: str
    seq: int
    description: str = ""
    created: int = field(default_factory=now_ns)
    repos: dict[str, Repo] = field(default_factory=dict)


class Store:
    """Every project, repo, branch and commit, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopping = False
        self._seq = 0
        self.projects: dict[str, Project] = {}
        self.commit_sets: dict[str, list[Commit]] = {}
        self.clear()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def clear(self) -> None:
        """Only the ``default`` project, as a fresh pachd."""
        with self.lock:
            self.projects = {DEFAULT_PROJECT: Project(DEFAULT_PROJECT, self.next_seq())}
            self.commit_sets = {}
            self.changed.notify_all()

    def repos(self) -> Iterator[Repo]:
        for project in self.projects.values():
            yield from project.repos.values()

    def find_repo(self, project: str, name: str) -> Repo | None:
        p = self.projects.get(project)
        return p.repos.get(name) if p else None

    def add_repo(self, project: str, name: str, description: str = "") -> Repo:
        repo = Repo(project, name, self.next_seq(), description)
        self.projects[project].repos[name] = repo
        return repo

    def delete_repo(self, repo: Repo) -> None:
        for commit in repo.commits.values():
            commit.dropped = True
            self._unindex(commit)
        repo.commits.clear()
        self.projects[repo.project].repos.pop(repo.name, None)
        self.changed.notify_all()

    def new_commit(self, repo: Repo, branch: str, parent: Commit | None, description: str = "") -> Commit:
        """An open commit on ``branch`` (whose head it becomes) with the files of ``parent``."""
        base = parent
        while base is not None and base.error:  # pachd builds on the newest ancestor without an error
            base = base.parent
        commit = Commit(new_id(), repo, branch, parent, base.snap if base else Snapshot(), self.next_seq(),
                        description)  # fmt: skip
        repo.commits[commit.id] = commit
        self.commit_sets[commit.id] = [commit]
        if parent is not None:
            parent.children.append(commit)
        if branch:
            self.set_head(repo, branch, commit)
        self.changed.notify_all()
        return commit

    def set_head(self, repo: Repo, branch: str, commit: Commit) -> Branch:
        existing = repo.branches.get(branch)
        if existing is not None:
            existing.head = commit
            return existing
        created = repo.branches[branch] = Branch(branch, repo, commit, self.next_seq())
        return created

    def finish(self, commit: Commit, description: str = "", error: str = "") -> None:
        commit.finishing = commit.finished = now_ns()
        if description:
            commit.description = description
        commit.error = error or collision(commit.snap)
        self.changed.notify_all()

    def remove_commit(self, commit: Commit) -> None:
        """Drop ``commit`` (it has no children): branches pointing at it go back to its parent."""
        repo = commit.repo
        for branch in repo.branches.values():
            if branch.head is commit:
                branch.head = commit.parent or self._empty_commit(repo, branch.name)
        if commit.parent is not None:
            commit.parent.children.remove(commit)
        commit.dropped = True
        repo.commits.pop(commit.id, None)
        self._unindex(commit)
        self.changed.notify_all()

    def squash_commit(self, commit: Commit) -> None:
        """Remove ``commit`` keeping its children (whose snapshots hold its changes already)."""
        parent = commit.parent
        for child in commit.children:
            child.parent = parent
            if parent is not None:
                parent.children.append(child)
        if parent is not None:
            parent.children.remove(commit)
        for branch in commit.repo.branches.values():
            if branch.head is commit:
                branch.head = parent or commit.children[0]
        commit.children = []
        commit.dropped = True
        commit.repo.commits.pop(commit.id, None)
        self._unindex(commit)
        self.changed.notify_all()

    def _empty_commit(self, repo: Repo, branch: str) -> Commit:
        commit = Commit(new_id(), repo, branch, None, Snapshot(), self.next_seq())
        repo.commits[commit.id] = commit
        self.commit_sets[commit.id] = [commit]
        self.finish(commit)
        return commit

    def empty_branch(self, repo: Repo, branch: str) -> Branch:
        """A new branch whose head is a new empty finished commit (pachd gives every branch a head)."""
        commit = self._empty_commit(repo, branch)
        return self.set_head(repo, branch, commit)

    def _unindex(self, commit: Commit) -> None:
        members = self.commit_sets.get(commit.id, [])
        if commit in members:
            members.remove(commit)
        if not members:
            self.commit_sets.pop(commit.id, None)


def collision(snap: Snapshot) -> str:
    """pachd's validation at finishing: no path may be both a file and a directory."""
    paths = sorted(snap.files)
    for path in paths:
        i = bisect.bisect_left(paths, path + "/")
        if i < len(paths) and paths[i].startswith(path + "/"):
            return f"file / directory path collision ({path})"
    return ""

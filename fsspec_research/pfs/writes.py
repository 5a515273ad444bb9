"""Writes to PFS: one commit per write, or one commit per branch for a whole ``fs.transaction``.

A commit is started on the branch, written with ModifyFile requests (a streamed file: its parts appended
in order) and finished; on any error it is dropped, so the branch head never moves to a half-written
commit. Python-pachyderm's ``commit()`` context manager is not used: it finishes even on exceptions.
"""

from __future__ import annotations

import contextlib
import errno
import threading
from dataclasses import dataclass, field
from typing import Any

from fsspec.transaction import Transaction

from .client import copy_op, delete_op, put_ops
from .urls import PFSPath, parse

__all__ = ["PFSTransaction", "PFSWrites"]


@dataclass
class _Upload:
    where: PFSPath
    commit: Any
    own: bool  # a commit of this upload alone (else the transaction's)
    branch_lock: threading.Lock | None
    turn: threading.Condition = field(default_factory=threading.Condition)
    next_part: int = 1


class PFSTransaction(Transaction):
    """``with fs.transaction:``: every write and delete goes into one open commit per branch, finished
    when the block ends and dropped if it raises (the branch head is then unchanged)."""

    def start(self) -> None:
        super().start()
        self.commits: dict[tuple[str, str, str], Any] = {}

    def complete(self, commit: bool = True) -> None:
        fs, ok = self.fs, False
        try:
            super().complete(commit)  # deferred files go into the open commits first
            ok = commit
        finally:
            commits, self.commits = dict(getattr(self, "commits", {})), {}
            fs._settle(commits, ok)


class PFSWrites:
    """Upload hooks and namespace changes, mixed into :class:`~fsspec_research.pfs.PFSFileSystem`."""

    # commits
    def _writable(self, path: str) -> PFSPath:
        where = parse(self._strip_protocol(path))
        if where.level != "file" or where.path == "/":
            raise ValueError(f"pfs://{path}: writes go to a file path inside repo@branch/")
        if where.is_commit_id or not where.ref.replace("-", "").replace("_", "").isalnum():
            raise PermissionError(errno.EROFS, "a commit is immutable; write to a branch", path)
        return where

    def _branch_lock(self, where: PFSPath, path: str) -> threading.Lock:
        """Taken while this filesystem has its own commit open on the branch: pachd refuses a second
        open commit on a branch, so concurrent writers (zarr writes chunks in parallel) take turns."""
        key = (where.project, where.repo, where.ref)
        with self._locks_guard:
            lock = self._branch_locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=self.client.timeout):
            raise BlockingIOError(errno.EAGAIN, "another write to this branch did not finish", path)
        return lock

    def _commit_for(self, where: PFSPath, path: str) -> tuple[Any, threading.Lock | None]:
        """The open commit a write to ``where`` goes into, and the branch lock when it is the write's own
        commit (to finish, then release); inside a transaction, the transaction's commit and None."""
        if self._intrans:
            commits = self.transaction.commits
            key = (where.project, where.repo, where.ref)
            with self._locks_guard:
                if key not in commits:
                    commits[key] = self._pfs(path, self.client.start_commit, where, "fsspec transaction")
                return commits[key], None
        lock = self._branch_lock(where, path)
        try:
            return self._pfs(path, self.client.start_commit, where), lock
        except BaseException:
            lock.release()
            raise

    def _in_commit(self, path: str, where: PFSPath, operations: list[Any]) -> None:
        """Apply ModifyFile ``operations`` in a commit of their own (or the transaction's)."""
        commit, lock = self._commit_for(where, path)
        try:
            self._pfs(path, self.client.modify, commit, iter(operations))
            if lock:
                self._pfs(path, self.client.finish_commit, commit)
        except BaseException:
            if lock:
                self._drop(commit)
            raise
        finally:
            if lock:
                lock.release()
        self.invalidate_cache(path)

    def _settle(self, commits: dict[tuple[str, str, str], Any], ok: bool) -> None:
        """Finish a transaction's commits, or drop them all."""
        pending = list(commits.values())
        try:
            while ok and pending:
                self._pfs("transaction", self.client.finish_commit, pending[0])
                pending.pop(0)
        finally:
            for commit in pending:
                self._drop(commit)
            self.invalidate_cache()

    def _drop(self, commit: Any) -> None:
        with contextlib.suppress(Exception):  # already gone, or the server is: nothing was published
            self.client.drop_commit(commit)

    # upload hooks
    def _upload_whole(self, path: str, data: bytes, exclusive: bool) -> None:
        where = self._writable(path)
        self._check_target(path, exclusive)
        self._in_commit(path, where, list(put_ops(where.path, data, append=False)))

    def _upload_start(self, path: str, exclusive: bool) -> _Upload:
        where = self._writable(path)
        self._check_target(path, exclusive)
        commit, lock = self._commit_for(where, path)
        return _Upload(where, commit, lock is not None, lock)

    def _upload_part(self, upload: _Upload, number: int, offset: int, data: memoryview) -> int:
        with upload.turn:  # parts append in order; earlier parts were submitted first
            upload.turn.wait_for(lambda: upload.next_part == number)
        try:
            ops = put_ops(upload.where.path, data, append=number > 1)
            self._pfs(str(upload.where), self.client.modify, upload.commit, ops)
        finally:
            with upload.turn:
                upload.next_part += 1
                upload.turn.notify_all()
        return len(data)

    def _upload_commit(self, upload: _Upload, results: list[int]) -> None:
        if upload.own:
            try:
                self._pfs(str(upload.where), self.client.finish_commit, upload.commit)
            except BaseException:
                self._drop(upload.commit)
                raise
            finally:
                upload.branch_lock.release()
        self.invalidate_cache(str(upload.where))

    def _upload_abort(self, upload: _Upload) -> None:
        if upload.own:
            try:
                self._drop(upload.commit)
            finally:
                upload.branch_lock.release()
            return
        # the transaction's commit stays: put back what the file was before this write appended to it
        where, path = upload.where, str(upload.where)
        with contextlib.suppress(Exception):  # a transaction being dropped takes the parts with it
            parent = self.client.inspect_commit(where, upload.commit.id).parent_commit.id
            ops = [delete_op(where.path)]
            if parent and self._exists_at(where, parent):
                ops.append(copy_op(self.client.file(where, parent), where.path))
            self._pfs(path, self.client.modify, upload.commit, iter(ops))

    def _exists_at(self, where: PFSPath, commit_id: str) -> bool:
        try:
            self._pfs(str(where), self.client.inspect_file, where, commit_id)
            return True
        except FileNotFoundError:
            return False

    def _check_target(self, path: str, exclusive: bool) -> None:
        try:
            info = self.info(path)
        except FileNotFoundError:
            return
        if info["type"] == "directory":
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        if exclusive:
            raise FileExistsError(errno.EEXIST, "exists already", path)

    # namespace
    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A repo at the top level, a branch as ``repo@branch`` (from ``head=``, else empty); a no-op
        inside a commit, where directories exist only through their files."""
        path = self._strip_protocol(path)
        where = parse(path)
        if where.level == "repo":
            self._pfs(path, self.client.create_repo, where, kwargs.get("description", ""))
        elif where.level == "file" and where.path == "/":
            if create_parents and not self._exists_repo(where):
                self._pfs(path, self.client.create_repo, where, "")
            self._pfs(path, self.client.create_branch, where, where.ref, kwargs.get("head"))
        self.invalidate_cache(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if self.exists(path):
            if not exist_ok:
                raise FileExistsError(errno.EEXIST, "exists already", self._strip_protocol(path))
            return
        self.mkdir(path, create_parents=True)

    def _exists_repo(self, where: PFSPath) -> bool:
        try:
            self.client.inspect_repo(where)
            return True
        except Exception:
            return False

    def rmdir(self, path: str) -> None:
        """Delete an empty repo or a branch; inside a commit, nothing to do for an empty directory."""
        path = self._strip_protocol(path)
        where = parse(path)
        if where.level == "repo":
            if any(self.find(f"{path}@{b}") for b in self.info(path)["branches"]):
                raise OSError(errno.ENOTEMPTY, "repo has files", path)
            self._pfs(path, self.client.delete_repo, where)
        elif where.level == "file" and where.path == "/":
            self._pfs(path, self.client.delete_branch, where, where.ref)
        elif self.find(path):
            raise OSError(errno.ENOTEMPTY, "directory not empty", path)
        self.invalidate_cache(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (and with ``recursive`` directories) in one commit per branch; a repo, with
        ``recursive``, is deleted whole."""
        paths = [self._strip_protocol(p) for p in (path if isinstance(path, list) else [path])]
        if maxdepth is not None or any(self._has_magic(p) for p in paths):
            paths = self.expand_path(paths, recursive=recursive, maxdepth=maxdepth)
        by_branch: dict[PFSPath, list[Any]] = {}
        for p in paths:
            where = parse(p)
            if where.level == "repo":
                if not recursive:
                    raise IsADirectoryError(errno.EISDIR, "a repo: use recursive=True", p)
                self._pfs(p, self.client.delete_repo, where, True)
                continue
            if where.level == "root":
                raise PermissionError(errno.EPERM, "refusing to delete every repo", "pfs://")
            info = self.info(p)
            if info["type"] == "directory" and not recursive:
                raise IsADirectoryError(errno.EISDIR, "is a directory: use recursive=True", p)
            target = where.path.rstrip("/") + ("/" if info["type"] == "directory" else "")
            by_branch.setdefault(where.at(where.ref, "/"), []).append(delete_op(target))
        for branch, ops in by_branch.items():
            self._in_commit(str(branch), self._writable(str(branch.at(branch.ref, "/x"))), ops)
        self.invalidate_cache()

    @staticmethod
    def _has_magic(path: str) -> bool:
        return any(c in path for c in "*?[")

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side copy (across repos too), pinned to the source's commit now."""
        src, dst = parse(self._strip_protocol(path1)), self._writable(path2)
        commit = self.resolve(path1)
        if self.info(path1)["type"] == "directory":
            return  # directories exist through their files; copy(recursive=True) copies those
        operation = copy_op(self.client.file(src, commit), dst.path)
        self._in_commit(str(dst), dst, [delete_op(dst.path), operation])

    def mv(
        self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kw: Any
    ) -> None:
        """Copy then delete, in ONE commit when both are on the same branch (directories too)."""
        src, dst = parse(self._strip_protocol(path1)), self._writable(path2)
        if (src.project, src.repo, src.ref) != (dst.project, dst.repo, dst.ref):
            super().mv(path1, path2, recursive=True, maxdepth=maxdepth, **kw)
            return
        commit = self.resolve(path1)
        is_dir = self.info(path1)["type"] == "directory"
        source = src.path.rstrip("/") + ("/" if is_dir else "")
        target = dst.path.rstrip("/") + ("/" if is_dir else "")
        ops = [delete_op(target), copy_op(self.client.file(src, commit, source), target), delete_op(source)]
        self._in_commit(str(dst), dst, ops)
        self.invalidate_cache()

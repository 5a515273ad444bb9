"""The ``pfs_v2.API`` servicer: every PFS RPC python-pachyderm 7.6 calls, with pachd's results and errors.

State is read and changed under the store's lock; streams build their messages under it and yield them
after releasing it. Waits (InspectCommit ``wait``, InspectCommitSet ``wait``, SubscribeCommit) sleep on the
store's condition and end when the call is cancelled or the server stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import empty_pb2, wrappers_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from . import errors
from .errors import PFSError
from .files import add_op, apply, below, diff, glob_entries, lookup, rechunk, tar_stream, tree_of
from .messages import (
    branch_info,
    commit_info,
    commit_msg,
    file_info,
    project_info,
    repo_info,
)
from .model import Commit, Project, Store
from .refs import (
    UUID,
    clean_path,
    commit_repo_key,
    get_repo,
    parse_ancestry,
    repo_key,
    resolve,
    validate_name,
)

EMPTY = empty_pb2.Empty()
USER = pfs_pb2.OriginKind.USER


class PFSServicer(pfs_pb2_grpc.APIServicer):
    def __init__(self, store: Store, chunk_size: int) -> None:
        self.store = store
        self.chunk_size = chunk_size

    def _wait(self, context: Any, ready: Callable[[], bool]) -> None:
        """Sleep on the store's condition (lock held) until ``ready()``, the call ends or the server stops."""
        while not ready():
            if self.store.stopping:
                raise PFSError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            if not context.is_active():
                raise PFSError(grpc.StatusCode.CANCELLED, "the call was cancelled")
            self.store.changed.wait(0.25)

    # projects
    def CreateProject(self, request: Any, context: Any) -> Any:
        name = request.project.name
        validate_name("project", name)
        with self.store.lock:
            project = self.store.projects.get(name)
            if project is not None and not request.update:
                raise errors.project_exists(name)
            if project is None:
                project = self.store.projects[name] = Project(name, self.store.next_seq())
            project.description = request.description
        return EMPTY

    def InspectProject(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            project = self.store.projects.get(request.project.name or "default")
            if project is None:
                raise errors.project_not_found(request.project.name)
            return project_info(project)

    def ListProject(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            infos = [project_info(p) for p in sorted(self.store.projects.values(), key=lambda p: p.seq)]
        yield from infos

    def DeleteProject(self, request: Any, context: Any) -> Any:
        name = request.project.name
        with self.store.lock:
            project = self.store.projects.get(name)
            if project is None:
                raise errors.project_not_found(name)
            if project.repos and not request.force:
                raise errors.unknown(f"cannot delete project {name}: it still has {len(project.repos)} repos")
            for repo in list(project.repos.values()):
                self.store.delete_repo(repo)
            del self.store.projects[name]
        return EMPTY

    # repos
    def CreateRepo(self, request: Any, context: Any) -> Any:
        project, name = repo_key(request.repo)
        validate_name("repo", name)
        if request.repo.type not in ("", "user"):
            raise errors.unknown(f"cannot create a repo of type {request.repo.type}")
        with self.store.lock:
            if project not in self.store.projects:
                raise errors.project_not_found(project)
            repo = self.store.find_repo(project, name)
            if repo is None:
                self.store.add_repo(project, name, request.description)
            elif request.update:
                repo.description = request.description
            else:
                raise errors.repo_exists(repo.label)
        return EMPTY

    def InspectRepo(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            return repo_info(get_repo(self.store, *repo_key(request.repo)))

    def ListRepo(self, request: Any, context: Any) -> Iterator[Any]:
        projects = {p.name or "default" for p in request.projects}
        with self.store.lock:
            repos = [] if request.type not in ("", "user", "all") else list(self.store.repos())
            repos = [r for r in repos if not projects or r.project in projects]
            infos = [repo_info(r) for r in sorted(repos, key=lambda r: -r.seq)]
        yield from infos

    def DeleteRepo(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            repo = self.store.find_repo(*repo_key(request.repo))
            if repo is not None:  # pachd: deleting a missing repo is no error
                self.store.delete_repo(repo)
        return EMPTY

    def DeleteAll(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            for repo in list(self.store.repos()):
                self.store.delete_repo(repo)
        return EMPTY

    # commits
    def StartCommit(self, request: Any, context: Any) -> Any:
        branch = request.branch.name
        with self.store.lock:
            repo = get_repo(self.store, *repo_key(request.branch.repo))
            if not branch:
                raise errors.unknown("branch must be specified")
            validate_name("branch", branch)
            if request.HasField("parent"):
                parent: Commit | None = resolve(self.store, request.parent)
            else:
                head = repo.branches.get(branch)
                parent = head.head if head else None
            if parent is not None and parent.finished is None:
                raise errors.unknown(f"parent commit {parent.label} has not been finished")
            commit = self.store.new_commit(repo, branch, parent, request.description)
            return commit_msg(commit)

    def FinishCommit(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            commit = resolve(self.store, request.commit)
            if commit.finishing is not None:
                raise errors.commit_finished(commit.label)
            self.store.finish(commit, request.description, request.error)
        return EMPTY

    def InspectCommit(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            commit = resolve(self.store, request.commit)
            self._wait(context, lambda: commit.dropped or commit.reached(request.wait))
            if commit.dropped:
                raise errors.commit_not_found(commit.label)
            return commit_info(commit)

    def ListCommit(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            repo = get_repo(self.store, *repo_key(request.repo))
            start = resolve(self.store, getattr(request, "from")) if request.HasField("from") else None
            if start is not None and not request.HasField("to"):
                raise errors.unknown("cannot use `from` commit without `to` commit")
            if request.HasField("to"):
                chain, cursor = [], resolve(self.store, request.to)
                while cursor is not None and cursor is not start:
                    chain.append(cursor)
                    cursor = cursor.parent
                commits = _limit(_filter(chain, request), request.number)
                commits = commits[::-1] if request.reverse else commits
            else:
                commits = sorted(repo.commits.values(), key=lambda c: c.seq, reverse=not request.reverse)
                commits = _limit(_filter(commits, request), request.number)
            infos = [commit_info(c) for c in commits]
        yield from infos

    def SubscribeCommit(self, request: Any, context: Any) -> Iterator[Any]:
        key, sent = repo_key(request.repo), set()
        with self.store.lock:
            repo = get_repo(self.store, *key)
            start = resolve(self.store, getattr(request, "from")).seq if request.HasField("from") else 0
        while True:
            with self.store.lock:

                def pending() -> list[Commit]:
                    return sorted(
                        (c for c in repo.commits.values()
                         if c.branch == request.branch and c.seq >= start and c.id not in sent),
                        key=lambda c: c.seq,
                    )  # fmt: skip

                def ready() -> bool:
                    todo = pending()
                    gone = self.store.find_repo(*key) is not repo
                    return gone or bool(todo and todo[0].reached(request.state))

                self._wait(context, ready)
                if self.store.find_repo(*key) is not repo:
                    raise errors.repo_not_found(repo.label)
                commit = pending()[0]
                sent.add(commit.id)
                info = commit_info(commit) if request.origin_kind in (0, USER) or request.all else None
            if info is not None:
                yield info

    def InspectCommitSet(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            commits = list(self.store.commit_sets.get(request.commit_set.id, ()))
            if not commits:
                raise errors.commit_set_not_found(request.commit_set.id)
            if request.wait:
                self._wait(context, lambda: all(c.finished is not None or c.dropped for c in commits))
            infos = [commit_info(c) for c in commits if not c.dropped]
        yield from infos

    def ListCommitSet(self, request: Any, context: Any) -> Iterator[Any]:
        project = request.project.name if request.HasField("project") else ""
        with self.store.lock:
            sets = self.store.commit_sets.items()
            infos = []
            for set_id, commits in sorted(sets, key=lambda s: max(c.seq for c in s[1]), reverse=True):
                members = [commit_info(c) for c in commits if not project or c.repo.project == project]
                if members:
                    commit_set = pfs_pb2.CommitSet(id=set_id)
                    infos.append(pfs_pb2.CommitSetInfo(commit_set=commit_set, commits=members))
        yield from infos

    def SquashCommitSet(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            commits = self._commit_set(request.commit_set.id)
            for commit in commits:
                if not commit.children:
                    raise errors.unknown(
                        "cannot squash a commit that has no children as that would cause data loss, "
                        f"use the drop operation instead: {commit.label}"
                    )
            for commit in commits:
                self.store.squash_commit(commit)
        return EMPTY

    def DropCommitSet(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            commits = self._commit_set(request.commit_set.id)
            for commit in commits:
                if commit.children:
                    raise errors.unknown(f"cannot drop a commit that has children: {commit.label}")
            for commit in commits:
                self.store.remove_commit(commit)
        return EMPTY

    def _commit_set(self, set_id: str) -> list[Commit]:
        commits = list(self.store.commit_sets.get(set_id, ()))
        if not commits:
            raise errors.commit_set_not_found(set_id)
        return commits

    # branches
    def CreateBranch(self, request: Any, context: Any) -> Any:
        name = request.branch.name
        validate_name("branch", name)
        if request.provenance:
            raise errors.unimplemented("branch provenance")
        if request.HasField("trigger"):
            raise errors.unimplemented("branch triggers")
        with self.store.lock:
            repo = get_repo(self.store, *repo_key(request.branch.repo))
            if request.HasField("head"):
                head = resolve(self.store, request.head)
                if head.repo is not repo:
                    raise errors.unknown(f"the head must be a commit of repo {repo.label}")
                if request.new_commit_set:
                    head = self.store.new_commit(repo, name, head)
                    self.store.finish(head)
                self.store.set_head(repo, name, head)
            elif name not in repo.branches:
                self.store.empty_branch(repo, name)
            self.store.changed.notify_all()
        return EMPTY

    def InspectBranch(self, request: Any, context: Any) -> Any:
        project, name = repo_key(request.branch.repo)
        with self.store.lock:
            repo = self.store.find_repo(project, name)
            branch = repo.branches.get(request.branch.name) if repo else None
            if branch is None:
                raise errors.branch_not_found(request.branch.name, f"{project}/{name}")
            return branch_info(branch)

    def ListBranch(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            repo = get_repo(self.store, *repo_key(request.repo))
            branches = sorted(repo.branches.values(), key=lambda b: b.seq, reverse=not request.reverse)
            infos = [branch_info(b) for b in branches]
        yield from infos

    def DeleteBranch(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            repo = get_repo(self.store, *repo_key(request.branch.repo))
            if repo.branches.pop(request.branch.name, None) is None and not request.force:
                raise errors.branch_not_found(request.branch.name, repo.label)
        return EMPTY

    # files
    def ModifyFile(self, request_iterator: Any, context: Any) -> Any:
        first = next(request_iterator, None)
        if first is None:
            return EMPTY
        if first.WhichOneof("body") != "set_commit":
            raise errors.unknown("commit must be set in the first ModifyFile message")
        with self.store.lock:
            self._writable(first.set_commit, check_only=True)
        ops: list[Any] = []
        for request in request_iterator:  # read without the lock
            add_op(ops, request)
        with self.store.lock:
            repo = get_repo(self.store, *commit_repo_key(first.set_commit))
            branches = set(repo.branches)
            commit, one_off = self._writable(first.set_commit)
            try:
                apply(self.store, commit, ops)
            except BaseException:
                if one_off:  # nothing of a failed one-off write remains
                    if commit.branch not in branches:
                        repo.branches.pop(commit.branch, None)
                    self.store.remove_commit(commit)
                raise
            if one_off:
                self.store.finish(commit)
            self.store.changed.notify_all()
        return EMPTY

    def _writable(self, message: Any, check_only: bool = False) -> tuple[Commit, bool]:
        """The open commit a ModifyFile writes to, and whether it is a one-off commit to finish afterwards:
        a branch whose head is finished (or a missing branch) gets a new commit; an explicit finished
        commit is refused."""
        repo = get_repo(self.store, *commit_repo_key(message))
        base, back = parse_ancestry(message.id)
        branch = None if back or UUID.match(base) else (message.branch.name or base)
        try:
            commit: Commit | None = resolve(self.store, message)
        except PFSError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND or not branch:
                raise
            validate_name("branch", branch)
            commit = None
        if commit is not None and commit.finishing is None:
            return commit, False
        if branch is None:
            raise errors.commit_finished(commit.label)  # type: ignore[union-attr]
        if check_only:
            return commit, True  # type: ignore[return-value]
        return self.store.new_commit(repo, branch, commit), True

    def GetFile(self, request: Any, context: Any) -> Iterator[Any]:
        if request.URL:
            raise errors.unimplemented("GetFile to a URL")
        with self.store.lock:
            commit = resolve(self.store, request.file.commit)
            tree = tree_of(commit, request.file.datum)
            matches = _in_range(glob_entries(tree, request.file.path), request)
            if not matches:
                raise errors.file_not_found(clean_path(request.file.path), commit.repo.label, commit.id)
            if matches[0].endswith("/"):
                raise errors.unknown(errors.MATCHED_NON_FILE)
            if len(matches) > 1:
                raise errors.unknown(errors.MATCHED_MULTIPLE_FILES)
            blob = tree.blobs[matches[0]]
        for piece in blob.pieces(max(0, request.offset), self.chunk_size):
            yield wrappers_pb2.BytesValue(value=piece)

    def GetFileTAR(self, request: Any, context: Any) -> Iterator[Any]:
        if request.URL:
            raise errors.unimplemented("GetFileTAR to a URL")
        with self.store.lock:
            commit = resolve(self.store, request.file.commit)
            tree = tree_of(commit, request.file.datum)
            matches = _in_range(glob_entries(tree, request.file.path), request)
            if not matches:
                raise errors.file_not_found(clean_path(request.file.path), commit.repo.label, commit.id)
            pieces = list(tar_stream(tree, matches, (commit.finished or commit.started) / 1e9))
        for piece in rechunk(pieces, self.chunk_size):
            yield wrappers_pb2.BytesValue(value=piece)

    def InspectFile(self, request: Any, context: Any) -> Any:
        with self.store.lock:
            commit = resolve(self.store, request.file.commit)
            tree = tree_of(commit, request.file.datum)
            path = clean_path(request.file.path)
            entry = lookup(tree, path)
            if entry is None:
                raise errors.file_not_found(path, commit.repo.label, commit.id)
            return file_info(commit, tree, entry)

    def ListFile(self, request: Any, context: Any) -> Iterator[Any]:
        return self._list(request, walk=False)

    def WalkFile(self, request: Any, context: Any) -> Iterator[Any]:
        return self._list(request, walk=True)

    def _list(self, request: Any, walk: bool) -> Iterator[Any]:
        if request.reverse and request.number == 0:
            raise errors.unknown(errors.REVERSE_NEEDS_NUMBER)
        with self.store.lock:
            commit = resolve(self.store, request.file.commit)
            tree = tree_of(commit, request.file.datum)
            path = clean_path(request.file.path)
            entry = lookup(tree, path)
            if entry is None and walk and path != "/":
                raise errors.file_not_found(path, commit.repo.label, commit.id)
            if walk or entry is None or not entry.endswith("/"):
                entries = below(tree, entry)
            else:
                entries = tree.children.get(entry, [])
            marker = request.paginationMarker.path if request.HasField("paginationMarker") else ""
            if marker:
                marker = "/" + marker.lstrip("/")
                entries = [e for e in entries if (e < marker if request.reverse else e > marker)]
            entries = entries[::-1] if request.reverse else entries
            infos = [file_info(commit, tree, e) for e in _limit(entries, request.number)]
        return iter(infos)

    def GlobFile(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            commit = resolve(self.store, request.commit)
            tree = tree_of(commit)
            entries = _in_range(glob_entries(tree, request.pattern), request)
            infos = [file_info(commit, tree, e) for e in entries]
        return iter(infos)

    def DiffFile(self, request: Any, context: Any) -> Iterator[Any]:
        with self.store.lock:
            new = resolve(self.store, request.new_file.commit)
            new_tree, new_path = tree_of(new), clean_path(request.new_file.path)
            if request.HasField("old_file"):
                old: Commit | None = resolve(self.store, request.old_file.commit)
                old_path = clean_path(request.old_file.path)
            else:
                old, old_path = new.parent, new_path
                while old is not None and old.error:
                    old = old.parent
            old_tree = tree_of(old) if old is not None else None
            out = []
            for n, o in diff(new_tree, new_path, old_tree, old_path):
                response = pfs_pb2.DiffFileResponse()
                if n is not None:
                    response.new_file.CopyFrom(file_info(new, new_tree, n))
                if o is not None and old is not None and old_tree is not None:
                    response.old_file.CopyFrom(file_info(old, old_tree, o))
                out.append(response)
        return iter(out)

    def Fsck(self, request: Any, context: Any) -> Iterator[Any]:
        return iter(())


def _filter(commits: list[Commit], request: Any) -> list[Commit]:
    """ListCommit's filters: origin kind (every commit here is USER) and ``started_time`` (started at or
    before it)."""
    if request.origin_kind not in (0, USER) and not request.all:
        return []
    if request.HasField("started_time"):
        limit = request.started_time.seconds * 1_000_000_000 + request.started_time.nanos
        commits = [c for c in commits if c.started <= limit]
    return commits


def _limit(items: list, number: int) -> list:
    return items[:number] if number > 0 else items


def _in_range(entries: list[str], request: Any) -> list[str]:
    if not request.HasField("path_range"):
        return entries
    lower, upper = request.path_range.lower, request.path_range.upper
    return [e for e in entries if (not lower or e >= lower) and (not upper or e < upper)]

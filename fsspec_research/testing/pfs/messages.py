"""Protobuf messages (python-pachyderm's generated classes) for the model's objects."""

from __future__ import annotations

from google.protobuf import timestamp_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2

from .model import Branch, Commit, Project, Repo, Tree

FILE, DIR = pfs_pb2.FileType.FILE, pfs_pb2.FileType.DIR


def timestamp(ns: int | None) -> timestamp_pb2.Timestamp | None:
    if ns is None:
        return None
    return timestamp_pb2.Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def project_msg(name: str) -> pfs_pb2.Project:
    return pfs_pb2.Project(name=name)


def repo_msg(repo: Repo) -> pfs_pb2.Repo:
    return pfs_pb2.Repo(name=repo.name, type="user", project=project_msg(repo.project))


def branch_msg(repo: Repo, name: str) -> pfs_pb2.Branch:
    return pfs_pb2.Branch(repo=repo_msg(repo), name=name)


def commit_msg(commit: Commit) -> pfs_pb2.Commit:
    repo = repo_msg(commit.repo)
    return pfs_pb2.Commit(id=commit.id, branch=pfs_pb2.Branch(repo=repo, name=commit.branch), repo=repo)


def commit_info(commit: Commit) -> pfs_pb2.CommitInfo:
    size = commit.snap.size
    info = pfs_pb2.CommitInfo(
        commit=commit_msg(commit),
        origin=pfs_pb2.CommitOrigin(kind=pfs_pb2.OriginKind.USER),
        description=commit.description,
        parent_commit=commit_msg(commit.parent) if commit.parent else None,
        child_commits=[commit_msg(c) for c in commit.children],
        started=timestamp(commit.started),
        finishing=timestamp(commit.finishing),
        finished=timestamp(commit.finished),
        error=commit.error,
        size_bytes_upper_bound=size,
    )
    if commit.finished is not None:
        info.details.size_bytes = size
    return info


def branch_info(branch: Branch) -> pfs_pb2.BranchInfo:
    return pfs_pb2.BranchInfo(branch=branch_msg(branch.repo, branch.name), head=commit_msg(branch.head))


def repo_info(repo: Repo) -> pfs_pb2.RepoInfo:
    size = repo_size(repo)
    return pfs_pb2.RepoInfo(
        repo=repo_msg(repo),
        created=timestamp(repo.created),
        size_bytes_upper_bound=size,
        description=repo.description,
        branches=[branch_msg(repo, name) for name in repo.branches],
        details=pfs_pb2.RepoInfo.Details(size_bytes=size),
    )


def repo_size(repo: Repo) -> int:
    """pachd's repo size: the newest finished commit on ``master``."""
    master = repo.branches.get("master")
    commit = master.head if master else None
    while commit is not None and commit.finished is None:
        commit = commit.parent
    return commit.snap.size if commit is not None else 0


def project_info(project: Project) -> pfs_pb2.ProjectInfo:
    return pfs_pb2.ProjectInfo(
        project=project_msg(project.name), description=project.description,
        created_at=timestamp(project.created),
    )  # fmt: skip


def file_info(commit: Commit, tree: Tree, entry: str) -> pfs_pb2.FileInfo:
    """The FileInfo of ``entry`` (a file path, or a directory path ending in ``/``)."""
    is_dir = entry.endswith("/")
    return pfs_pb2.FileInfo(
        file=pfs_pb2.File(commit=commit_msg(commit), path=entry),
        file_type=DIR if is_dir else FILE,
        committed=timestamp(commit.finished),
        size_bytes=tree.size(entry),
        hash=tree.hash(entry),
    )

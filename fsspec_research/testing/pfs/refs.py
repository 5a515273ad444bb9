"""Names, paths and commit references as pachd resolves them.

A Commit message names a commit by ``id`` (a uuid4 hex), by ``branch.name`` (its head) or by an id that is
not a uuid (then a branch name). The id may carry ancestry: ``x^``/``x~`` (parent), ``x^^``, ``x^3`` (three
back) and ``x.N`` (the N-th commit from the start of ``x``'s history, 1 the oldest).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from . import errors
from .model import DEFAULT_PROJECT, Commit, Repo, Store

UUID = re.compile(r"^[0-9a-f]{12}4[0-9a-f]{19}$")
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


def validate_name(kind: str, name: str) -> None:
    if not _NAME.match(name or ""):
        raise errors.invalid_name(kind, name)


def clean_path(path: str) -> str:
    """``""`` -> ``/``, ``a/b/`` -> ``/a/b`` (as pachd's path.Join("/", p))."""
    cleaned = posixpath.normpath("/" + path)
    return "/" + cleaned.lstrip("/")


def repo_key(repo: Any) -> tuple[str, str]:
    """(project, name) of a Repo message; an empty project is ``default``."""
    return repo.project.name or DEFAULT_PROJECT, repo.name


def commit_repo_key(commit: Any) -> tuple[str, str]:
    """The repo of a Commit message: its branch's, else its own ``repo`` field (python-pachyderm never sets
    the latter)."""
    repo = commit.branch.repo if commit.branch.repo.name else commit.repo
    return repo_key(repo)


def get_repo(store: Store, project: str, name: str) -> Repo:
    repo = store.find_repo(project, name)
    if repo is None:
        if project not in store.projects:
            raise errors.project_not_found(project)
        raise errors.repo_not_found(f"{project}/{name}")
    return repo


def parse_ancestry(ref: str) -> tuple[str, int]:
    """``(base, n)``: ``n > 0`` goes ``n`` parents back, ``n < 0`` is ``.N`` counted from the start."""
    sep_at = next((i for i, c in enumerate(ref) if c in "^~."), -1)
    if sep_at < 0:
        return ref, 0
    sep, rest = ref[sep_at], ref[sep_at + 1 :]
    if rest.isdigit():
        return ref[:sep_at], -int(rest) if sep == "." else int(rest)
    if rest.strip(sep):
        raise errors.unknown(f"invalid commit ID or branch name: {ref}")
    return ref[:sep_at], len(ref) - sep_at


def resolve(store: Store, message: Any) -> Commit:
    """The commit a Commit message names (call with the store's lock held)."""
    project, name = commit_repo_key(message)
    label = f"{project}/{name}"
    ref, branch = message.id, message.branch.name
    if not ref and not branch:
        raise errors.unknown("cannot resolve commit with no ID or branch")
    base, back = parse_ancestry(ref)
    if base and not UUID.match(base):
        if branch:
            raise errors.unknown(f"invalid commit ID given with a branch ({label}@{branch}): {base}")
        branch, base = base, ""
    repo = store.find_repo(project, name)
    if not base:
        head = repo.branches.get(branch) if repo else None
        if head is None:
            raise errors.branch_not_found(branch, label)
        commit = head.head
    else:
        found = repo.commits.get(base) if repo else None
        if found is None:
            raise errors.commit_not_found(f"{label}@{base}")
        commit = found
    if back > 0:
        for _ in range(back):
            if commit.parent is None:
                raise errors.commit_not_found(f"{label}@{ref}")
            commit = commit.parent
    elif back < 0:
        chain = [commit]
        while chain[-1].parent is not None:
            chain.append(chain[-1].parent)
        if -back > len(chain):
            raise errors.commit_not_found(f"{label}@{ref}")
        commit = chain[len(chain) + back]
    return commit


def readable(commit: Commit) -> Commit:
    """``commit`` if its files may be read (pachd refuses commits finished with an error)."""
    if commit.error:
        raise errors.commit_error(commit.label)
    return commit

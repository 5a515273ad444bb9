"""``pfs://[project/]repo@ref/path`` paths.

``ref`` is a branch (``master``), a commit id (uuid4 hex, as pachd makes them) or an ancestry
such as ``master^2`` or ``master.1``, as Pachyderm accepts it. Without ``@ref`` a path names a
repo (whose entries are its branches); an empty path is the top level, listing every repo
(``project/repo`` outside the default project).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_PROJECT", "PFSPath", "is_commit_id", "parse"]

DEFAULT_PROJECT = "default"
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_COMMIT_ID = re.compile(r"^[0-9a-f]{12}4[0-9a-f]{19}$")  # pachd's commit ids are uuid4 hex


@dataclass(frozen=True)
class PFSPath:
    """One parsed path; ``level`` is "root", "repo" or "file" (a file or directory in a commit)."""

    project: str = DEFAULT_PROJECT
    repo: str = ""
    ref: str = ""
    path: str = "/"  # absolute within the commit

    @property
    def level(self) -> str:
        if self.ref:
            return "file"
        return "repo" if self.repo else "root"

    @property
    def is_commit_id(self) -> bool:
        return is_commit_id(self.ref)

    @property
    def repo_name(self) -> str:
        """``[project/]repo`` as paths spell it (the default project is left out)."""
        return self.repo if self.project == DEFAULT_PROJECT else f"{self.project}/{self.repo}"

    def at(self, ref: str, path: str | None = None) -> PFSPath:
        return PFSPath(self.project, self.repo, ref, self.path if path is None else path)

    def __str__(self) -> str:
        """The fsspec name: ``[project/]repo@ref/path`` without a trailing slash."""
        if self.level == "root":
            return ""
        if self.level == "repo":
            return self.repo_name
        tail = self.path.rstrip("/")
        return f"{self.repo_name}@{self.ref}{tail}"


def is_commit_id(ref: str) -> bool:
    return _COMMIT_ID.match(ref) is not None


def parse(path: str) -> PFSPath:
    """Parse a path with the protocol already stripped; raise ValueError naming it when malformed."""
    text = path.strip("/")
    if not text:
        return PFSPath()
    head, _, rest = text.partition("/")
    project = DEFAULT_PROJECT
    if "@" not in head and rest:
        project = head
        head, _, rest = rest.partition("/")
    repo, at, ref = head.partition("@")
    if at and not ref:
        raise ValueError(f"pfs://{path}: empty ref after '@'")
    for kind, name in (("project", project), ("repo", repo)):
        if name and not _NAME.match(name):
            raise ValueError(
                f"pfs://{path}: invalid {kind} name {name!r} (letters, digits, '_' and '-' only)"
            )
    if rest and not ref:
        raise ValueError(f"pfs://{path}: a path inside a repo needs a ref, as repo@branch/{rest}")
    if not repo:
        raise ValueError(f"pfs://{path}: no repo name")
    return PFSPath(project, repo, ref, "/" + rest if rest else "/")

"""The one module that calls python-pachyderm: connection, every PFS request, and error mapping.

Requests go through a stub on the client's channel (which carries the auth token), with deadlines, so a
stalled server raises instead of hanging; streams are iterated here, so an error in the middle of a
stream raises (python-pachyderm's ``PFSFile.read`` swallows it). A later move to pachyderm-sdk touches
this module only.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

from ..core.errors import Fault, Kind
from .urls import DEFAULT_PROJECT, PFSPath, is_commit_id

__all__ = ["PFSClient", "classify_pfs"]

MiB = 2**20
PUT_CHUNK = 19 * MiB  # what python-pachyderm sends per ModifyFile message (pachd's limit is 20 MiB)
_GLOB_SPECIALS = re.compile(r"([*?\[\]{}\\])")

_STATUS_KINDS = {
    "NOT_FOUND": Kind.NOT_FOUND,
    "ALREADY_EXISTS": Kind.EXISTS,
    "PERMISSION_DENIED": Kind.PERMISSION,
    "UNAUTHENTICATED": Kind.PERMISSION,
    "INVALID_ARGUMENT": Kind.INVALID,
    "UNAVAILABLE": Kind.TRANSIENT,
    "DEADLINE_EXCEEDED": Kind.TRANSIENT,
    "RESOURCE_EXHAUSTED": Kind.TRANSIENT,
    "ABORTED": Kind.TRANSIENT,
    "INTERNAL": Kind.TRANSIENT,
}
_TEXT_KINDS = (  # pachd reports these with code UNKNOWN
    (re.compile(r"parent commit .* has not been finished"), Kind.TRANSIENT),  # another writer's commit
    (re.compile(r"not found"), Kind.NOT_FOUND),
    (re.compile(r"already exists"), Kind.EXISTS),
    (re.compile(r"has already finished|output (repo|commit)|cannot (start|write)"), Kind.PERMISSION),
)


def _status(exc: BaseException) -> tuple[str | None, str]:
    """gRPC status and details of ``exc`` or its cause (python-pachyderm wraps some in ConnectionError)."""
    for err in (exc, exc.__cause__):
        code = getattr(err, "code", None)
        if callable(code):
            try:
                return code().name, str(err.details() or "")
            except Exception:
                continue
    return None, ""


def classify_pfs(exc: BaseException) -> Fault | None:
    status, details = _status(exc)
    if status is None:
        return None
    if status in _STATUS_KINDS:
        return Fault(_STATUS_KINDS[status])
    for pattern, kind in _TEXT_KINDS:
        if pattern.search(details):
            return Fault(kind)
    return Fault(Kind.OTHER)


def describe(exc: BaseException) -> str:
    """The server's message for ``exc`` (what pachd said), else its text."""
    status, details = _status(exc)
    return f"{details} ({status})" if status else str(exc)


def glob_escape(path: str) -> str:
    """``path`` as a literal for the glob-taking PFS requests (GetFile takes a pattern)."""
    return _GLOB_SPECIALS.sub(r"\\\1", path)


class PFSClient:
    """A python-pachyderm client per process, made on first use, never from the default-host lookup."""

    def __init__(
        self,
        host: str,
        port: int,
        auth_token: str | None = None,
        tls: bool | None = None,
        root_certs: bytes | None = None,
        timeout: float = 60.0,
        connections: int = 4,
    ) -> None:
        self.host, self.port = host, int(port)
        self.tls, self.timeout = tls, timeout
        self.connections = connections
        self._auth_token, self._root_certs = auth_token, root_certs
        self._client: Any = None
        self._stub: Any = None
        self._read_stubs: list[Any] = []
        self._pid = 0
        self._lock = threading.Lock()
        self._thread = threading.local()
        self._threads = itertools.count()

    def __repr__(self) -> str:
        scheme = "grpcs" if self.tls or self._root_certs else "grpc"
        return f"PFSClient({scheme}://{self.host}:{self.port}{', token' if self._auth_token else ''})"

    @property
    def stub(self) -> Any:
        if self._stub is None or self._pid != os.getpid():
            with self._lock:
                if self._stub is None or self._pid != os.getpid():
                    self._connect()
        return self._stub

    @property
    def client(self) -> Any:
        self.stub  # noqa: B018  (connects)
        return self._client

    def read_stub(self) -> Any:
        """The stub of this thread's read connection: gRPC multiplexes every stream of a channel over one
        TCP connection, so parallel reads spread over ``connections`` channels of their own."""
        stub = self.stub
        index = getattr(self._thread, "index", None)
        if index is None:
            index = self._thread.index = next(self._threads)
        stubs = self._read_stubs
        return stubs[index % len(stubs)] if stubs else stub

    def _connect(self) -> None:
        import python_pachyderm
        from python_pachyderm import client as pachyderm_client
        from python_pachyderm.proto.v2.pfs import pfs_pb2_grpc
        from python_pachyderm.service import GRPC_CHANNEL_OPTIONS

        client = python_pachyderm.Client(
            host=self.host, port=self.port, auth_token=self._auth_token, root_certs=self._root_certs,
            tls=self.tls, use_default_host=False,
        )  # fmt: skip
        options = [*GRPC_CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]  # a connection of its own
        channels = [
            pachyderm_client._apply_metadata_interceptor(  # the token, as on the client's own channel
                pachyderm_client._create_channel(client.address, client.root_certs, options=options),
                client._metadata,
            )
            for _ in range(self.connections - 1)
        ]
        self._client, self._pid = client, os.getpid()
        self._channels = [client._channel, *channels]
        self._read_stubs = [pfs_pb2_grpc.APIStub(c) for c in self._channels]
        self._stub = self._read_stubs[0]

    def close(self) -> None:
        with self._lock:
            client, self._client, self._stub, self._read_stubs = self._client, None, None, []
            channels, self._channels = getattr(self, "_channels", []), []
        if client is not None and self._pid == os.getpid():
            for channel in channels:
                channel.close()

    # messages
    @staticmethod
    def repo(where: PFSPath) -> Any:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        return pfs_pb2.Repo(name=where.repo, type="user", project=pfs_pb2.Project(name=where.project))

    def commit(self, where: PFSPath, ref: str | None = None) -> Any:
        """The Commit message of ``ref`` (default: the path's): a branch, a commit id, or an ancestry."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        ref = where.ref if ref is None else ref
        repo = self.repo(where)
        if re.match(r"^[a-zA-Z0-9_-]+$", ref) and not is_commit_id(ref):
            return pfs_pb2.Commit(branch=pfs_pb2.Branch(repo=repo, name=ref))
        return pfs_pb2.Commit(id=ref, branch=pfs_pb2.Branch(repo=repo))

    def file(self, where: PFSPath, commit_id: str, path: str | None = None) -> Any:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        return pfs_pb2.File(commit=self.commit(where, commit_id), path=where.path if path is None else path)

    # repos, branches, commits
    def list_repos(self) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        return list(self.stub.ListRepo(pfs_pb2.ListRepoRequest(type="user"), timeout=self.timeout))

    def list_branches(self, where: PFSPath) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.ListBranchRequest(repo=self.repo(where))
        return list(self.stub.ListBranch(request, timeout=self.timeout))

    def inspect_repo(self, where: PFSPath) -> Any:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        return self.stub.InspectRepo(pfs_pb2.InspectRepoRequest(repo=self.repo(where)), timeout=self.timeout)

    def inspect_commit(self, where: PFSPath, ref: str | None = None) -> Any:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.InspectCommitRequest(commit=self.commit(where, ref))
        return self.stub.InspectCommit(request, timeout=self.timeout)

    def list_commits(self, where: PFSPath, ref: str | None = None, number: int = 0) -> Iterator[Any]:
        """Commits of the repo reachable from ``ref`` (newest first), or all of them."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.ListCommitRequest(
            repo=self.repo(where), to=self.commit(where, ref) if ref else None, number=number,
            origin_kind=pfs_pb2.OriginKind.USER,
        )  # fmt: skip
        return iter(self.stub.ListCommit(request, timeout=self.timeout))

    def create_repo(self, where: PFSPath, description: str = "") -> None:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.CreateRepoRequest(repo=self.repo(where), description=description)
        self.stub.CreateRepo(request, timeout=self.timeout)

    def delete_repo(self, where: PFSPath, force: bool = False) -> None:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        self.stub.DeleteRepo(
            pfs_pb2.DeleteRepoRequest(repo=self.repo(where), force=force), timeout=self.timeout
        )

    def create_branch(self, where: PFSPath, branch: str, head: str | None = None) -> None:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.CreateBranchRequest(
            branch=pfs_pb2.Branch(repo=self.repo(where), name=branch),
            head=self.commit(where, head) if head else None,
        )
        self.stub.CreateBranch(request, timeout=self.timeout)

    def delete_branch(self, where: PFSPath, branch: str) -> None:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.DeleteBranchRequest(branch=pfs_pb2.Branch(repo=self.repo(where), name=branch))
        self.stub.DeleteBranch(request, timeout=self.timeout)

    def start_commit(self, where: PFSPath, description: str = "") -> Any:
        """A new open commit on the path's branch (its parent: the branch head)."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.StartCommitRequest(
            branch=pfs_pb2.Branch(repo=self.repo(where), name=where.ref), description=description
        )
        return self.stub.StartCommit(request, timeout=self.timeout)

    def finish_commit(self, commit: Any) -> None:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        self.stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=commit), timeout=self.timeout)

    def drop_commit(self, commit: Any) -> None:
        """Remove an unfinished commit (its commit set) and give the branch its old head back."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=commit.id))
        self.stub.DropCommitSet(request, timeout=self.timeout)

    # files
    def inspect_file(self, where: PFSPath, commit_id: str, path: str | None = None) -> Any:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.InspectFileRequest(file=self.file(where, commit_id, path))
        return self.stub.InspectFile(request, timeout=self.timeout)

    def list_file(self, where: PFSPath, commit_id: str) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.ListFileRequest(file=self.file(where, commit_id))
        return list(self.stub.ListFile(request, timeout=self.timeout))

    def walk_file(self, where: PFSPath, commit_id: str) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.WalkFileRequest(file=self.file(where, commit_id))
        return list(self.stub.WalkFile(request, timeout=self.timeout))

    def glob_file(self, where: PFSPath, commit_id: str, pattern: str) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.GlobFileRequest(commit=self.commit(where, commit_id), pattern=pattern)
        return list(self.stub.GlobFile(request, timeout=self.timeout))

    def diff_file(self, new: PFSPath, new_id: str, old: PFSPath | None, old_id: str | None) -> list[Any]:
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.DiffFileRequest(
            new_file=self.file(new, new_id),
            old_file=self.file(old, old_id) if old is not None and old_id else None,
        )
        return list(self.stub.DiffFile(request, timeout=self.timeout))

    def read(self, where: PFSPath, commit_id: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (fewer at the end): a stream from the offset, cancelled once
        enough has arrived (the server takes no length)."""
        chunks, got = [], 0
        stream = self.open_stream(where, commit_id, start, length)
        try:
            for message in stream:
                chunks.append(message.value)
                got += len(message.value)
                if got >= length:
                    break
        finally:
            stream.cancel()
        return b"".join(chunks)[:length]

    def open_stream(self, where: PFSPath, commit_id: str, start: int, length: int | None = None) -> Any:
        """The GetFile stream of the path from ``start``, with a deadline fitting ``length`` bytes."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        request = pfs_pb2.GetFileRequest(
            file=self.file(where, commit_id, glob_escape(where.path)), offset=start
        )
        deadline = self.timeout + (length or 0) / MiB  # the timeout plus a second per MiB
        return self.read_stub().GetFile(request, timeout=deadline)

    def modify(self, commit: Any, operations: Iterator[Any]) -> None:
        """One ModifyFile request: ``operations`` (ModifyFileRequest messages) applied to ``commit``."""
        from python_pachyderm.proto.v2.pfs import pfs_pb2

        def requests() -> Iterator[Any]:
            yield pfs_pb2.ModifyFileRequest(set_commit=commit)
            yield from operations

        self.stub.ModifyFile(requests(), timeout=self.timeout)


def put_ops(path: str, data: bytes | memoryview, append: bool) -> Iterator[Any]:
    """ModifyFile messages writing ``data`` to ``path`` (replacing it unless ``append``)."""
    from google.protobuf import wrappers_pb2
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    if not append:
        yield pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))
    view = memoryview(data)
    yield pfs_pb2.ModifyFileRequest(
        add_file=pfs_pb2.AddFile(path=path, raw=wrappers_pb2.BytesValue(value=b""))
    )
    for lo in range(0, len(view), PUT_CHUNK):
        raw = wrappers_pb2.BytesValue(value=bytes(view[lo : lo + PUT_CHUNK]))
        yield pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path=path, raw=raw))


def delete_op(path: str) -> Any:
    """A ModifyFile message deleting ``path`` (a trailing ``/`` deletes a directory recursively)."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    return pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))


def copy_op(src: Any, dst_path: str) -> Any:
    """A ModifyFile message copying the File ``src`` (of any commit) to ``dst_path``, on the server."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    return pfs_pb2.ModifyFileRequest(copy_file=pfs_pb2.CopyFile(dst=dst_path, src=src))


def not_a_file(path: str) -> OSError:
    return IsADirectoryError(errno.EISDIR, "is a directory", path)


def project_of(info: Any) -> str:
    return info.repo.project.name or DEFAULT_PROJECT

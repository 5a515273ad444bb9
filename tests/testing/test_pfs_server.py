"""The PFS gRPC server, driven through the unmodified python-pachyderm 7.6 (results, order, codes, texts)."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

python_pachyderm = pytest.importorskip("python_pachyderm")

import grpc  # noqa: E402
from python_pachyderm.pfs import uuid_re  # noqa: E402
from python_pachyderm.proto.v2.pfs import pfs_pb2  # noqa: E402

from fsspec_research.testing import PFSServerHandle, pfs_server  # noqa: E402
from fsspec_research.testing.pfs.glob import compile_glob  # noqa: E402

pytestmark = pytest.mark.timeout(120)
C = grpc.StatusCode
MASTER = ("test", "master")
FINISHED = pfs_pb2.CommitState.FINISHED
ENV = ("PACH_CONFIG", "PACH_PYTHON_AUTH_TOKEN", "PACH_PYTHON_OIDC_TOKEN")


@pytest.fixture(autouse=True)
def no_pachctl_context(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def srv() -> Iterator[PFSServerHandle]:
    with pfs_server() as handle:
        yield handle


@pytest.fixture
def client(srv: PFSServerHandle) -> Any:
    srv.reset()
    return srv.client()


def fails(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """Code and details of the RpcError ``call()`` raises (streams are drained; a wrapped error's cause)."""
    with pytest.raises(Exception) as info:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    err = info.value if isinstance(info.value, grpc.RpcError) else info.value.__cause__
    assert isinstance(err, grpc.RpcError), info.value
    return err.code(), err.details()


def put(client: Any, commit: Any, files: dict[str, bytes]) -> None:
    with client.modify_file_client(commit) as mfc:
        for path, data in files.items():
            mfc.put_file_from_bytes(path, data)


def read(client: Any, commit: Any, path: str, **kw: Any) -> bytes:
    try:
        return client.get_file(commit, path, **kw).read()
    except StopIteration:  # python-pachyderm's PFSFile: pachd sends no message for no bytes
        return b""


def paths(infos: Any) -> list[str]:
    return [i.file.path for i in infos]


def head(client: Any, branch: str = "master", repo: str = "test") -> Any:
    return client.inspect_branch(repo, branch).head


# server basics
def test_initial_state_version_health_and_options(srv: PFSServerHandle, client: Any) -> None:
    assert (srv.protocol, srv.root, srv.host) == ("pfs", "pfs://test@master", "127.0.0.1")
    assert srv.storage_options == {"host": "127.0.0.1", "port": srv.port} and srv.root_certs is None
    assert [r.repo.name for r in client.list_repo()] == ["test"]
    info = next(client.inspect_commit(MASTER))
    assert info.finished.seconds and not info.HasField("parent_commit") and info.details.size_bytes == 0
    assert uuid_re.match(info.commit.id) and len(info.commit.id) == 32
    code, details = fails(lambda: client.inspect_file(MASTER, "/"))  # the root of an empty commit
    assert (
        code == C.NOT_FOUND and details == f"file / not found in repo default/test at commit {info.commit.id}"
    )
    version = client.get_remote_version()
    assert (version.major, version.minor) == (2, 7)
    assert client.health_check().status == 1  # SERVING


def test_projects(client: Any) -> None:
    client.create_project("lab", "a lab")
    assert client.inspect_project("lab").description == "a lab"
    assert [p.project.name for p in client.list_project()] == ["default", "lab"]
    assert fails(lambda: client.create_project("lab")) == (C.ALREADY_EXISTS, "project lab already exists")
    assert fails(lambda: client.inspect_project("nope")) == (C.NOT_FOUND, 'project "nope" not found')
    client.create_repo("data", project_name="lab")
    assert [r.repo.project.name for r in client.list_repo(projects_filter=[pfs_pb2.Project(name="lab")])] == [
        "lab"
    ]
    code, _ = fails(lambda: client.delete_project("lab"))
    assert code == C.UNKNOWN
    client.delete_project("lab", force=True)
    assert [p.project.name for p in client.list_project()] == ["default"]
    assert fails(lambda: client.create_repo("x", project_name="gone")) == (
        C.NOT_FOUND,
        'project "gone" not found',
    )


def test_repos(client: Any) -> None:
    client.create_repo("images", "pictures")
    client.create_repo("labels")
    assert [r.repo.name for r in client.list_repo()] == ["labels", "images", "test"]  # newest first
    info = client.inspect_repo("images")
    assert (info.description, info.repo.type, info.repo.project.name) == ("pictures", "user", "default")
    assert fails(lambda: client.create_repo("images")) == (
        C.ALREADY_EXISTS,
        "repo default/images already exists",
    )
    client.create_repo("images", "photos", update=True)
    assert client.inspect_repo("images").description == "photos"
    code, details = fails(lambda: client.create_repo("bad name"))
    assert code == C.INVALID_ARGUMENT and "bad name" in details
    assert fails(lambda: client.inspect_repo("nope")) == (C.NOT_FOUND, "repo default/nope not found")
    client.put_file_bytes(MASTER, "/a", b"12345")
    assert client.inspect_repo("test").details.size_bytes == 5  # master's newest finished commit
    client.delete_repo("nope")  # no error, as pachd
    client.delete_repo("images")
    assert [r.repo.name for r in client.list_repo()] == ["labels", "test"]
    client.delete_all_repos()
    assert list(client.list_repo()) == []


def test_branches(client: Any) -> None:
    first = head(client)
    client.create_branch("test", "dev")
    dev = client.inspect_branch("test", "dev")
    assert dev.head.id != first.id and next(client.inspect_commit(("test", "dev"))).finished.seconds
    client.create_branch("test", "pin", head_commit=("test", first.id))
    assert head(client, "pin").id == first.id
    assert [b.branch.name for b in client.list_branch("test")] == ["pin", "dev", "master"]
    assert [b.branch.name for b in client.list_branch("test", reverse=True)] == ["master", "dev", "pin"]
    assert fails(lambda: client.inspect_branch("test", "nope")) == (
        C.NOT_FOUND, 'branch "nope" not found in repo default/test',
    )  # fmt: skip
    client.delete_branch("test", "pin")
    assert next(client.inspect_commit(("test", first.id))).commit.id == first.id  # commits stay
    assert fails(lambda: client.delete_branch("test", "pin"))[0] == C.NOT_FOUND
    client.delete_branch("test", "pin", force=True)
    provenance = [pfs_pb2.Branch(repo=pfs_pb2.Repo(name="test", type="user"), name="master")]
    assert fails(lambda: client.create_branch("test", "out", provenance=provenance))[0] == C.UNIMPLEMENTED
    assert fails(lambda: client.list_branch("nope")) == (C.NOT_FOUND, "repo default/nope not found")


# commits
def test_start_and_finish_commit(client: Any) -> None:
    parent = head(client)
    commit = client.start_commit("test", "master", description="first")
    assert uuid_re.match(commit.id) and commit.branch.name == "master"
    assert fails(lambda: client.start_commit("test", "master")) == (
        C.UNKNOWN, f"parent commit default/test@{commit.id} has not been finished",
    )  # fmt: skip
    info = next(client.inspect_commit(commit))
    assert (
        not info.HasField("finished") and info.parent_commit.id == parent.id and info.description == "first"
    )
    client.finish_commit(commit, description="done")
    info = next(client.inspect_commit(commit))
    assert info.finished.seconds and info.description == "done"
    assert next(client.inspect_commit(("test", parent.id))).child_commits[0].id == commit.id
    assert fails(lambda: client.finish_commit(commit)) == (
        C.UNKNOWN, f"commit default/test@{commit.id} has already finished",
    )  # fmt: skip
    assert fails(lambda: client.start_commit("nope", "master")) == (
        C.NOT_FOUND,
        "repo default/nope not found",
    )
    fork = client.start_commit("test", "patch", parent="master")
    assert next(client.inspect_commit(fork)).parent_commit.id == commit.id
    client.finish_commit(fork, error="bad data")
    assert next(client.inspect_commit(("test", "patch"))).error == "bad data"
    missing = "0" * 12 + "4" + "0" * 19
    assert fails(lambda: client.inspect_commit(("test", missing))) == (
        C.NOT_FOUND, f"commit default/test@{missing} not found",
    )  # fmt: skip


def test_list_commit(client: Any) -> None:
    ids = [head(client).id]
    for i in range(3):
        client.put_file_bytes(MASTER, f"/{i}", b"x")
        ids.append(head(client).id)
    assert [c.commit.id for c in client.list_commit("test")] == ids[::-1]
    assert [c.commit.id for c in client.list_commit("test", reverse=True)] == ids
    assert [c.commit.id for c in client.list_commit("test", number=2)] == ids[:1:-1]
    to, frm = ("test", ids[3]), ("test", ids[0])
    assert [c.commit.id for c in client.list_commit("test", to_commit=to, from_commit=frm)] == ids[:0:-1]
    assert [c.commit.id for c in client.list_commit("test", to_commit=("test", ids[1]))] == ids[1::-1]
    assert list(client.list_commit("test", origin_kind=pfs_pb2.OriginKind.AUTO)) == []
    code, details = fails(lambda: client.list_commit("test", from_commit=frm))
    assert code == C.UNKNOWN and "without `to`" in details
    sets = list(client.list_commit())  # no repo: ListCommitSet
    assert [s.commit_set.id for s in sets] == ids[::-1] and sets[0].commits[0].commit.id == ids[3]


def test_ancestry_references(client: Any) -> None:
    ids = [head(client).id]
    for i in range(3):
        client.put_file_bytes(MASTER, "/f", str(i).encode())
        ids.append(head(client).id)

    def at(ref: str) -> str:
        return next(client.inspect_commit(pfs_pb2.Commit(id=ref, branch=pfs_pb2.Branch(repo=pfs_pb2.Repo(
            name="test", type="user"))))).commit.id  # fmt: skip

    assert [at("master^"), at("master^^"), at("master^3"), at("master~1")] == [ids[2], ids[1], ids[0], ids[2]]
    assert [at(f"{ids[3]}^2"), at("master.1"), at("master.2"), at("master.4")] == [
        ids[1],
        ids[0],
        ids[1],
        ids[3],
    ]
    assert read(client, pfs_pb2.Commit(id="master^1", branch=pfs_pb2.Branch(repo=pfs_pb2.Repo(name="test"))),
                "/f") == b"1"  # fmt: skip
    assert fails(lambda: at("master^4")) == (C.NOT_FOUND, "commit default/test@master^4 not found")
    assert fails(lambda: at("master.5")) == (C.NOT_FOUND, "commit default/test@master.5 not found")
    assert fails(lambda: at("master^x"))[0] == C.UNKNOWN


# files
def test_modify_file_appends_overwrites_and_deletes(client: Any) -> None:
    commit = client.start_commit("test", "master")
    client.put_file_bytes(commit, "/log", b"one,")
    client.put_file_bytes(commit, "/log", b"two", append=True)
    with client.modify_file_client(commit) as mfc:  # raw AddFile appends within a commit
        mfc.put_file_from_bytes("/d/sub/x", b"x")
        mfc.put_file_from_bytes("/d/y", b"y")
        mfc.put_file_from_bytes("/d/y", b"Y", append=True)
        mfc.put_file_from_bytes("/keep", b"k")
    client.finish_commit(commit)
    assert read(client, MASTER, "/log") == b"one,two" and read(client, MASTER, "/d/y") == b"yY"
    client.put_file_bytes(MASTER, "/log", b"new")
    client.delete_file(MASTER, "/d")  # a directory without a trailing slash: nothing
    assert paths(client.walk_file(MASTER, "/d")) == ["/d/", "/d/sub/", "/d/sub/x", "/d/y"]
    client.delete_file(MASTER, "/d/")
    client.delete_file(MASTER, "/missing")
    assert (
        paths(client.list_file(MASTER, "/")) == ["/keep", "/log"] and read(client, MASTER, "/log") == b"new"
    )
    code, details = fails(lambda: client.put_file_bytes(("test", commit.id), "/z", b"z"))
    assert (code, details) == (C.UNKNOWN, f"commit default/test@{commit.id} has already finished")


def test_one_off_commits_and_open_heads(client: Any) -> None:
    before = len(list(client.list_commit("test")))
    client.put_file_bytes(MASTER, "/a", b"a")
    client.delete_file(MASTER, "/a")
    assert len(list(client.list_commit("test"))) == before + 2  # each on a finished head is a commit
    client.put_file_bytes(("test", "fresh"), "/b", b"b")  # a missing branch is created
    assert read(client, ("test", "fresh"), "/b") == b"b"
    info = next(client.inspect_commit(("test", "fresh")))
    assert info.finished.seconds and not info.HasField("parent_commit")
    open_commit = client.start_commit("test", "master")
    client.put_file_bytes(MASTER, "/c", b"c")  # the open head takes the write
    assert head(client).id == open_commit.id and len(list(client.list_commit("test"))) == before + 4
    assert fails(lambda: client.put_file_bytes(("nope", "master"), "/x", b""))[0] == C.NOT_FOUND


def test_copy_file_datums_and_url_ingest(client: Any, tmp_path: Any) -> None:
    put(client, MASTER, {"/src/a": b"A", "/src/sub/b": b"B", "/one": b"1"})
    source = head(client)
    with client.modify_file_client(MASTER) as mfc:
        mfc.copy_file(source, "/src", "/dst")
        mfc.copy_file(source, "/one", "/one", append=True)
    assert paths(client.walk_file(MASTER, "/dst")) == ["/dst/", "/dst/a", "/dst/sub/", "/dst/sub/b"]
    assert read(client, MASTER, "/one") == b"11"
    client.create_repo("other")
    client.copy_file(source, "/src/a", ("other", "master"), "/a")  # across repos
    assert read(client, ("other", "master"), "/a") == b"A"
    with client.modify_file_client(MASTER) as mfc:
        mfc.put_file_from_bytes("/tagged", b"two", datum="d2")
        mfc.put_file_from_bytes("/tagged", b"one", datum="d1")
    assert (
        read(client, MASTER, "/tagged") == b"onetwo" and read(client, MASTER, "/tagged", datum="d2") == b"two"
    )
    assert client.inspect_file(MASTER, "/tagged", datum="d1").size_bytes == 3
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.txt").write_bytes(b"from disk")
    (tmp_path / "in" / "deep").mkdir()
    (tmp_path / "in" / "deep" / "y.txt").write_bytes(b"deeper")
    client.put_file_url(MASTER, "/url.txt", (tmp_path / "in" / "x.txt").as_uri())
    client.put_file_url(MASTER, "/tree", (tmp_path / "in").as_uri(), recursive=True)
    assert (
        read(client, MASTER, "/url.txt") == b"from disk"
        and read(client, MASTER, "/tree/deep/y.txt") == b"deeper"
    )
    assert fails(lambda: client.put_file_url(MASTER, "/w", "https://example.com/x"))[0] == C.UNIMPLEMENTED


def test_commits_are_copy_on_write(client: Any) -> None:
    put(client, MASTER, {"/same": b"s", "/changed": b"v1"})
    old = head(client)
    client.put_file_bytes(MASTER, "/changed", b"v2")
    client.delete_file(MASTER, "/same")
    assert read(client, old, "/changed") == b"v1" and read(client, old, "/same") == b"s"
    assert paths(client.list_file(MASTER, "/")) == ["/changed"]
    assert client.inspect_file(old, "/same").hash == client.inspect_file(("test", "master^"), "/same").hash


def test_get_file_offsets_globs_and_errors(client: Any) -> None:
    put(client, MASTER, {"/data.bin": bytes(range(256)) * 10, "/a*b": b"star", "/axb": b"x", "/dir/f": b"f"})
    assert read(client, MASTER, "/data.bin", offset=2550) == bytes(range(246, 256))
    assert read(client, MASTER, "/data.bin", offset=2560) == b""  # nothing left: no message at all
    assert read(client, MASTER, r"/a\*b") == b"star"
    assert fails(lambda: client.get_file(MASTER, "/a*b")) == (
        C.UNKNOWN, "matched multiple files. Use GetFileTAR instead",
    )  # fmt: skip
    assert fails(lambda: client.get_file(MASTER, "/dir")) == (
        C.UNKNOWN, "cannot get directory or non-regular file. Use GetFileTAR instead",
    )  # fmt: skip
    commit_id = head(client).id
    assert fails(lambda: client.get_file(MASTER, "/nope")) == (
        C.NOT_FOUND, f"file /nope not found in repo default/test at commit {commit_id}",
    )  # fmt: skip
    tar = client.get_file_tar(MASTER, "/dir")
    assert [(m.name, m.isdir()) for m in tar] == [("dir", True), ("dir/f", False)]


def test_message_sizes_follow_chunk_size() -> None:
    with pfs_server(chunk_size=1000) as small:
        c = small.client()
        c.put_file_bytes(MASTER, "/f", b"z" * 2500)
        commit = pfs_pb2.Commit(branch=pfs_pb2.Branch(name="master", repo=pfs_pb2.Repo(name="test")))
        request = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=commit, path="/f"))
        stub = c._PFSMixin__stub
        assert [len(m.value) for m in stub.GetFile(request)] == [1000, 1000, 500]
        request.offset = 2500
        assert list(stub.GetFile(request)) == []
        assert small.bytes_sent == 2500


def test_inspect_file_and_path_exists(client: Any) -> None:
    put(client, MASTER, {"/dir/file1": b"abc", "/dir/file2": b"de"})
    info = client.inspect_file(MASTER, "dir/file1/")  # relative, with a trailing slash
    assert (info.file.path, info.file_type, info.size_bytes) == ("/dir/file1", pfs_pb2.FileType.FILE, 3)
    assert info.hash == hashlib.sha256(b"abc").digest()
    directory = client.inspect_file(MASTER, "/dir")
    assert (directory.file.path, directory.file_type, directory.size_bytes) == (
        "/dir/",
        pfs_pb2.FileType.DIR,
        5,
    )
    assert client.path_exists(MASTER, "/dir") and not client.path_exists(MASTER, "/dir/nope")
    with pytest.raises(ValueError, match="nonexistent commit"):
        client.path_exists(("test", "nobranch"), "/dir")
    assert fails(lambda: client.inspect_file(("nope", "master"), "/x")) == (
        C.NOT_FOUND, 'branch "master" not found in repo default/nope',
    )  # fmt: skip


def test_list_walk_and_pagination(client: Any) -> None:
    put(client, MASTER, {"/a/b.txt": b"1", "/a/b/c": b"2", "/a/z": b"3", "/top": b"4"})
    assert paths(client.list_file(MASTER, "/a")) == ["/a/b.txt", "/a/b/", "/a/z"]
    assert paths(client.list_file(MASTER, "/top")) == ["/top"]
    assert list(client.list_file(MASTER, "/missing")) == []
    marker = pfs_pb2.File(path="/a/b.txt")
    assert paths(client.list_file(MASTER, "/a", pagination_marker=marker)) == ["/a/b/", "/a/z"]
    assert paths(client.list_file(MASTER, "/a", number=2, reverse=True)) == ["/a/z", "/a/b/"]
    assert fails(lambda: client.list_file(MASTER, "/a", reverse=True)) == (
        C.UNKNOWN, "number must be > 0 when reverse is true",
    )  # fmt: skip
    assert paths(client.walk_file(MASTER, "/")) == ["/", "/a/", "/a/b.txt", "/a/b/", "/a/b/c", "/a/z", "/top"]
    assert paths(client.walk_file(MASTER, "/a", number=2)) == ["/a/", "/a/b.txt"]
    assert fails(lambda: client.walk_file(MASTER, "/missing"))[0] == C.NOT_FOUND


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/*", ["/a/", "/top"]),
        ("/a/*", ["/a/b.txt", "/a/b/", "/a/z"]),
        ("/**", ["/a/", "/a/b.txt", "/a/b/", "/a/b/c", "/a/z", "/top"]),
        ("/**/c", ["/a/b/c"]),
        ("/a/?", ["/a/b/", "/a/z"]),
        ("/a/[a-y]*", ["/a/b.txt", "/a/b/"]),
        ("/a/[!b]", ["/a/z"]),
        ("/{top,a/z}", ["/a/z", "/top"]),
        ("/", ["/"]),
    ],
)
def test_glob_file(client: Any, pattern: str, expected: list[str]) -> None:
    put(client, MASTER, {"/a/b.txt": b"1", "/a/b/c": b"2", "/a/z": b"3", "/top": b"4"})
    assert paths(client.glob_file(MASTER, pattern)) == expected


def test_glob_escapes_and_bad_patterns() -> None:
    assert compile_glob(r"/a\*")("/a*") and not compile_glob(r"/a\*")("/ab")
    assert compile_glob("/{a,b{c,d}}")("/bd") and not compile_glob("/*")("/a/b")
    assert compile_glob("/**/x")("/a/b/x") and not compile_glob("/**/x")("/x")  # gobwas, not fsspec
    with pytest.raises(Exception, match="unclosed"):
        compile_glob("/[ab")


def test_diff_file(client: Any) -> None:
    put(client, MASTER, {"/d/same": b"s", "/d/changed": b"1", "/d/gone": b"g"})
    first = head(client)
    with client.modify_file_client(MASTER) as mfc:
        mfc.put_file_from_bytes("/d/changed", b"2")
        mfc.put_file_from_bytes("/d/new", b"n")
        mfc.delete_file("/d/gone")
    pairs = [(p.new_file.file.path, p.old_file.file.path) for p in client.diff_file(MASTER, "/d")]
    assert pairs == [("/d/", "/d/"), ("/d/changed", "/d/changed"), ("", "/d/gone"), ("/d/new", "")]
    explicit = list(client.diff_file(MASTER, "/d/changed", first, "/d/changed"))
    assert len(explicit) == 1 and explicit[0].old_file.size_bytes == 1


def test_file_directory_collision_errors_the_commit(client: Any) -> None:
    put(client, MASTER, {"/x": b"file", "/x/y": b"below"})
    info = next(client.inspect_commit(MASTER))
    assert info.error == "file / directory path collision (/x)"
    assert fails(lambda: client.list_file(MASTER, "/")) == (
        C.UNKNOWN, f"commit default/test@{info.commit.id} finished with an error",
    )  # fmt: skip


# commit sets, waits, subscriptions
def test_commit_sets_squash_and_drop(client: Any) -> None:
    base = head(client)
    client.put_file_bytes(MASTER, "/a", b"a")
    middle = head(client)
    client.put_file_bytes(MASTER, "/b", b"b")
    top = head(client)
    assert [i.commit.id for i in client.inspect_commit(middle.id)] == [middle.id]  # InspectCommitSet
    client.squash_commit(middle.id)
    assert next(client.inspect_commit(top)).parent_commit.id == base.id
    assert paths(client.list_file(top, "/")) == ["/a", "/b"]
    assert fails(lambda: client.squash_commit(top.id)) == (
        C.UNKNOWN, "cannot squash a commit that has no children as that would cause data loss, "
        f"use the drop operation instead: default/test@{top.id}",
    )  # fmt: skip
    assert fails(lambda: client.drop_commit(base.id)) == (
        C.UNKNOWN, f"cannot drop a commit that has children: default/test@{base.id}",
    )  # fmt: skip
    open_commit = client.start_commit("test", "master")
    client.put_file_bytes(open_commit, "/c", b"c")
    client.drop_commit(open_commit.id)  # the open head goes, its parent is the head again
    assert head(client).id == top.id and paths(client.list_file(MASTER, "/")) == ["/a", "/b"]
    assert fails(lambda: client.drop_commit(open_commit.id)) == (
        C.NOT_FOUND, f"no commits found for commitset {open_commit.id}",
    )  # fmt: skip


def test_waits_and_subscriptions_see_commits_finished_elsewhere(srv: PFSServerHandle, client: Any) -> None:
    subscription = client.subscribe_commit("test", "master", state=FINISHED)
    try:
        assert next(subscription).commit.id == head(client).id
        commit = client.start_commit("test", "master")
        assert next(client.inspect_commit(commit, pfs_pb2.CommitState.READY)).commit.id == commit.id
        other = srv.client()
        timer = threading.Timer(0.3, lambda: other.finish_commit(commit))
        timer.start()
        t0 = time.monotonic()
        info = next(client.inspect_commit(commit, FINISHED))
        assert info.finished.seconds and time.monotonic() - t0 >= 0.2
        assert next(subscription).commit.id == commit.id
        second = client.start_commit("test", "master")
        threading.Timer(0.2, lambda: other.finish_commit(second)).start()
        assert [i.commit.id for i in client.wait_commit(second.id)] == [second.id]
        assert next(subscription).commit.id == second.id
        timer.join(5)
    finally:
        subscription.cancel()
    waiter = client.start_commit("test", "master")
    with pytest.raises(grpc.RpcError) as info:  # a wait bounded by the client's deadline
        stub = client._PFSMixin__stub
        stub.InspectCommit(pfs_pb2.InspectCommitRequest(commit=waiter, wait=FINISHED), timeout=0.3)
    assert info.value.code() == C.DEADLINE_EXCEEDED


def test_fsck_and_delete_all(client: Any) -> None:
    assert list(client.fsck()) == []
    client.create_repo("more")
    client.delete_all_repos()
    assert list(client.list_repo()) == [] and [p.project.name for p in client.list_project()] == ["default"]


# security, faults, lifecycle
def test_auth_tokens() -> None:
    with pfs_server(auth_token="s3cret") as srv:
        assert srv.storage_options["auth_token"] == "s3cret"
        assert [r.repo.name for r in srv.client().list_repo()] == ["test"]
        anonymous = python_pachyderm.Client(host=srv.host, port=srv.port)
        assert fails(lambda: anonymous.list_repo()) == (
            C.UNAUTHENTICATED,
            "no authentication token (try logging in)",
        )
        wrong = srv.client(auth_token="wrong")
        assert fails(lambda: wrong.inspect_repo("test")) == (
            C.UNAUTHENTICATED, "provided auth token is corrupted or has expired (try logging in again)",
        )  # fmt: skip
        assert anonymous.get_remote_version().minor == 7 and anonymous.health_check().status == 1


def test_tls() -> None:
    with pfs_server(tls=True) as srv:
        assert srv.root_certs and srv.root_certs.startswith(b"-----BEGIN CERTIFICATE-----")
        assert srv.storage_options["tls"] is True and srv.storage_options["root_certs"] == srv.root_certs
        assert [r.repo.name for r in srv.client().list_repo()] == ["test"]
        plain = python_pachyderm.Client(host=srv.host, port=srv.port)
        with pytest.raises((ConnectionError, grpc.RpcError)):
            list(plain.list_repo())


def test_faults_and_counters(srv: PFSServerHandle, client: Any) -> None:
    client.put_file_bytes(MASTER, "/f", b"0123456789")
    srv.reset_counts()
    assert read(client, MASTER, "/f") == b"0123456789"
    assert srv.rpc_counts["GetFile"] == 1 and srv.bytes_sent == 10
    srv.inject("InspectFile", "unavailable", count=2)
    for _ in range(2):
        assert fails(lambda: client.inspect_file(MASTER, "/f"))[0] == C.UNAVAILABLE
    assert client.inspect_file(MASTER, "/f").size_bytes == 10
    assert srv.rpc_counts["InspectFile"] == 3
    srv.inject("ListFile", "abort_midstream")
    put(client, MASTER, {"/g": b"g"})
    stream = client.list_file(MASTER, "/")
    assert next(stream).file.path == "/f"
    with pytest.raises(grpc.RpcError) as info:
        next(stream)
    assert info.value.code() == C.UNAVAILABLE
    srv.inject("ListRepo", "stall")
    t0 = time.monotonic()
    stalled = client._PFSMixin__stub.ListRepo(pfs_pb2.ListRepoRequest(), timeout=0.5)
    with pytest.raises(grpc.RpcError) as info:
        list(stalled)
    assert info.value.code() == C.DEADLINE_EXCEEDED and time.monotonic() - t0 < 5
    with pytest.raises(ValueError, match="action"):
        srv.inject("GetFile", "explode")
    srv.reset_counts()
    assert srv.rpc_counts == {} and srv.bytes_sent == 0


def test_abort_midstream_get_file_and_stop_releases_stalls() -> None:
    before = {t.ident for t in threading.enumerate()}
    with pfs_server(chunk_size=4) as srv:
        c = srv.client()
        c.put_file_bytes(MASTER, "/f", b"abcdefghij")
        srv.inject("GetFile", "abort_midstream")
        stream = c._PFSMixin__stub.GetFile(pfs_pb2.GetFileRequest(file=pfs_pb2.File(
            commit=pfs_pb2.Commit(id=head(c).id, branch=pfs_pb2.Branch(repo=pfs_pb2.Repo(name="test"))),
            path="/f")))  # fmt: skip
        assert next(stream).value == b"abcd"
        with pytest.raises(grpc.RpcError) as info:
            next(stream)
        assert info.value.code() == C.UNAVAILABLE and srv.bytes_sent == 4
        srv.inject("InspectRepo", "stall")
        outcome: list[Any] = []
        caller = threading.Thread(target=lambda: outcome.append(fails(lambda: c.inspect_repo("test"))))
        caller.start()
        time.sleep(0.3)
        t0 = time.monotonic()  # leaving the block stops the server, which releases the stalled call
    assert time.monotonic() - t0 < 10
    caller.join(10)
    assert not caller.is_alive() and outcome and outcome[0][0] in (C.UNAVAILABLE, C.CANCELLED)
    leftover = [t for t in threading.enumerate() if t.ident not in before and re.match("pfs-server", t.name)]
    assert leftover == []


def test_reset_restores_the_initial_state(srv: PFSServerHandle, client: Any) -> None:
    client.create_repo("extra")
    client.put_file_bytes(MASTER, "/x", b"x")
    srv.inject("ListRepo", "unavailable")
    srv.reset()
    assert [r.repo.name for r in client.list_repo()] == ["test"]  # the fault went too
    assert list(client.list_file(MASTER, "/")) == [] and len(list(client.list_commit("test"))) == 1
    assert srv.rpc_counts == {"ListRepo": 1, "ListFile": 1, "ListCommit": 1}


def test_big_files_use_pachds_message_size(client: Any) -> None:
    data = io.BytesIO(b"q" * (20 * 2**20 + 5))
    client.put_file_bytes(MASTER, "/big", data)  # 19 MiB AddFile chunks
    stub = client._PFSMixin__stub
    request = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=head(client), path="/big"))
    assert [len(m.value) for m in stub.GetFile(request)] == [19 * 2**20, 2**20 + 5]


def test_tar_of_a_glob(client: Any) -> None:
    put(client, MASTER, {"/t/a": b"A", "/t/b": b"BB"})
    raw = b"".join(m.value for m in client._PFSMixin__stub.GetFileTAR(pfs_pb2.GetFileRequest(
        file=pfs_pb2.File(commit=head(client), path="/t/*"))))  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar] == [("/t/a", b"A"), ("/t/b", b"BB")]

"""The iRODS protocol server, driven through the unmodified python-irodsclient (both announced versions)."""

from __future__ import annotations

import io
import json
import os
import ssl
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

irods = pytest.importorskip("irods")

import irods.client_configuration as client_config  # noqa: E402
import irods.exception as ex  # noqa: E402
import irods.keywords as kw  # noqa: E402
from irods.access import iRODSAccess  # noqa: E402
from irods.column import Like  # noqa: E402
from irods.message import RErrorStack  # noqa: E402
from irods.meta import AVUOperation, iRODSMeta  # noqa: E402
from irods.models import Collection, DataObject, DataObjectMeta  # noqa: E402
from irods.session import iRODSSession  # noqa: E402
from irods.ticket import Ticket  # noqa: E402

from fsspec_research.testing import IRODSServerHandle, irods_server  # noqa: E402
from fsspec_research.testing.irods import errors, obfuscation  # noqa: E402

pytestmark = pytest.mark.timeout(120)
VERSIONS = ["4.3.4", "4.2.8"]
GEN_QUERY, READ, OPEN = 702, 675, 602


@pytest.fixture(scope="module", params=VERSIONS)
def srv(request: pytest.FixtureRequest) -> Iterator[IRODSServerHandle]:
    with irods_server(version=request.param) as handle:
        yield handle


@pytest.fixture
def alice(srv: IRODSServerHandle) -> Iterator[iRODSSession]:
    with srv.session("alice", connection_timeout=10) as s:
        yield s


@pytest.fixture
def bob(srv: IRODSServerHandle) -> Iterator[iRODSSession]:
    with srv.session("bob", connection_timeout=10) as s:
        yield s


@pytest.fixture
def rods(srv: IRODSServerHandle) -> Iterator[iRODSSession]:
    with srv.session("rods", connection_timeout=10) as s:
        yield s


@pytest.fixture
def home(srv: IRODSServerHandle, alice: iRODSSession) -> str:
    """A fresh collection under alice's home."""
    path = f"/{srv.zone}/home/alice/t-{uuid.uuid4().hex[:8]}"
    alice.collections.create(path)
    return path


def put_bytes(sess: iRODSSession, path: str, data: bytes) -> None:
    with sess.data_objects.open(path, "w") as f:
        f.write(data)


def get_bytes(sess: iRODSSession, path: str) -> bytes:
    with sess.data_objects.open(path, "r") as f:
        return f.read()


def version_tuple(srv: IRODSServerHandle) -> tuple[int, ...]:
    return tuple(int(x) for x in srv.version.split("."))


# ---- handle, login ---------------------------------------------------------------------------------------


def test_handle_shape(srv: IRODSServerHandle) -> None:
    assert srv.protocol == "irods"
    assert (srv.host, srv.zone) == ("127.0.0.1", "tempZone")
    assert srv.port > 0
    assert set(srv.users) == {"rods", "alice", "bob"} and srv.users["rods"] == "rods"
    assert srv.storage_options == {
        "host": "127.0.0.1",
        "port": srv.port,
        "user": "alice",
        "zone": "tempZone",
        "password": srv.users["alice"],
    }
    assert srv.root == "irods:///tempZone/home/alice"
    assert srv.ca_file is None


def test_login_uses_the_versions_auth_flow(srv: IRODSServerHandle, alice: iRODSSession) -> None:
    srv.reset_counts()
    alice.collections.get("/tempZone/home/alice")
    if srv.version == "4.3.4":
        assert srv.api_counts[110000] == 2 and srv.api_counts[703] == 0
    else:
        assert srv.api_counts[703] == 1 and srv.api_counts[704] == 1 and srv.api_counts[110000] == 0
    assert alice.server_version == version_tuple(srv)


def test_legacy_auth_forced_against_43(srv: IRODSServerHandle) -> None:
    srv.reset_counts()
    legacy = client_config.loadlines([dict(setting="legacy_auth.force_legacy_auth", value=True)])
    with legacy, srv.session("bob") as s:
        s.collections.get("/tempZone/home/bob")
    assert srv.api_counts[703] == 1 and srv.api_counts[704] == 1 and srv.api_counts[110000] == 0


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("nobody", "x")])
def test_bad_login(srv: IRODSServerHandle, user: str, password: str) -> None:
    expected = ex.CAT_INVALID_AUTHENTICATION if user == "alice" else ex.CAT_INVALID_USER
    session = iRODSSession(host=srv.host, port=srv.port, user=user, zone=srv.zone, password=password)
    with session as s, pytest.raises(expected):
        s.collections.get("/tempZone/home")


def test_write_env_and_irodsA(srv: IRODSServerHandle, tmp_path, monkeypatch) -> None:
    env_file = srv.write_env(tmp_path, user="bob")
    with open(env_file) as f:
        assert json.load(f)["irods_user_name"] == "bob"
    monkeypatch.setenv("IRODS_AUTHENTICATION_FILE", str(tmp_path / ".irodsA"))
    with iRODSSession(irods_env_file=env_file) as s:
        assert s.collections.get("/tempZone/home/bob").name == "bob"
    from irods.password_obfuscation import decode

    assert decode((tmp_path / ".irodsA").read_text()) == srv.users["bob"]


# ---- collections and data objects ----------------------------------------------------------------------


def test_collections(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    alice.collections.create(f"{home}/a/b/c")
    assert alice.collections.exists(f"{home}/a/b/c")
    with pytest.raises(ex.CAT_UNKNOWN_COLLECTION):
        alice.collections.create(f"{home}/x/y", recurse=False)
    with pytest.raises(ex.CAT_NAME_EXISTS_AS_COLLECTION):
        alice.collections.create(f"{home}/a", recurse=False)
    put_bytes(alice, f"{home}/obj", b"1")
    with pytest.raises(ex.CAT_NAME_EXISTS_AS_DATAOBJ):
        alice.collections.create(f"{home}/obj", recurse=False)
    with pytest.raises(ex.CAT_COLLECTION_NOT_EMPTY):
        alice.collections.remove(f"{home}/a", recurse=False, force=True)
    assert [c.name for c in alice.collections.get(home).subcollections] == ["a"]
    alice.collections.move(f"{home}/a", f"{home}/renamed")
    assert alice.collections.exists(f"{home}/renamed/b/c") and not alice.collections.exists(f"{home}/a")
    alice.collections.remove(f"{home}/renamed", recurse=True, force=True)
    assert not alice.collections.exists(f"{home}/renamed")


def test_open_read_write_seek(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    path = f"{home}/f.bin"
    put_bytes(alice, path, b"0123456789")
    with alice.data_objects.open(path, "r+") as f:
        f.seek(3)
        assert f.read(4) == b"3456"
        f.seek(-2, io.SEEK_END)
        assert f.read() == b"89"
        f.seek(2)
        f.write(b"AB")
    assert get_bytes(alice, path) == b"01AB456789"
    with alice.data_objects.open(path, "a") as f:
        f.write(b"!")
    obj = alice.data_objects.get(path)
    assert obj.size == 11 and obj.replicas[0].status == "1" and obj.owner_name == "alice"
    with alice.data_objects.open(path, "w") as f:
        f.write(b"new")
    assert get_bytes(alice, path) == b"new"
    with pytest.raises(ex.OBJ_PATH_DOES_NOT_EXIST):
        alice.data_objects.open(f"{home}/missing", "r")


def test_reads_never_exceed_the_requested_length(
    srv: IRODSServerHandle, alice: iRODSSession, home: str
) -> None:
    path = f"{home}/r.bin"
    put_bytes(alice, path, bytes(range(256)) * 100)
    raw_handle = alice.data_objects.open(path, "r")
    raw = raw_handle.raw
    buf = bytearray(10)
    assert raw.readinto(buf) == 10 and bytes(buf) == bytes(range(10))
    raw.seek(25590)
    assert raw.readinto(bytearray(100)) == 10  # only what is left
    assert raw.readinto(bytearray(100)) == 0  # EOF
    raw_handle.close()


def test_create_semantics_follow_version(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    path = f"{home}/c"
    put_bytes(alice, path, b"data")
    if srv.version == "4.2.8":
        with pytest.raises(ex.OVERWRITE_WITHOUT_FORCE_FLAG):
            alice.data_objects.create(path, force=True)
        assert get_bytes(alice, path) == b"data"
    else:
        alice.data_objects.create(path, force=True)
        assert get_bytes(alice, path) == b""
    expected = {"4.2.8": ex.SYS_INVALID_INPUT_PARAM, "4.3.4": ex.SYS_INVALID_FILE_PATH}[srv.version]
    with pytest.raises(expected):
        alice.data_objects.create("relative")


def test_unlink_rename_copy_truncate_touch(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    put_bytes(alice, f"{home}/a", b"abcdef")
    alice.data_objects.copy(f"{home}/a", f"{home}/b")
    with pytest.raises(ex.OVERWRITE_WITHOUT_FORCE_FLAG):
        alice.data_objects.copy(f"{home}/a", f"{home}/b")
    alice.data_objects.move(f"{home}/b", f"{home}/c")
    assert get_bytes(alice, f"{home}/c") == b"abcdef" and not alice.data_objects.exists(f"{home}/b")
    alice.data_objects.truncate(f"{home}/c", 2)
    assert get_bytes(alice, f"{home}/c") == b"ab" and alice.data_objects.get(f"{home}/c").size == 2
    alice.data_objects.touch(f"{home}/c", seconds_since_epoch=1_000_000_000)
    assert alice.data_objects.get(f"{home}/c").modify_time.timestamp() == 1_000_000_000
    alice.data_objects.touch(f"{home}/new")
    assert alice.data_objects.get(f"{home}/new").size == 0
    alice.data_objects.unlink(f"{home}/c", force=True)
    assert not alice.data_objects.exists(f"{home}/c")


def test_trash(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    put_bytes(alice, f"{home}/t1", b"x")
    alice.data_objects.unlink(f"{home}/t1")
    trash = home.replace("/tempZone/home/", "/tempZone/trash/home/")
    assert alice.data_objects.exists(f"{trash}/t1") and not alice.data_objects.exists(f"{home}/t1")
    alice.collections.create(f"{home}/sub")
    put_bytes(alice, f"{home}/sub/t2", b"y")
    alice.collections.remove(f"{home}/sub")
    assert alice.data_objects.exists(f"{trash}/sub/t2")
    alice.collections.remove(trash, force=True)
    assert not alice.collections.exists(trash)


def test_listing_pages_past_500_rows(srv: IRODSServerHandle, rods: iRODSSession) -> None:
    path = f"/tempZone/home/rods/many-{srv.version}"
    rods.collections.create(path)
    for i in range(520):
        rods.data_objects.create(f"{path}/f{i:04d}")
    srv.reset_counts()
    names = [r[DataObject.name] for r in rods.query(DataObject.name).filter(Collection.name == path)]
    assert names == [f"f{i:04d}" for i in range(520)]
    assert srv.api_counts[GEN_QUERY] == 2
    batches = rods.query(DataObject.name).filter(Collection.name == path).get_batches()
    assert len(next(batches)) == 500
    batches.close()  # closes the server-side cursor with maxRows=0
    count = rods.query(DataObject.id).filter(Collection.name == path).count(DataObject.id).one()
    assert int(count[DataObject.id]) == 520
    rods.collections.remove(path, force=True)


def test_genquery_operators(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    for name, data in (("a1", b"1"), ("a2", b"22"), ("b1", b"333"), ("it's", b"4444")):
        put_bytes(alice, f"{home}/{name}", data)

    def names(*conds, **kw_) -> list[str]:
        q = alice.query(DataObject.name, DataObject.size).filter(Collection.name == home, *conds)
        if kw_.get("order"):
            q = q.order_by(DataObject.size, order=kw_["order"])
        return [r[DataObject.name] for r in q]

    assert names(Like(DataObject.name, "a%")) == ["a1", "a2"]
    assert names(DataObject.name == "it's") == ["it's"]
    assert names(DataObject.size > 2) == ["b1", "it's"]
    assert names(DataObject.size > 2, order="desc") == ["it's", "b1"]
    assert names(DataObject.name != "a1", DataObject.size < 4) == ["a2", "b1"]
    case_insensitive = alice.query(DataObject.name, case_sensitive=False).filter(
        Collection.name == home.upper()
    )
    assert sorted(r[DataObject.name] for r in case_insensitive.filter(DataObject.name == "A1")) == ["a1"]
    total = alice.query(DataObject.size).filter(Collection.name == home).sum(DataObject.size).one()
    assert int(total[DataObject.size]) == 10


# ---- checksums, AVUs ----------------------------------------------------------------------------------


def test_checksum(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    import base64
    import hashlib

    path = f"{home}/sum"
    put_bytes(alice, path, b"abc")
    expected = "sha2:" + base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    assert alice.data_objects.chksum(path) == expected
    assert alice.data_objects.get(path).checksum == expected
    assert alice.data_objects.chksum(path, **{kw.VERIFY_CHKSUM_KW: ""}) == ""
    put_bytes(alice, path, b"abcd")  # a write clears the stored checksum
    assert alice.data_objects.get(path).checksum is None
    if srv.version == "4.3.4":
        stack = RErrorStack()
        with pytest.raises(Exception) as info:
            alice.data_objects.chksum(path, r_error=stack, **{kw.VERIFY_CHKSUM_KW: ""})
        assert type(info.value).__name__ == "Server_Checksum_Warning" and len(stack) == 1
    assert alice.data_objects.chksum(path, **{kw.FORCE_CHKSUM_KW: ""}) != expected


def test_avus(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    path = f"{home}/m"
    put_bytes(alice, path, b"")
    obj = alice.data_objects.get(path)
    obj.metadata.add("k", "v1", "u")
    with pytest.raises(ex.CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME):
        obj.metadata.add("k", "v1", "u")
    obj.metadata.add("k", "v2")
    assert sorted((m.name, m.value, m.units) for m in obj.metadata.items()) == [
        ("k", "v1", "u"),
        ("k", "v2", None),
    ]
    obj.metadata.set("k", "only")
    assert [(m.name, m.value) for m in obj.metadata.items()] == [("k", "only")]
    alice.metadata.remove(DataObject, path, iRODSMeta("k", "only"))
    assert alice.metadata.get(DataObject, path) == []
    coll = alice.collections.get(home)
    coll.metadata.apply_atomic_operations(
        AVUOperation(operation="add", avu=iRODSMeta("x", "1")),
        AVUOperation(operation="add", avu=iRODSMeta("y", "2")),
    )
    assert sorted(m.name for m in coll.metadata.items()) == ["x", "y"]
    alice.metadata.copy(Collection, DataObject, home, path)
    assert sorted(m.name for m in alice.metadata.get(DataObject, path)) == ["x", "y"]
    with pytest.raises(ex.iRODSException) as info:
        alice.metadata.apply_atomic_operations(
            DataObject, f"{home}/missing", AVUOperation(operation="add", avu=iRODSMeta("a", "b"))
        )
    assert "Entity does not exist" in info.value.server_msg.get_json_encoded_struct()["error_message"]


def test_multi_avu_join(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    for i in range(3):
        put_bytes(alice, f"{home}/o{i}", b"")
        obj = alice.data_objects.get(f"{home}/o{i}")
        obj.metadata.add("A", f"1{i}")
        obj.metadata.add("B", f"2{i}")
    q = (
        alice.query(DataObject.name)
        .filter(Collection.name == home)
        .filter(DataObjectMeta.name == "A", DataObjectMeta.value < "12")
        .filter(DataObjectMeta.name == "B", DataObjectMeta.value >= "21")
    )
    assert [r[DataObject.name] for r in q] == ["o1"]


def mod_avu(sess: iRODSSession, *args: str) -> None:
    """Send ``MOD_AVU_METADATA_AN`` with raw arguments (the client's manager has no mod/adda/rmw)."""
    from irods.api_number import api_number
    from irods.message import MetadataRequest, iRODSMessage

    msg = iRODSMessage("RODS_API_REQ", msg=MetadataRequest(*args), int_info=api_number["MOD_AVU_METADATA_AN"])
    with sess.pool.get_connection() as conn:
        conn.send(msg)
        conn.recv()


def test_avu_mod_adda_rmw(srv: IRODSServerHandle, alice: iRODSSession, rods: iRODSSession, home: str) -> None:
    path = f"{home}/mm"
    put_bytes(alice, path, b"")
    mod_avu(alice, "add", "-d", path, "size", "10", "MB")
    mod_avu(alice, "mod", "-d", path, "size", "10", "MB", "v:20", "u:GB")
    assert [(m.name, m.value, m.units) for m in alice.metadata.get(DataObject, path)] == [
        ("size", "20", "GB")
    ]
    with pytest.raises(ex.CAT_INSUFFICIENT_PRIVILEGE_LEVEL):
        mod_avu(alice, "adda", "-d", path, "x", "1")
    mod_avu(rods, "adda", "-d", path, "tag1", "a")
    mod_avu(rods, "adda", "-d", path, "tag2", "b")
    mod_avu(alice, "rmw", "-d", path, "tag%", "%")
    assert [m.name for m in alice.metadata.get(DataObject, path)] == ["size"]
    with pytest.raises(ex.CAT_INSUFFICIENT_PRIVILEGE_LEVEL):
        mod_avu(alice, "add", "-u", "bob", "a", "b")
    mod_avu(rods, "add", "-u", "bob", "team", "x")
    assert [m.name for m in rods.users.get("bob").metadata.items()] == ["team"]
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION), srv.session("bob") as b:
        mod_avu(b, "add", "-d", path, "by", "bob")


def test_allow_redirect_asks_for_the_resource_host(
    srv: IRODSServerHandle, alice: iRODSSession, home: str
) -> None:
    srv.reset_counts()
    with client_config.loadlines([dict(setting="data_objects.allow_redirect", value=True)]):
        put_bytes(alice, f"{home}/redir", b"r")
        assert get_bytes(alice, f"{home}/redir") == b"r"
    assert (srv.api_counts[10220] == 2) is (srv.version == "4.3.4")


# ---- parallel transfer --------------------------------------------------------------------------------


def test_put_get_40_MiB(srv: IRODSServerHandle, alice: iRODSSession, home: str, tmp_path) -> None:
    data = os.urandom(40 << 20)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    srv.reset_counts()
    alice.data_objects.put(str(src), f"{home}/big")
    put_counts = dict(srv.api_counts)
    alice.data_objects.get(f"{home}/big", str(dst))
    assert dst.read_bytes() == data
    assert alice.data_objects.get(f"{home}/big").size == len(data)
    if srv.version == "4.2.8":  # no parallel transfer before 4.2.9: one stream, one descriptor
        assert put_counts.get(OPEN) == 1 and 20000 not in put_counts and 20004 not in srv.api_counts
    elif (os.cpu_count() or 1) > 1:  # the client uses min(cpus, 3) connections
        assert put_counts.get(OPEN, 0) >= 2 and put_counts.get(20000) == 1 and put_counts.get(20004, 0) >= 1
        assert srv.api_counts[20004] >= 2


def test_second_writer_needs_the_replica_token(
    srv: IRODSServerHandle, alice: iRODSSession, home: str
) -> None:
    path = f"{home}/locked"
    with alice.data_objects.open(path, "w") as f:
        f.write(b"x")
        with srv.session("alice") as other, pytest.raises(ex.LOCKED_DATA_OBJECT_ACCESS):
            other.data_objects.open(path, "a")


# ---- ACLs, users, tickets -------------------------------------------------------------------------------


def test_acl_enforcement(srv: IRODSServerHandle, alice: iRODSSession, bob: iRODSSession, home: str) -> None:
    path = f"{home}/secret"
    put_bytes(alice, path, b"s3cret")
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
        get_bytes(bob, path)
    alice.acls.set(iRODSAccess("read", path, "bob"))
    assert get_bytes(bob, path) == b"s3cret"
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
        put_bytes(bob, path, b"bob was here")
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
        bob.data_objects.unlink(path, force=True)
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
        bob.acls.set(iRODSAccess("own", path, "bob"))
    alice.acls.set(iRODSAccess("write", path, "bob"))
    put_bytes(bob, path, b"bob was here")
    assert get_bytes(alice, path) == b"bob was here"
    names = {a.user_name: a.access_name for a in alice.acls.get(alice.data_objects.get(path))}
    write_name = "modify_object" if srv.version == "4.3.4" else "modify object"
    assert names == {"alice": "own", "bob": write_name}
    with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
        bob.collections.create(f"{home}/bobdir")
    alice.acls.set(iRODSAccess("inherit", home))
    alice.acls.set(iRODSAccess("read", home, "bob"))
    put_bytes(alice, f"{home}/inherited", b"i")
    assert get_bytes(bob, f"{home}/inherited") == b"i"
    assert alice.collections.get(home).inheritance


def test_groups_and_password_change(srv: IRODSServerHandle, rods: iRODSSession, alice: iRODSSession) -> None:
    name = f"u{uuid.uuid4().hex[:6]}"
    user = rods.users.create(name, "rodsuser")
    user.modify("password", "n3w-Pass")
    group = rods.groups.create(f"g{name}")
    group.addmember(name)
    assert [u.name for u in group.members] == [name]
    path = f"/tempZone/home/alice/grp-{name}"
    put_bytes(alice, path, b"g")
    alice.acls.set(iRODSAccess("read", path, group.name))
    with iRODSSession(host=srv.host, port=srv.port, user=name, zone=srv.zone, password="n3w-Pass") as s:
        assert get_bytes(s, path) == b"g"
    rods.users.create_with_password(f"{name}2", "pw-Two")
    with iRODSSession(host=srv.host, port=srv.port, user=f"{name}2", zone=srv.zone, password="pw-Two") as s:
        assert s.collections.get(f"/tempZone/home/{name}2").owner_name == f"{name}2"
    with pytest.raises(ex.CAT_INSUFFICIENT_PRIVILEGE_LEVEL):
        alice.users.create("mallory", "rodsadmin")
    rods.users.remove(name)
    rods.users.remove(f"{name}2")
    group.remove()


def test_ticket_enforcement(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    path = f"{home}/tk"
    put_bytes(alice, path, b"ticketed")

    def as_bob(ticket: Ticket) -> iRODSSession:
        s = srv.session("bob", connection_timeout=10)
        Ticket(s, ticket.string).supply()
        return s

    read = Ticket(alice).issue("read", path)
    with as_bob(read) as b:
        assert get_bytes(b, path) == b"ticketed"
        with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
            put_bytes(b, path, b"nope")
    once = Ticket(alice).issue("read", path).modify("uses", 1)
    with as_bob(once) as b:
        get_bytes(b, path)  # the first (and only) use
        with pytest.raises(ex.CAT_TICKET_USES_EXCEEDED):
            get_bytes(b, path)
    write = Ticket(alice).issue("write", home)
    write.modify("write-file", 1)
    with as_bob(write) as b:
        put_bytes(b, path, b"by bob")
        with pytest.raises(ex.CAT_TICKET_USES_EXCEEDED):
            put_bytes(b, path, b"again")
    assert get_bytes(alice, path) == b"by bob"
    counts = Ticket(alice).issue("write", home).modify("write-file", 1)
    with as_bob(counts) as b:
        put_bytes(b, f"{home}/new-by-bob", b"new")  # creating counts as a written file too
        with pytest.raises(ex.CAT_TICKET_USES_EXCEEDED):
            put_bytes(b, f"{home}/another", b"no")
    write.modify("write-file", 0).modify("write-byte", 4)
    with as_bob(write) as b, pytest.raises(ex.CAT_TICKET_USES_EXCEEDED):
        put_bytes(b, path, b"too many bytes")
    expiring = Ticket(alice).issue("read", path)
    expiring.modify("expire", int(time.time()) - 1)
    # servers before 4.2.9 accept the session and fail the open with a bad descriptor
    expired = ex.CAT_TICKET_EXPIRED if srv.version == "4.3.4" else ex.SYS_FILE_DESC_OUT_OF_RANGE
    with srv.session("bob") as b, pytest.raises(expired):
        Ticket(b, expiring.string).supply()
        get_bytes(b, path)
    with srv.session("bob") as b, pytest.raises(ex.CAT_TICKET_INVALID):
        Ticket(b, "no-such-ticket").supply()
        b.collections.get(home)
    for t in (read, once, write, counts, expiring):
        t.delete()


def test_anonymous_with_ticket(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    put_bytes(alice, f"{home}/pub", b"public")
    t = Ticket(alice).issue("read", f"{home}/pub")
    try:
        with iRODSSession(host=srv.host, port=srv.port, user="anonymous", zone=srv.zone, password="") as anon:
            with pytest.raises(ex.CAT_NO_ACCESS_PERMISSION):
                get_bytes(anon, f"{home}/pub")
            Ticket(anon, t.string).supply()
            anon.cleanup()  # new connections present the ticket
            assert get_bytes(anon, f"{home}/pub") == b"public"
            listed = [r[DataObject.name] for r in anon.query(DataObject.name, Collection.name)]
            assert listed == ["pub"]  # a ticket session sees only what the ticket covers
    finally:
        t.delete()


# ---- odd names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["it's", 'say "hi"', "a&b<c>d", "ünïcødé ✓", "semi;colon = %_"])
def test_odd_names(srv: IRODSServerHandle, alice: iRODSSession, home: str, name: str) -> None:
    put_bytes(alice, f"{home}/{name}", name.encode())
    assert get_bytes(alice, f"{home}/{name}") == name.encode()
    assert [o.name for o in alice.collections.get(home).data_objects] == [name]
    alice.collections.create(f"{home}/{name} dir")
    assert alice.collections.get(f"{home}/{name} dir").name == f"{name} dir"


def test_control_characters_with_quasi_xml(srv: IRODSServerHandle, alice: iRODSSession, home: str) -> None:
    from irods.message import ET, XML_Parser_Type

    name = "ctl\x01\x1f\rname"
    try:
        ET(XML_Parser_Type.QUASI_XML, alice.server_version)
        put_bytes(alice, f"{home}/{name}", b"c")
        assert [o.name for o in alice.collections.get(home).data_objects] == [name]
    finally:
        ET(XML_Parser_Type.STANDARD_XML)


# ---- faults ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api,action", [(GEN_QUERY, "drop"), (GEN_QUERY, "half"), (READ, "half"), (GEN_QUERY, "stall")]
)
def test_faults_surface_as_errors(srv: IRODSServerHandle, home: str, api: int, action: str) -> None:
    path = f"{home}/fault"
    with srv.session("alice", connection_timeout=1.5) as s:
        put_bytes(s, path, b"payload")
        handle = s.data_objects.open(path, "r") if api == READ else None
        srv.inject(api, action)  # type: ignore[arg-type]
        t0 = time.monotonic()
        with pytest.raises(ex.NetworkException):
            if handle is not None:
                handle.read()
            else:
                s.collections.get(home)
        assert time.monotonic() - t0 < 10
        s.cleanup()
    with srv.session("alice") as s:  # the server keeps serving
        assert get_bytes(s, path) == b"payload"


def test_handler_bug_becomes_error_reply(srv: IRODSServerHandle, alice: iRODSSession, monkeypatch) -> None:
    from fsspec_research.testing.irods import dispatch

    def boom(*_):
        raise RuntimeError("bug")

    monkeypatch.setitem(dispatch.HANDLERS, 20007, boom)
    with pytest.raises(ex.SYS_LIBRARY_ERROR):
        alice.data_objects.touch("/tempZone/home/alice/x")
    assert alice.collections.exists("/tempZone/home/alice")  # same connection still works


# ---- SSL ------------------------------------------------------------------------------------------------


def test_ssl() -> None:
    with irods_server(ssl=True) as srv:
        assert srv.ca_file and os.path.exists(srv.ca_file)
        assert srv.storage_options["client_server_policy"] == "CS_NEG_REQUIRE"
        with iRODSSession(**srv.storage_options) as s:
            put_bytes(s, "/tempZone/home/alice/tls", b"over tls")
            assert get_bytes(s, "/tempZone/home/alice/tls") == b"over tls"
            with s.pool.get_connection() as conn:
                assert isinstance(conn.socket, ssl.SSLSocket)
        refusing = {**srv.storage_options, "client_server_policy": "CS_NEG_REFUSE"}
        with iRODSSession(**refusing) as s, pytest.raises(ex.NetworkException):
            s.collections.get("/tempZone/home/alice")


# ---- units ----------------------------------------------------------------------------------------------


def test_every_emitted_error_code_is_known_to_the_client() -> None:
    for name, code in errors.CODES.items():
        cls = getattr(ex, name, None)
        assert cls is not None and cls.code == code, name
        assert ex.get_exception_by_code(code).__class__ is cls


def test_password_obfuscation_round_trips() -> None:
    from irods import password_obfuscation as prc

    sig = "00112233445566778899aabbccddeeff"
    assert (
        obfuscation.unscramble_v2(prc.obfuscate_new_password("n3w-Pass", "old", sig), "old", sig)
        == "n3w-Pass"
    )
    scrambled = prc.obfuscate_new_password_with_key("pw-Two", "adminpw")
    assert obfuscation.strip_padding(obfuscation.unscramble(scrambled, "adminpw")) == "pw-Two"
    assert prc.decode(obfuscation.encode_irodsA("secret#1")) == "secret#1"
    challenge = obfuscation.challenge().encode()
    assert len(challenge) == 64


def test_stop_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    errors: list[BaseException] = []

    def stalled_query(s: iRODSSession) -> None:
        try:
            s.collections.get("/tempZone/home")
        except BaseException as e:
            errors.append(e)

    with irods_server() as srv:
        s = srv.session("alice")
        s.collections.get("/tempZone/home/alice")
        srv.inject(GEN_QUERY, "stall")
        t = threading.Thread(target=stalled_query, args=(s,))
        t.start()
        time.sleep(0.3)
    t.join(10)  # stopping the server releases the stalled request
    assert not t.is_alive() and isinstance(errors[0], ex.NetworkException)
    assert set(threading.enumerate()) - before == set()


def test_genquery_engine_operators(tmp_path) -> None:
    from fsspec_research.testing.irods.catalog import Actor, Catalog
    from fsspec_research.testing.irods.genquery import NO_DISTINCT, Request, execute, parse_condition

    cat = Catalog("tempZone", str(tmp_path), (4, 3, 4))
    rods = Actor(cat.user("rods"))
    cat.mkdir(rods, "/tempZone/home/rods/q", False)
    for name, size in (("a", 1), ("b", 5), ("c'x", 5), ("d", 9)):
        cat.create_obj(rods, f"/tempZone/home/rods/q/{name}").size = size

    def q(*where: tuple[int, str], select=((403, 1),), options=0) -> list[tuple[str, ...]]:
        return execute(
            cat, rods, Request(list(select), [(501, "= '/tempZone/home/rods/q'"), *where], options=options)
        )

    assert parse_condition("= 'a' || like 'b%' && <> 'bc'") == [
        [("=", ["a"])],
        [("like", ["b%"]), ("<>", ["bc"])],
    ]
    assert q((403, "= 'c'x'")) == [("c'x",)]  # the literal runs to the last quote
    assert q((403, "= 'a' || = 'd'")) == [("a",), ("d",)]
    assert q((407, ">= '5' && < '9'")) == [("b",), ("c'x",)]
    assert q((403, "in ('a', 'd', 'zz')")) == [("a",), ("d",)]
    assert q((407, "between '2' '8'")) == [("b",), ("c'x",)]
    assert q((403, "not like '%x'"), (403, "<> 'a'")) == [("b",), ("d",)]
    assert q(select=[(407, 1)]) == [("1",), ("5",), ("9",)]  # distinct
    assert q(select=[(407, 1)], options=NO_DISTINCT) == [("1",), ("5",), ("5",), ("9",)]
    assert q(select=[(407, 0x800)]) == [("9",), ("5",), ("1",)]
    assert q(select=[(407, 2), (407, 3), (407, 6)]) == [("1", "9", "4")]  # min, max, count
    upper = Request([(403, 1)], [(501, "= '/TEMPZONE/HOME/RODS/Q'"), (403, "= 'A'")], options=0x200)
    assert execute(cat, rods, upper) == [("a",)]  # upper-case WHERE: literals come upper-cased

"""The iRODS-specific API: AVU metadata, checksums, tickets and access control."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

ATOMIC_METADATA = 20002


def test_avus_on_objects_and_collections(fs, root):
    path = f"{root}/m.txt"
    fs.pipe(path, b"x")
    fs.add_metadata(path, "sample", "s1")
    fs.add_metadata(path, "sample", "s2", "id")
    fs.add_metadata(root, "project", "p", None)
    assert fs.get_metadata(path) == [("sample", "s1", None), ("sample", "s2", "id")]
    assert fs.info(root)["metadata"] == [("project", "p", None)]
    fs.set_metadata(path, "sample", "only")
    assert fs.info(path)["metadata"] == [("sample", "only", None)]
    fs.remove_metadata(path, "sample")
    assert fs.get_metadata(path) == []
    with pytest.raises(KeyError, match="sample"):
        fs.remove_metadata(path, "sample")


def test_metadata_batches_are_one_atomic_call(irods, fs, root, login):
    path = f"{root}/a.txt"
    fs.pipe(path, b"x")
    fs.add_metadata(path, "old", "0")
    irods.reset_counts()
    fs.apply_metadata(path, remove=[("old", "0")], add=[("a", "1"), ("b", "2", "u")])
    assert irods.api_counts[ATOMIC_METADATA] == 1
    assert fs.get_metadata(path) == [("a", "1", None), ("b", "2", "u")]
    bob = login({**irods.storage_options, "user": "bob", "password": irods.users["bob"]})
    try:
        with pytest.raises(PermissionError, match=r"a\.txt"):
            bob.apply_metadata(path, remove=[("a", "1")], add=[("c", "3")])
    finally:
        bob.close()
    assert fs.get_metadata(path) == [("a", "1", None), ("b", "2", "u")]


def test_checksum_is_the_servers_sha256(fs, root):
    fs.pipe(f"{root}/c.bin", b"checksum me")
    expected = "sha2:" + base64.b64encode(hashlib.sha256(b"checksum me").digest()).decode()
    assert fs.checksum(f"{root}/c.bin") == expected
    assert fs.checksum(f"{root}/c.bin", verify=True) == expected
    assert fs.ukey(f"{root}/c.bin") != fs.ukey(f"{root}/c.txt" if fs.exists(f"{root}/c.txt") else root)


def test_a_read_ticket_gives_anonymous_read_access(irods, fs, root, login):
    path = f"{root}/shared.csv"
    fs.pipe(path, b"a,b\n1,2\n")
    ticket = fs.issue_ticket(path, "read")
    options = {k: v for k, v in irods.storage_options.items() if k != "password"}
    guest = login(options, user="anonymous", ticket=ticket)
    try:
        assert guest.cat_file(path) == b"a,b\n1,2\n"
        with pytest.raises(PermissionError):
            guest.pipe(path, b"overwritten")
    finally:
        guest.close()
    assert fs.cat_file(path) == b"a,b\n1,2\n"
    fs.delete_ticket(ticket)


def test_a_read_ticket_does_not_allow_writes(irods, fs, root, login):
    path = f"{root}/read-only.txt"
    fs.pipe(path, b"keep me")
    ticket = fs.issue_ticket(path, "read")
    bob = login({**irods.storage_options, "user": "bob", "password": irods.users["bob"]}, ticket=ticket)
    try:
        assert bob.cat_file(path) == b"keep me"
        with pytest.raises(PermissionError, match=r"read-only\.txt"):
            bob.pipe(path, b"changed")
    finally:
        bob.close()
    assert fs.cat_file(path) == b"keep me"


def test_an_expired_ticket_is_refused(irods, fs, root, login):
    path = f"{root}/old.txt"
    fs.pipe(path, b"x")
    bob_options = {**irods.storage_options, "user": "bob", "password": irods.users["bob"]}
    for expires, readable in ((timedelta(hours=1), True), (timedelta(hours=-1), False)):
        ticket = fs.issue_ticket(path, "read", expires=datetime.now(timezone.utc) + expires)
        bob = login(bob_options, ticket=ticket)
        try:
            if readable:
                assert bob.cat_file(path) == b"x"
            else:
                with pytest.raises(PermissionError, match=r"old\.txt"):
                    bob.cat_file(path)
        finally:
            bob.close()


def test_grant_and_revoke_read_access(irods, fs, root, login):
    path = f"{root}/for-bob.txt"
    fs.pipe(path, b"hi bob")
    bob = login({**irods.storage_options, "user": "bob", "password": irods.users["bob"]})
    try:
        with pytest.raises(PermissionError):
            bob.cat_file(path)
        fs.grant(root, "bob", "read", recursive=True)
        assert fs.acl(path)["bob"] == "read"
        assert bob.cat_file(path) == b"hi bob"
        with pytest.raises(PermissionError):
            bob.pipe(path, b"bob was here")
        fs.revoke(path, "bob")
        bob.close()  # descriptors opened before the revoke keep reading, as on a real server
        with pytest.raises(PermissionError):
            bob.cat_file(path)
    finally:
        bob.close()
    with pytest.raises(ValueError, match="level"):
        fs.grant(path, "bob", "everything")

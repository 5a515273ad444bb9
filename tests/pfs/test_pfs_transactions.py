"""Commits: one per write, one per transaction, nothing published on error, pinned readers unaffected."""

from __future__ import annotations

import pytest

from fsspec_research.pfs import PFSFileSystem


def head(fs: PFSFileSystem, root: str) -> str:
    return fs.resolve(root)


def commits(fs: PFSFileSystem, root: str) -> list[str]:
    """Commit ids of the branch, newest first."""
    from fsspec_research.pfs.urls import parse

    return [c.commit.id for c in fs.client.list_commits(parse(root), parse(root).ref)]


def test_each_write_is_one_commit(fs, root):
    before = commits(fs, root)
    fs.pipe(f"{root}/a.txt", b"a")
    with fs.open(f"{root}/b.bin", "wb") as f:
        f.write(b"x" * (fs.upload_part_size * 2 + 5))  # several parts, one commit
    fs.rm(f"{root}/a.txt")
    assert len(commits(fs, root)) == len(before) + 3
    assert fs.cat_file(f"{root}/b.bin") == b"x" * (fs.upload_part_size * 2 + 5)


def test_a_transaction_is_one_commit(fs, root):
    fs.pipe({f"{root}/old/{i}.txt": f"old {i}".encode() for i in range(5)})
    before = commits(fs, root)
    old_head = head(fs, root)
    with fs.open(f"{root}/old/0.txt", "rb") as pinned:  # a reader pinned to the old commit
        with fs.transaction:
            for i in range(20):
                with fs.open(f"{root}/new/{i:02d}.txt", "wb") as f:
                    f.write(f"new {i}".encode())
            fs.rm([f"{root}/old/1.txt", f"{root}/old/2.txt", f"{root}/old/3.txt"])
            assert head(fs, root) == old_head  # nothing published before the end
            assert pinned.read() == b"old 0"
        pinned.seek(0)
        assert pinned.read() == b"old 0"
    after = commits(fs, root)
    assert len(after) == len(before) + 1
    assert fs.ls(f"{root}/old", detail=False) == [f"{root}/old/0.txt", f"{root}/old/4.txt"]
    assert len(fs.ls(f"{root}/new")) == 20
    assert fs.cat_file(f"{root}/new/07.txt") == b"new 7"
    # the old commit still has the old files
    assert fs.cat_file(f"{root.split('@')[0]}@{old_head}/old/2.txt") == b"old 2"


def test_an_exception_in_a_transaction_leaves_the_head_unchanged(fs, root):
    fs.pipe(f"{root}/keep.txt", b"keep")
    old_head, before = head(fs, root), commits(fs, root)
    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe(f"{root}/keep.txt", b"overwritten")
        with fs.open(f"{root}/big.bin", "wb") as f:
            f.write(b"y" * (fs.upload_part_size + 1))
        fs.rm(f"{root}/keep.txt")
        raise RuntimeError("analysis failed")
    assert head(fs, root) == old_head
    assert commits(fs, root) == before
    assert fs.cat_file(f"{root}/keep.txt") == b"keep"
    assert not fs.exists(f"{root}/big.bin")


def test_a_failed_write_publishes_nothing(fs, root):
    fs.pipe(f"{root}/x.txt", b"x")
    old_head = head(fs, root)
    with pytest.raises(RuntimeError), fs.open(f"{root}/y.bin", "wb") as f:
        f.write(b"z" * (fs.upload_part_size + 3))
        raise RuntimeError("writer crashed")
    assert head(fs, root) == old_head
    assert not fs.exists(f"{root}/y.bin")


def test_mv_is_copy_and_delete_in_one_commit(fs, root):
    fs.pipe({f"{root}/d/a.txt": b"a", f"{root}/d/s/b.txt": b"b", f"{root}/one.txt": b"1"})
    before = len(commits(fs, root))
    fs.mv(f"{root}/one.txt", f"{root}/two.txt")
    fs.mv(f"{root}/d", f"{root}/e")
    assert len(commits(fs, root)) == before + 2
    assert fs.cat_file(f"{root}/two.txt") == b"1" and not fs.exists(f"{root}/one.txt")
    assert fs.find(f"{root}/e") == [f"{root}/e/a.txt", f"{root}/e/s/b.txt"]
    assert not fs.exists(f"{root}/d")


def test_commits_are_immutable(fs, root):
    fs.pipe(f"{root}/f.txt", b"v1")
    pinned = f"{root.split('@')[0]}@{head(fs, root)}"
    with pytest.raises(PermissionError):
        fs.pipe(f"{pinned}/f.txt", b"v2")
    fs.pipe(f"{root}/f.txt", b"v2")
    assert fs.cat_file(f"{pinned}/f.txt") == b"v1"
    assert fs.cat_file(f"{root}/f.txt") == b"v2"

"""Writes on ``irods://``: whole or in parallel parts, checksummed, published only when complete."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest

MiB = 2**20
DATA_OBJ_OPEN = 602


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha2(data: bytes) -> str:
    return "sha2:" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def names(fs, path):
    return sorted(p.rsplit("/", 1)[1] for p in fs.ls(path, detail=False, refresh=True))


def test_pipe_registers_the_checksum_of_the_bytes(fs, root):
    fs.pipe(f"{root}/s.txt", b"hello irods")
    info = fs.info(f"{root}/s.txt")
    assert info["size"] == 11 and info["type"] == "file"
    assert info["checksum"] == sha2(b"hello irods")
    assert fs.cat_file(f"{root}/s.txt") == b"hello irods"


def test_a_large_streamed_write_goes_in_parallel_parts(irods, fs, root):
    data = payload(fs.upload_part_size * 3 + 12345, seed=1)
    irods.reset_counts()
    with fs.open(f"{root}/big.bin", "wb") as f:
        for lo in range(0, len(data), 3 * MiB):
            f.write(data[lo : lo + 3 * MiB])
    assert irods.api_counts[DATA_OBJ_OPEN] >= 2  # joined descriptors on other connections
    assert fs.cat_file(f"{root}/big.bin") == data
    assert fs.info(f"{root}/big.bin")["checksum"] == sha2(data)
    assert names(fs, root) == ["big.bin"]


def test_put_of_a_large_local_file(fs, root, tmp_path):
    data = payload(40 * MiB + 1, seed=2)
    (tmp_path / "up.bin").write_bytes(data)
    fs.put(str(tmp_path / "up.bin"), f"{root}/up.bin")
    assert fs.size(f"{root}/up.bin") == len(data)
    assert fs.checksum(f"{root}/up.bin") == sha2(data)
    assert fs.cat_file(f"{root}/up.bin", 20 * MiB, 20 * MiB + 100) == data[20 * MiB : 20 * MiB + 100]


def test_nothing_is_visible_while_writing_and_a_failed_write_leaves_nothing(fs, root):
    path = f"{root}/partial.bin"
    with pytest.raises(RuntimeError), fs.open(path, "wb") as f:
        f.write(payload(fs.upload_part_size * 2 + 5))
        assert not fs.exists(path)
        assert names(fs, root) == []  # the hidden upload object is not listed
        assert fs.find(root) == [] and fs.find(root, detail=True) == {}
        raise RuntimeError("writer crashed")
    assert not fs.exists(path)
    assert fs.find(root) == []
    assert fs.ls(root, detail=False, refresh=True) == []
    # nor left in the catalog under its hidden name
    assert [r for r in fs.client.data_rows(_in(root))] == []


def _in(root):
    from irods.models import Collection

    return Collection.name == root


def test_overwrite_keeps_the_objects_metadata(fs, root):
    path = f"{root}/o.txt"
    fs.pipe(path, b"first version")
    fs.add_metadata(path, "experiment", "x1")
    fs.pipe(path, b"second, longer version")
    assert fs.cat_file(path) == b"second, longer version"
    assert fs.get_metadata(path) == [("experiment", "x1", None)]
    assert fs.info(path)["checksum"] == sha2(b"second, longer version")


def test_exclusive_create(fs, root):
    path = f"{root}/x.txt"
    with fs.open(path, "xb") as f:
        f.write(b"mine")
    with pytest.raises(FileExistsError, match=r"x\.txt"):
        fs.open(path, "xb")
    assert fs.cat_file(path) == b"mine"


def test_writing_over_a_collection_is_refused(fs, root):
    fs.mkdir(f"{root}/d")
    with pytest.raises(IsADirectoryError, match="d"):
        fs.pipe(f"{root}/d", b"x")


def test_mkdir_makedirs_rmdir(fs, root):
    fs.mkdir(f"{root}/a/b/c")
    assert fs.isdir(f"{root}/a/b/c")
    with pytest.raises(FileExistsError):
        fs.mkdir(f"{root}/a")
    fs.makedirs(f"{root}/a/b", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{root}/a/b")
    with pytest.raises(FileNotFoundError):
        fs.mkdir(f"{root}/n/o", create_parents=False)
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir(f"{root}/a")
    fs.rmdir(f"{root}/a/b/c")
    assert not fs.exists(f"{root}/a/b/c")


def test_rm_files_and_trees_without_trash(irods, fs, root):
    fs.pipe({f"{root}/t/{i}/f.txt": b"x" for i in range(3)})
    fs.pipe(f"{root}/single", b"y")
    fs.rm(f"{root}/single")
    fs.rm(f"{root}/t", recursive=True)
    assert names(fs, root) == []
    trash = f"/{irods.zone}/trash/home/alice"
    assert not fs.exists(trash) or fs.find(trash) == []


def test_rm_can_move_to_the_trash(irods, login, root):
    fs = login(irods.storage_options, trash=True)
    fs.pipe(f"{root}/keep-in-trash.txt", b"z")
    fs.rm(f"{root}/keep-in-trash.txt")
    assert not fs.exists(f"{root}/keep-in-trash.txt")
    trashed = fs.find(f"/{irods.zone}/trash/home/alice")
    assert any(p.endswith("keep-in-trash.txt") for p in trashed)
    fs.close()


def test_mv_objects_and_collections_on_the_server(fs, root):
    fs.pipe({f"{root}/d/a.txt": b"a", f"{root}/d/sub/b.txt": b"b", f"{root}/one.txt": b"1"})
    fs.mv(f"{root}/one.txt", f"{root}/two.txt")
    assert fs.cat_file(f"{root}/two.txt") == b"1" and not fs.exists(f"{root}/one.txt")
    fs.mv(f"{root}/d", f"{root}/e")
    assert fs.find(f"{root}/e") == [f"{root}/e/a.txt", f"{root}/e/sub/b.txt"]
    assert not fs.exists(f"{root}/d")


def test_cp_is_a_server_side_copy_that_overwrites(fs, root):
    data = payload(5 * MiB, seed=3)
    fs.pipe(f"{root}/src.bin", data)
    fs.pipe(f"{root}/dst.bin", b"old")
    fs.cp(f"{root}/src.bin", f"{root}/dst.bin")
    assert fs.cat_file(f"{root}/dst.bin") == data
    fs.cp(f"{root}/src.bin", f"{root}/copy/", recursive=False)
    assert fs.cat_file(f"{root}/copy/src.bin") == data


def test_writes_on_an_old_server_go_through_one_descriptor(irods_legacy, login):
    fs = login(irods_legacy.storage_options)
    path = f"{fs._strip_protocol(irods_legacy.root)}/legacy-w.bin"
    data = payload(fs.upload_part_size * 2 + 99, seed=4)
    try:
        with fs.open(path, "wb") as f:
            f.write(data)
        assert fs.cat_file(path) == data
        assert fs.info(path)["checksum"] == sha2(data)
    finally:
        fs.rm(path)
        fs.close()


def test_writes_go_to_the_default_resource_and_info_shows_replicas(irods, login, root):
    fs = login(irods.storage_options, default_resource="demoResc")
    try:
        fs.pipe(f"{root}/r.txt", b"on demoResc")
        replicas = fs.info(f"{root}/r.txt")["replicas"]
        assert [(r["number"], r["resource"], r["status"], r["size"]) for r in replicas] == [
            (0, "demoResc", "good", 11)
        ]
    finally:
        fs.close()

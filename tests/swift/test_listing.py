"""Listings on a real Swift: pages, pseudo-directories, directory markers, containers, DirCache."""

from __future__ import annotations

import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.urls import split_path
from fsspec_research.testing.swift import SwiftServerHandle


@pytest.fixture
def tree(fs: SwiftFileSystem, root: str) -> str:
    fs.pipe(
        {f"{root}/a/{i:02d}.txt": b"x" * i for i in range(7)}
        | {f"{root}/b/c/d.txt": b"d", f"{root}/top": b"t"}
    )
    return root


def test_ls_pseudo_directories_and_files(fs: SwiftFileSystem, tree: str) -> None:
    listing = fs.ls(tree)
    assert [(e["name"].rsplit("/", 1)[1], e["type"]) for e in listing] == [
        ("a", "directory"), ("b", "directory"), ("top", "file"),
    ]  # fmt: skip
    assert fs.ls(f"{tree}/b", detail=False) == [f"{tree}/b/c"]
    assert fs.isdir(f"{tree}/b/c") and not fs.isfile(f"{tree}/b/c")
    assert fs.info(f"{tree}/b")["type"] == "directory"
    assert fs.ls(f"{tree}/top", detail=False) == [f"{tree}/top"]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{tree}/nope")


@pytest.mark.parametrize("limit", [1, 3, 4])
def test_listings_page_with_marker(swift: SwiftServerHandle, tree: str, limit: int) -> None:
    paged = SwiftFileSystem(**swift.storage_options, listing_limit=limit, skip_instance_cache=True)
    names = paged.ls(f"{tree}/a", detail=False)
    assert names == [f"{tree}/a/{i:02d}.txt" for i in range(7)]
    assert [e["size"] for e in paged.ls(f"{tree}/a")] == list(range(7))
    assert len(paged.find(tree)) == 9
    assert paged.ls(tree, detail=False) == [f"{tree}/a", f"{tree}/b", f"{tree}/top"]


def test_find_walks_the_tree_with_one_listing(fs: SwiftFileSystem, tree: str) -> None:
    assert fs.find(tree) == sorted(
        [f"{tree}/a/{i:02d}.txt" for i in range(7)] + [f"{tree}/b/c/d.txt", f"{tree}/top"]
    )
    with_dirs = fs.find(tree, withdirs=True, detail=True)
    assert {n for n, i in with_dirs.items() if i["type"] == "directory"} == {
        tree, f"{tree}/a", f"{tree}/b", f"{tree}/b/c",
    }  # fmt: skip
    assert fs.find(f"{tree}/b") == [f"{tree}/b/c/d.txt"]
    assert fs.find(f"{tree}/top") == [f"{tree}/top"]
    assert fs.find(tree, maxdepth=1) == [f"{tree}/top"]
    assert fs.du(tree) == sum(range(7)) + 2
    assert sorted(fs.glob(f"{tree}/a/0[12].txt")) == [f"{tree}/a/01.txt", f"{tree}/a/02.txt"]


def test_directory_marker_objects_are_directories(fs: SwiftFileSystem, root: str) -> None:
    async def put_marker(name: str) -> None:
        await fs._request(
            "PUT", split_path(f"{root}/{name}"), headers={"Content-Type": "application/directory"}
        )

    fs.loop  # noqa: B018 - the loop the sync calls below run on
    from fsspec.asyn import sync

    sync(fs.loop, put_marker, "empty-dir")  # as the swift CLI and Horizon create folders
    sync(fs.loop, put_marker, "slashed/")
    fs.pipe(f"{root}/slashed/inside.txt", b"i")
    assert fs.info(f"{root}/empty-dir")["type"] == "directory"
    assert fs.isdir(f"{root}/slashed")
    listing = {e["name"]: e["type"] for e in fs.ls(root)}
    assert listing == {f"{root}/empty-dir": "directory", f"{root}/slashed": "directory"}
    assert fs.ls(f"{root}/slashed", detail=False) == [f"{root}/slashed/inside.txt"]


def test_account_lists_containers_with_counts(fs: SwiftFileSystem, tree: str) -> None:
    account = tree.rsplit("/", 1)[0]
    entry = next(e for e in fs.ls(account) if e["name"] == tree)  # (counts there lag: the updater)
    assert entry["type"] == "directory" and "count" in entry
    info = fs.info(tree)
    assert info["count"] == 9 and info["size"] == sum(range(7)) + 2
    assert fs.info(account)["type"] == "directory"
    host = account.split("/")[0]
    assert fs.ls(host, detail=False) == [account]


def test_dircache_is_invalidated_by_writes(fs: SwiftFileSystem, tree: str) -> None:
    assert f"{tree}/new.txt" not in fs.ls(tree, detail=False)
    fs.pipe(f"{tree}/new.txt", b"n")
    assert f"{tree}/new.txt" in fs.ls(tree, detail=False)
    fs.rm(f"{tree}/new.txt")
    assert f"{tree}/new.txt" not in fs.ls(tree, detail=False)
    fs.ls(f"{tree}/a")
    with fs.open(f"{tree}/a/z.txt", "wb") as f:
        f.write(b"z")
    assert f"{tree}/a/z.txt" in fs.ls(f"{tree}/a", detail=False)


def test_names_with_spaces_unicode_and_url_characters(fs: SwiftFileSystem, root: str) -> None:
    names = ["with space.txt", "ünïcødé/ファイル.csv", "q?a#b%c&d.txt", "plus+semi;colon.txt"]
    for n in names:
        fs.pipe(f"{root}/{n}", n.encode())
    assert sorted(fs.find(root)) == sorted(f"{root}/{n}" for n in names)
    for n in names:
        assert fs.cat(f"{root}/{n}") == n.encode()
        assert fs.info(f"{root}/{n}")["size"] == len(n.encode())
    fs.cp_file(f"{root}/{names[2]}", f"{root}/copy {names[2]}")  # (cp would take "?" as a glob)
    assert fs.cat(f"{root}/copy {names[2]}") == names[2].encode()

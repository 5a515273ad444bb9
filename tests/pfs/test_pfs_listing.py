"""Listing on ``pfs://``: repos, branches, directories, walk, server-side glob, history and diffs."""

from __future__ import annotations

import pytest


def test_top_level_lists_repos_and_a_repo_lists_its_branches(fs, repo, root):
    fs.mkdir(f"{repo}@dev")
    assert repo in fs.ls("", detail=False)
    assert fs.ls(repo, detail=False) == [f"{repo}@dev", f"{repo}@master"]
    info = fs.info(repo)
    assert info["type"] == "directory" and info["branches"] == ["dev", "master"]


def test_ls_info_and_implicit_directories(fs, root):
    fs.pipe({f"{root}/a.txt": b"aa", f"{root}/d/b.txt": b"bbb", f"{root}/d/e/c.txt": b"c"})
    assert [(e["name"], e["type"], e["size"]) for e in fs.ls(root)] == [
        (f"{root}/a.txt", "file", 2),
        (f"{root}/d", "directory", 0),
    ]
    info = fs.info(f"{root}/d/b.txt")
    assert info["commit"] == fs.resolve(root) and info["hash"] and info["committed"] is not None
    assert fs.isdir(f"{root}/d/e") and fs.isfile(f"{root}/a.txt")
    assert fs.ls(f"{root}/a.txt", detail=False) == [f"{root}/a.txt"]
    assert fs.ls(root.replace("@master", "@master") + "/d/e", detail=False) == [f"{root}/d/e/c.txt"]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{root}/nope")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{root}/nope.txt")


def test_an_empty_branch_lists_nothing(fs, root):
    assert fs.ls(root) == []
    assert fs.find(root) == []


def test_find_is_one_walk(pfs, fs, root):
    files = {f"{root}/x{i}/y{j}/f.txt": b"." for i in range(3) for j in range(3)}
    fs.pipe(files)
    pfs.reset_counts()
    assert fs.find(root) == sorted(files)
    assert pfs.rpc_counts["WalkFile"] == 1
    assert fs.find(root, maxdepth=1, withdirs=True) == sorted(f"{root}/x{i}" for i in range(3))
    assert f"{root}/x1/y2" in fs.find(root, withdirs=True)


def test_glob_runs_on_the_server(pfs, fs, root):
    fs.pipe({f"{root}/data/{n}": b"1" for n in ("a.csv", "b.csv", "c.txt", "sub/d.csv")})
    pfs.reset_counts()
    assert fs.glob(f"{root}/data/*.csv") == [f"{root}/data/a.csv", f"{root}/data/b.csv"]
    assert pfs.rpc_counts["GlobFile"] == 1
    assert fs.glob(f"{root}/data/**/*.csv")[-1] == f"{root}/data/sub/d.csv"


def test_history_and_diff_of_a_path(fs, root):
    fs.pipe(f"{root}/f.txt", b"1")
    fs.pipe(f"{root}/other.txt", b"x")  # does not touch f.txt
    fs.pipe(f"{root}/f.txt", b"22")
    history = fs.find_commits(f"{root}/f.txt")
    assert [h["size"] for h in history] == [2, 1]
    assert history[0]["commit"] == fs.resolve(root)
    changes = fs.diff(root, "master^1")
    assert changes == [{"path": f"{root}/f.txt", "change": "modified", "size": 2}]


def test_mkdir_makes_repos_and_branches(fs, repo, root):
    fs.pipe(f"{root}/f.txt", b"f")
    fs.mkdir(f"{repo}@feature", head="master")
    assert fs.cat_file(f"{repo}@feature/f.txt") == b"f"
    fs.mkdir(f"{root}/no/op")  # directories exist through files
    assert not fs.exists(f"{root}/no")
    fs.rmdir(f"{repo}@feature")
    assert fs.ls(repo, detail=False) == [root]


def test_bad_paths_are_named(fs):
    with pytest.raises(ValueError, match="ref"):
        fs.ls("repo/sub/dir/file")
    with pytest.raises(FileNotFoundError, match="no-such-repo"):
        fs.ls("no-such-repo@master")

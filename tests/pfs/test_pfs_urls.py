"""``pfs://`` path parsing."""

from __future__ import annotations

import pytest

from fsspec_research.pfs import PFSFileSystem
from fsspec_research.pfs.urls import parse

COMMIT = "0123456789ab4def0123456789abcdef"


@pytest.mark.parametrize(
    ("path", "level", "project", "repo", "ref", "inner"),
    [
        ("", "root", "default", "", "", "/"),
        ("images", "repo", "default", "images", "", "/"),
        ("lab/images", "repo", "lab", "images", "", "/"),
        ("images@master", "file", "default", "images", "master", "/"),
        ("images@master/a/b.png", "file", "default", "images", "master", "/a/b.png"),
        ("lab/images@master^2/x", "file", "lab", "images", "master^2", "/x"),
        (f"images@{COMMIT}/x", "file", "default", "images", COMMIT, "/x"),
    ],
)
def test_parse(path, level, project, repo, ref, inner):
    where = parse(path)
    assert (where.level, where.project, where.repo, where.ref, where.path) == (
        level,
        project,
        repo,
        ref,
        inner,
    )
    assert str(where) == path


def test_commit_ids_are_uuid4_shaped_and_other_hex_is_a_branch():
    assert parse(f"r@{COMMIT}").is_commit_id
    assert not parse("r@0123456789abcdef0123456789abcdef").is_commit_id
    assert not parse("r@master").is_commit_id


@pytest.mark.parametrize("bad", ["@master", "bad name@master", "images@", "a/b/c@x"])
def test_malformed_paths_are_named(bad):
    with pytest.raises(ValueError, match="pfs://"):
        parse(bad)


def test_strip_protocol_round_trips():
    assert PFSFileSystem._strip_protocol("pfs://images@master/a//b/") == "images@master/a/b"
    assert PFSFileSystem._strip_protocol(["pfs://x@y"]) == ["x@y"]

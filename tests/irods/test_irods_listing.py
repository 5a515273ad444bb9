"""Listing and stat on ``irods://`` with the filesystem's own narrow GenQueries."""

from __future__ import annotations

import pytest

GEN_QUERY = 702


def test_ls_info_and_types(fs, root):
    fs.pipe({f"{root}/a.txt": b"aa", f"{root}/sub/b.txt": b"bbb"})
    entries = fs.ls(root)
    assert [(e["name"], e["type"], e["size"]) for e in entries] == [
        (f"{root}/a.txt", "file", 2),
        (f"{root}/sub", "directory", 0),
    ]
    info = fs.info(f"{root}/sub/b.txt")
    assert info["size"] == 3 and info["mtime"] is not None and info["replicas"][0]["status"] == "good"
    assert fs.isdir(f"{root}/sub") and fs.isfile(f"{root}/a.txt") and not fs.exists(f"{root}/nope")
    assert fs.ls(f"{root}/a.txt", detail=False) == [f"{root}/a.txt"]
    with pytest.raises(FileNotFoundError, match="nope"):
        fs.ls(f"{root}/nope")


def test_ls_is_two_queries_and_cached_until_a_write(irods, fs, root):
    fs.pipe({f"{root}/{i}.txt": b"x" for i in range(5)})
    fs.invalidate_cache()
    irods.reset_counts()
    assert len(fs.ls(root)) == 5
    assert irods.api_counts[GEN_QUERY] == 2
    fs.ls(root)
    fs.info(f"{root}/3.txt", metadata=False)
    assert irods.api_counts[GEN_QUERY] == 2  # served from the listing cache
    fs.pipe(f"{root}/5.txt", b"y")
    assert len(fs.ls(root)) == 6


def test_find_walks_a_tree_in_three_queries(irods, fs, root):
    files = {f"{root}/d{i}/e{j}/f{k}.txt": b"x" for i in range(3) for j in range(3) for k in range(2)}
    fs.pipe(files)
    fs.invalidate_cache()
    irods.reset_counts()
    found = fs.find(root, withdirs=True)
    assert irods.api_counts[GEN_QUERY] == 3
    dirs = {f"{root}/d{i}" for i in range(3)} | {f"{root}/d{i}/e{j}" for i in range(3) for j in range(3)}
    assert found == sorted(set(files) | dirs)
    detailed = fs.find(root, detail=True)
    assert list(detailed) == sorted(files) and {e["size"] for e in detailed.values()} == {1}
    assert irods.api_counts[GEN_QUERY] == 3 + 2  # without dirs: the two object queries
    assert fs.find(root, maxdepth=1, withdirs=True) == sorted(f"{root}/d{i}" for i in range(3))
    assert fs.find(f"{root}/d0/e0/f0.txt") == [f"{root}/d0/e0/f0.txt"]


def test_find_does_not_match_like_wildcards_in_names(fs, root):
    fs.pipe({f"{root}/a_b/x.txt": b"1", f"{root}/aXb/y.txt": b"2"})
    assert fs.find(f"{root}/a_b") == [f"{root}/a_b/x.txt"]


def test_listing_pages_past_500_rows(fs, root):
    fs.pipe({f"{root}/many/{i:04d}": b"" for i in range(620)})
    fs.invalidate_cache()
    assert len(fs.ls(f"{root}/many")) == 620
    assert len(fs.find(f"{root}/many")) == 620
    assert fs.du(f"{root}/many") == 0


def test_paged_listings_are_complete_after_parallel_transfers(fs, root):
    """python-irodsclient sends a query's next page to any idle pooled connection, whose agent does not
    know the query: after a parallel write leaves several idle connections, listings must still page."""
    fs.pipe(f"{root}/big.bin", b"x" * (fs.upload_part_size * 4 + 1))  # parts on several connections
    assert len(fs.client.session.pool.idle) > 1
    fs.pipe({f"{root}/many/{i:04d}": b"" for i in range(530)})
    fs.invalidate_cache()
    assert len(fs.ls(f"{root}/many")) == 530
    assert len(fs.find(root)) == 531


@pytest.mark.parametrize(
    "name", ["quote'in name.txt", "ünïcödé ✓.csv", 'dq"and&amp;.txt', "sp ace", "tab\there", "<tag>"]
)
def test_odd_names_round_trip(fs, root, name):
    fs.pipe(f"{root}/{name}", name.encode())
    assert fs.ls(root, detail=False) == [f"{root}/{name}"]
    assert fs.cat_file(f"{root}/{name}") == name.encode()
    assert fs.info(f"{root}/{name}")["size"] == len(name.encode())


def test_the_zone_root_lists_the_zone(irods, fs):
    assert f"/{irods.zone}" in fs.ls("/", detail=False)
    assert fs.isdir(f"/{irods.zone}/home")


def test_urls_with_and_without_host(irods, fs):
    assert fs._strip_protocol(f"irods:///{irods.zone}/home/alice/x") == f"/{irods.zone}/home/alice/x"
    url = f"irods://alice@{irods.host}:{irods.port}/{irods.zone}/home/alice/"
    assert fs._strip_protocol(url) == f"/{irods.zone}/home/alice"
    assert fs._get_kwargs_from_urls(url) == {"host": irods.host, "port": irods.port, "user": "alice"}
    assert fs.unstrip_protocol(f"/{irods.zone}/a") == f"irods:///{irods.zone}/a"

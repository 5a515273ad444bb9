"""Swift paths and storage URLs: parsing, prefixes, quoting, and fsspec's URL round trip."""

from __future__ import annotations

import fsspec
import pytest

from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.urls import Endpoint, SwiftPath, parse_storage_url, split_path


@pytest.mark.parametrize(
    ("path", "level", "parts"),
    [
        ("h:8080", "host", ("h:8080", "", "", "")),
        ("h/AUTH_a", "account", ("h", "AUTH_a", "", "")),
        ("h/AUTH_a/c/", "container", ("h", "AUTH_a", "c", "")),
        ("h/AUTH_a/c/d/e.nc", "object", ("h", "AUTH_a", "c", "d/e.nc")),
    ],
)
def test_split_path(path: str, level: str, parts: tuple) -> None:
    where = split_path(path)
    assert (where.host, where.account, where.container, where.obj) == parts
    assert where.level == level
    assert where.name == path.rstrip("/")


def test_split_path_needs_a_host() -> None:
    with pytest.raises(ValueError, match="starts with the host"):
        split_path("/")


@pytest.mark.parametrize(
    ("url", "scheme", "prefix", "stripped"),
    [
        (
            "https://a3s.fi/swift/v1/AUTH_abc/bucket/x/y.csv",
            "https",
            "/swift/v1",
            "a3s.fi/AUTH_abc/bucket/x/y.csv",
        ),
        ("http://127.0.0.1:8080/v1/AUTH_test/c/o%20b", "http", "/v1", "127.0.0.1:8080/AUTH_test/c/o b"),
        ("https://object.cscs.ch/AUTH_p/c", "https", "", "object.cscs.ch/AUTH_p/c"),
        ("https://h/object/v1.0/AUTH_p/", "https", "/object/v1.0", "h/AUTH_p"),
    ],
)
def test_parse_storage_url(url: str, scheme: str, prefix: str, stripped: str) -> None:
    endpoint, path = parse_storage_url(url)
    assert endpoint == Endpoint(scheme, prefix)
    assert path == stripped
    assert endpoint.url(split_path(path)) == url.rstrip("/")


def test_parse_storage_url_with_explicit_prefix() -> None:
    endpoint, path = parse_storage_url("https://h/store/acct/c/o", prefix="/store")
    assert (endpoint.prefix, path) == ("/store", "h/acct/c/o")
    with pytest.raises(ValueError, match="does not start with the storage prefix"):
        parse_storage_url("https://h/other/acct/c", prefix="/store")


@pytest.mark.parametrize("url", ["ftp://h/v1/AUTH_a", "https:///v1/AUTH_a", "https://h/data/c/o"])
def test_parse_storage_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"storage"):
        parse_storage_url(url)


def test_url_quotes_names_but_not_separators() -> None:
    where = SwiftPath("h", "AUTH_a", "c", "dir/a b#?%.nc")
    assert Endpoint("https", "/v1").url(where) == "https://h/v1/AUTH_a/c/dir/a%20b%23%3F%25.nc"


def test_fsspec_url_round_trip() -> None:
    fs, path = fsspec.core.url_to_fs("swift://h:1/AUTH_a/c/d/x.nc", anon=True)
    assert isinstance(fs, SwiftFileSystem)
    assert path == "h:1/AUTH_a/c/d/x.nc"
    assert fs.unstrip_protocol(path) == "swift://h:1/AUTH_a/c/d/x.nc"
    assert SwiftFileSystem._get_kwargs_from_urls("swift://h/AUTH_a/c") == {}


def test_https_storage_url_gives_its_prefix_to_the_filesystem() -> None:
    url = "https://a3s.fi/swift/v1/AUTH_abc/bucket/data.csv"
    assert SwiftFileSystem._get_kwargs_from_urls(url) == {"scheme": "https", "url_prefix": "/swift/v1"}
    assert SwiftFileSystem._strip_protocol(url) == "a3s.fi/AUTH_abc/bucket/data.csv"

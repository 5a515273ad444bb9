"""The ``s3_server`` test server: moto on 127.0.0.1, counters, checksum rejection, stopped on exit."""

from __future__ import annotations

import socket

import fsspec
import pytest
import s3fs

from fsspec_research.testing import S3ServerHandle, ServerHandle, s3_server


def test_handle_shape_and_both_clients() -> None:
    with s3_server() as srv:
        assert isinstance(srv, (S3ServerHandle, ServerHandle)) and srv.protocol == "s3r"
        assert srv.endpoint_url.startswith("http://127.0.0.1:") and srv.root == f"s3r://{srv.bucket}"
        ours = fsspec.filesystem(srv.protocol, skip_instance_cache=True, **srv.storage_options)
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        ours.pipe(f"{srv.root}/x.txt", b"from s3r")
        assert plain.cat(f"{srv.bucket}/x.txt") == b"from s3r"
        assert srv.stats.requests >= 2 and srv.stats.by_method["PUT"] == 1
        srv.reset_stats()
        assert srv.stats.requests == 0 and srv.stats.by_method == {}
        port = srv.port
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))  # stopped: nothing listens any more


def test_reject_checksums_answers_like_an_old_store() -> None:
    with s3_server(reject_checksums=True) as srv:
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        with pytest.raises(OSError, match="Unsupported header 'x-amz-checksum-crc32'"):
            plain.pipe(f"{srv.bucket}/x", b"1")
        assert srv.stats.rejected == 1
        plain.ls(srv.bucket)  # requests without checksums pass
        assert srv.stats.rejected == 1


def test_backend_lookup_happens_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dispatcher lists its package folders to find a host's backend; the server does it once."""
    from moto import backends

    listings = []
    original = backends.list_of_moto_modules

    def counted() -> object:
        listings.append(1)
        return original()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    with s3_server() as srv:
        plain = s3fs.S3FileSystem(skip_instance_cache=True, **srv.s3fs_options)
        plain.pipe(f"{srv.bucket}/k", b"0123456789")
        first = len(listings)
        assert [plain.cat_file(f"{srv.bucket}/k", start=i, end=i + 2) for i in range(5)] == [
            b"01", b"12", b"23", b"34", b"45",
        ]  # fmt: skip
        assert first >= 1 and len(listings) == first

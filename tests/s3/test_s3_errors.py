"""Bad input and faults on ``s3r://``: wrong keys, unknown buckets, missing credentials, an unreachable
endpoint, and a store that rejects botocore's integrity checksums. Builtin exceptions naming the path,
the client's error chained, no secrets in messages."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import s3fs
from botocore.exceptions import ClientError

from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import S3ServerHandle, s3_server

SECRET = "not-the-right-secret-1234"


def test_wrong_keys_are_permission_errors_naming_the_path(swift_fs, swift, login) -> None:
    """Swift's s3api checks signatures (moto does not): a wrong secret is refused."""
    fs, bucket = swift_fs
    fs.pipe(f"{bucket}/x.bin", b"data")
    bad = login(swift.s3, secret=SECRET)
    for call, where in (
        (lambda: bad.cat_file(f"{bucket}/x.bin"), f"{bucket}/x.bin"),
        (lambda: bad.cat_file(f"{bucket}/x.bin", 0, 2), f"{bucket}/x.bin"),
        (lambda: bad.ls(bucket), bucket),
        (lambda: bad.pipe(f"{bucket}/y.bin", b"nope"), f"{bucket}/y.bin"),
        (lambda: bad.open(f"{bucket}/x.bin").read(), f"{bucket}/x.bin"),
    ):
        with pytest.raises(PermissionError) as info:
            call()
        message = str(info.value)
        assert where in message and SECRET not in message
        assert isinstance(info.value.__cause__, ClientError)
    assert not fs.exists(f"{bucket}/y.bin")
    assert SECRET not in repr(bad)


@pytest.mark.parametrize("server", ["moto", "swift-s3api"])
def test_unknown_bucket_is_file_not_found_naming_the_path(server, request, login) -> None:
    options = (
        request.getfixturevalue("s3").storage_options
        if server == "moto"
        else request.getfixturevalue("swift").s3
    )
    fs = login(options)
    for call in (
        lambda: fs.cat_file("no-such-bucket-fsr/a/b.nc"),
        lambda: fs.cat_file("no-such-bucket-fsr/a/b.nc", 0, 10),
        lambda: fs.open("no-such-bucket-fsr/a/b.nc"),
        lambda: fs.info("no-such-bucket-fsr/a/b.nc"),
    ):
        with pytest.raises(FileNotFoundError, match=r"no-such-bucket-fsr/a/b\.nc"):
            call()
    assert fs.cat_ranges(["no-such-bucket-fsr/k"], [0], [1])[0].__class__ is FileNotFoundError
    assert not fs.exists("no-such-bucket-fsr/a/b.nc")


def test_missing_object_is_file_not_found(fs: ResearchS3FileSystem, root: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"{root}/missing.csv"):
        fs.cat_file(f"{root}/missing.csv", 0, 10)
    with pytest.raises(FileNotFoundError, match=f"{root}/missing.csv"):
        fs.open(f"{root}/missing.csv")


def test_no_credentials_anywhere_is_a_permission_error(s3: S3ServerHandle, tmp_path, monkeypatch) -> None:
    for var in list(__import__("os").environ):
        if var.startswith(("AWS_", "OS_", "EC2_", "S3CMD")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    fs = ResearchS3FileSystem(endpoint_url=s3.endpoint_url, skip_instance_cache=True)
    assert fs.settings.source == "botocore default chain"
    with pytest.raises(PermissionError, match="no S3 credentials found") as info:
        fs.cat_file(f"{s3.bucket}/anything", 0, 1)
    assert f"{s3.bucket}/anything" in str(info.value)


def test_an_unreachable_endpoint_is_a_connection_error(login) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    fs = login(
        {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s"},
        retries=0,
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2},
    )
    with pytest.raises(ConnectionError, match="bucket/key"):
        fs.cat_file("bucket/key", 0, 10)


def test_bad_options_are_value_errors(s3: S3ServerHandle, login) -> None:
    with pytest.raises(ValueError, match="unknown S3 preset"):
        login(s3.storage_options, preset="nowhere")
    with pytest.raises(ValueError, match="concurrency must be an int >= 1"):
        login(s3.storage_options, concurrency=0)
    with pytest.raises(ValueError, match="read_streams must be an int >= 1"):
        login(s3.storage_options, read_streams=0)
    with pytest.raises(ValueError, match="both key and secret"):
        ResearchS3FileSystem(key="only-a-key", endpoint_url=s3.endpoint_url, skip_instance_cache=True)


# a store that predates botocore's default integrity checksums


@pytest.fixture(scope="module")
def strict() -> Iterator[S3ServerHandle]:
    with s3_server(reject_checksums=True) as srv:
        yield srv


def test_plain_s3fs_fails_on_a_store_that_rejects_checksums(strict: S3ServerHandle) -> None:
    plain = s3fs.S3FileSystem(skip_instance_cache=True, **strict.s3fs_options)
    with pytest.raises(OSError, match="x-amz-checksum"):
        plain.pipe(f"{strict.bucket}/plain.bin", b"data")
    assert strict.stats.rejected >= 1


def test_s3r_works_on_it_by_default(strict: S3ServerHandle, login) -> None:
    fs = login(strict.storage_options)
    strict.reset_stats()
    base = f"{strict.bucket}/s3r"
    fs.pipe({f"{base}/a.bin": b"a" * 1000, f"{base}/b.bin": b"b"})
    with fs.open(f"{base}/big.bin", "wb", block_size=5 * 2**20) as f:  # s3fs's multipart upload
        f.write(b"c" * (11 * 2**20))
    assert fs.cat_file(f"{base}/a.bin", 10, 20) == b"a" * 10
    assert fs.cat(f"{base}/big.bin") == b"c" * (11 * 2**20)
    fs.rm(base, recursive=True)  # DeleteObjects: Content-MD5 instead of botocore's CRC32
    assert not fs.exists(f"{base}/a.bin")
    assert strict.stats.rejected == 0 and strict.stats.by_method["POST"] >= 3


def test_forcing_checksums_on_it_gives_a_clear_error(strict: S3ServerHandle, login) -> None:
    fs = login(strict.storage_options, config_kwargs={"request_checksum_calculation": "when_supported"})
    with pytest.raises(OSError, match="rejected botocore's integrity checksum") as info:
        fs.pipe(f"{strict.bucket}/forced.bin", b"data")
    message = str(info.value)
    assert f"{strict.bucket}/forced.bin" in message and "when_required" in message
    assert not isinstance(info.value, (PermissionError, FileNotFoundError))
    assert info.value.__cause__.response["Error"]["Code"] == "InvalidArgument"

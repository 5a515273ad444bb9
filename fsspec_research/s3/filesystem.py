"""``s3r://`` - "research S3": s3fs with the range core, research-cloud defaults and credential discovery.

The protocol is ``s3r`` and never ``s3``, so that installing this package leaves ``s3://`` to s3fs
(fsspec registers entry points over its built-in table). URLs are ``s3r://bucket/key``.

Reads go through the core: ``open(..., "rb")`` returns a
:class:`~fsspec_research.core.file.ResearchFile` whose block-cache misses become one batch of parallel
ranged ``GetObject`` calls pinned with ``IfMatch`` to the ETag seen at open, ``cat_ranges`` merges
ranges across ``max_gap`` and runs them in parallel, and whole reads and downloads are split into
parallel parts. Everything else (listings, multipart writes, copies, deletes) is s3fs's own, except that
a write that fails (an exception inside ``with``, a writer never closed) publishes nothing.
Endpoint, region and credentials come from :mod:`.config`.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import os
import warnings
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError
from fsspec.asyn import sync_wrapper
from s3fs import S3FileSystem
from s3fs.core import S3File, _error_wrapper, version_id_kw

from ..core.errors import ObjectChangedError, redact
from ..core.file import ResearchFile
from ..core.filesystem import RangeFileSystemMixin
from .config import CHECKSUM_OPTIONS, S3Settings, resolve_settings

__all__ = ["ResearchS3FileSystem"]

MiB = 2**20
_CHECKSUM_HINTS = ("checksum", "aws-chunked", "x-amz-trailer", "xamzcontentsha256mismatch", "streaming-")
_ERRNO = {FileNotFoundError: errno.ENOENT, PermissionError: errno.EACCES, FileExistsError: errno.EEXIST}


class ResearchS3FileSystem(RangeFileSystemMixin, S3FileSystem):
    """S3 and S3-compatible research clouds (CSC Allas, Ceph RGW, MinIO, Swift's s3api) over s3fs.

    Options beyond s3fs's: ``preset`` (``"allas"``: https://a3s.fi), ``profile`` (an AWS profile),
    ``s3cfg`` (an s3cmd configuration file), ``region_name``, and the core's tuning options
    (``concurrency``, ``max_gap``, ``max_block``, ``part_size``, ``min_part_size``, ``read_streams``,
    ``block_size`` and ``cache_type`` of reads, ``retries``). ``endpoint_url``, ``key``/``secret``/
    ``token``, ``anon``, ``client_kwargs``, ``config_kwargs`` and the rest are s3fs's. Writes use s3fs's
    multipart uploads with its ``default_block_size`` (50 MiB) parts unless ``open`` is given a
    ``block_size``.
    """

    protocol = ("s3r",)
    pins_versions = True
    #: a read is split into at most this many parallel parts (of at least ``min_part_size``): each S3
    #: request costs a round trip, server work and money, so a batch of missed cache blocks goes out as
    #: a few large parts, while ``cat_ranges`` still keeps ``concurrency`` small requests in flight
    read_streams = 16
    min_part_size = 1 * MiB
    write_block_size = S3FileSystem.default_block_size  #: part size of s3fs's multipart writes

    def __init__(
        self,
        *args: Any,
        preset: str | None = None,
        profile: str | None = None,
        s3cfg: str | os.PathLike | None = None,
        region_name: str | None = None,
        **options: Any,
    ) -> None:
        options = dict(options)
        retries = options.get("retries")
        self._configure_core(options)
        self.settings: S3Settings = resolve_settings(
            endpoint_url=options.pop("endpoint_url", None),
            key=_either(options, "key", "username"),
            secret=_either(options, "secret", "password"),
            token=options.pop("token", None),
            region_name=region_name or (options.get("client_kwargs") or {}).get("region_name"),
            anon=bool(options.get("anon", False)),
            preset=preset,
            profile=profile,
            s3cfg=s3cfg,
            config_kwargs=options.pop("config_kwargs", None),
        )
        options.update(self.settings.s3fs_kwargs(options.pop("client_kwargs", None)))
        # botocore's pool holds 10 connections by default: room for the core's parallel reads
        options["config_kwargs"].setdefault("max_pool_connections", self.concurrency + 16)
        options.setdefault("default_cache_type", self.default_cache_type)
        super().__init__(*args, **options)
        if retries is not None:
            self.retries = self.retry.retries + 1  # s3fs counts attempts, the core counts retries

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"ResearchS3FileSystem(endpoint_url={s.endpoint_url!r}, region={s.region_name!r}, "
            f"credentials={s.source!r})"
        )

    async def set_session(self, refresh: bool = False, kwargs: dict | None = None) -> Any:
        client = await super().set_session(refresh, kwargs or {})
        wants_md5 = not self.settings.aws and self.config_kwargs.get(CHECKSUM_OPTIONS[0]) == "when_required"
        if wants_md5 and not getattr(client, "_fsr_md5", False):
            client.meta.events.register("before-sign.s3", _md5_for_required_checksums)
            client._fsr_md5 = True
        return client

    _connect = set_session
    connect = sync_wrapper(set_session)

    # errors: s3fs's translation, plus the path, and a hint when a store rejects checksums
    async def _call_s3(self, method: str, *akwarglist: Any, **kwargs: Any) -> Any:
        if method == "create_bucket" and _constraint(kwargs) == "us-east-1":
            del kwargs["CreateBucketConfiguration"]  # the default location, which S3 refuses as a constraint
        try:
            return await super()._call_s3(method, *akwarglist, **kwargs)
        except Exception as exc:
            key = kwargs.get("Key") or (kwargs.get("Prefix") or "").rstrip("/")
            where = "/".join(p for p in (kwargs.get("Bucket"), key) if p) or "s3r://"
            if kwargs.get("IfNoneMatch") == "*" and _code(exc) in ("PreconditionFailed", "412"):
                # an exclusive write over an existing object (not every store names the condition)
                raise FileExistsError(errno.EEXIST, "exists already", where) from _cause(exc)
            named = _named(exc, where, self.settings)
            if named is exc:
                raise
            raise named from _cause(exc)

    call_s3 = sync_wrapper(_call_s3)

    # core hooks
    def _version_of(self, info: dict[str, Any]) -> str | None:
        return info.get("ETag")

    async def _pin_version(self, path: str) -> str | None:
        return (await self._info(path)).get("ETag")

    async def _read_range(self, path: str, start: int, end: int, version: str | None) -> bytes:
        if end <= start:
            return b""
        bucket, key, vers = self.split_path(path)
        kw: dict[str, Any] = {"Range": f"bytes={start}-{end - 1}", **version_id_kw(vers)}
        if version:
            kw["IfMatch"] = version

        async def get() -> bytes:
            resp = await self._call_s3("get_object", Bucket=bucket, Key=key, **kw)
            try:
                return await resp["Body"].read()
            finally:
                resp["Body"].close()

        try:
            return await _error_wrapper(get, retries=self.retries)
        except OSError as exc:
            if version and _code(exc) in ("PreconditionFailed", "412"):
                raise ObjectChangedError(path, f"its ETag is no longer {version}") from _cause(exc)
            raise

    # reads
    async def _cat_file(self, path: str, start=None, end=None, version_id: str | None = None, **kwargs):
        if version_id or self.split_path(path)[2]:
            return await super()._cat_file(path, version_id=version_id, start=start, end=end, **kwargs)
        if start is not None and end is not None and start >= 0 and 0 <= end - start <= self.min_part_size:
            # a small explicit range (a zarr chunk): one GET, no HEAD first
            try:
                return await self._read_range(self._strip_protocol(path), start, end, None)
            except OSError as exc:
                if _code(exc) in ("InvalidRange", "416"):  # starts at or after the end
                    return b""
                raise
        return await self._read_parallel(path, start, end)

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, version_id=None, **kwargs: Any):
        if os.path.isdir(lpath):
            return
        if version_id or self.split_path(rpath)[2]:
            await super()._get_file(rpath, lpath, version_id=version_id, **kwargs)
            return
        if (await self._info(rpath))["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return
        args = (rpath, lpath) if callback is None else (rpath, lpath, callback)
        await asyncio.to_thread(self.download_parallel, *args)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict | None = None,
        **kwargs: Any,
    ):
        """Reads: the core's :class:`ResearchFile`; writes (and version-aware reads): s3fs's ``S3File``."""
        if mode == "rb" and not kwargs.get("version_id") and not self.split_path(path)[2]:
            for name in ("fill_cache", "requester_pays", "acl"):
                kwargs.pop(name, None)
            return ResearchFile(
                self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs
            )
        if mode == "xb" and self.exists(path):  # fail early; s3fs's upload is exclusive too (IfNoneMatch)
            raise FileExistsError(errno.EEXIST, "exists already", path)
        if mode != "rb":
            block_size = block_size or self.write_block_size
        file = S3FileSystem._open(
            self,
            path,
            mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_options=cache_options,
            **kwargs,
        )
        if file.writable():
            file.__class__ = DiscardingS3File  # s3fs builds its S3File itself; only the class changes
        return file


class DiscardingS3File(S3File):
    """s3fs's writer, except that a failed write publishes nothing.

    s3fs (like every ``AbstractBufferedFile``) closes, and so publishes, a file left by an exception
    inside ``with`` or never closed at all. Here both discard it: the buffered bytes are dropped and
    the multipart upload is aborted, so readers never see a half-written object.
    """

    _discarded = False

    def __exit__(self, exc_type: type | None, *args: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def discard(self) -> None:
        if self._discarded:
            return
        self._discarded = True
        try:
            super().discard()
        finally:
            self.forced = True
            self.closed = True

    def commit(self) -> None:
        if not self._discarded:  # a transaction commits every file it opened, discarded ones too
            super().commit()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            warnings.warn(
                f"{self.path}: write file never closed; discarding it", ResourceWarning, stacklevel=1
            )
            self.discard()


def _md5_for_required_checksums(request: Any, **kwargs: Any) -> None:
    """Send Content-MD5 where botocore adds a CRC checksum to an operation that requires one (DeleteObjects).

    botocore >= 1.36 checksums required-checksum operations with CRC32 even under ``when_required``;
    S3 implementations that predate that (older Ceph RGW, MinIO, ...) refuse it, and every S3 accepts
    Content-MD5. Runs before signing, so the signature covers the replacement.
    """
    headers = request.headers
    names = [k for k in headers if k.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum-"))]
    body = request.body
    if not names or not isinstance(body, (bytes, bytearray)):
        return
    for name in names:
        del headers[name]
    headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def _constraint(kwargs: dict[str, Any]) -> str | None:
    return (kwargs.get("CreateBucketConfiguration") or {}).get("LocationConstraint")


def _either(options: dict[str, Any], name: str, alias: str) -> Any:
    first, second = options.pop(name, None), options.pop(alias, None)
    return first if first is not None else second


def _cause(exc: BaseException) -> BaseException:
    """The client's own error behind an s3fs translation (or ``exc`` itself)."""
    cause = exc.__cause__
    return cause if isinstance(cause, (ClientError, BotoCoreError)) else exc


def _code(exc: BaseException) -> str:
    """The S3 error code behind ``exc`` (``""`` if none)."""
    cause = _cause(exc)
    response = getattr(cause, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _named(exc: BaseException, where: str, settings: S3Settings) -> BaseException:
    """``exc`` as a builtin exception of the same kind whose message names ``where``."""
    cause = _cause(exc)
    detail = redact(str(exc) or type(exc).__name__)
    if isinstance(cause, ClientError):
        code = _code(exc)
        detail = redact(cause.response.get("Error", {}).get("Message") or str(exc))
        detail = f"{detail} ({code})" if code and code not in detail else detail
        lowered = f"{code} {detail}".lower()
        rejected = any(hint in lowered for hint in _CHECKSUM_HINTS)
        if (
            rejected
            and isinstance(exc, OSError)
            and not isinstance(exc, (FileNotFoundError, PermissionError))
        ):
            return OSError(
                errno.EINVAL,
                f"the endpoint {settings.endpoint_url} rejected botocore's integrity checksum: {detail}; "
                "its S3 implementation predates them: set config_kwargs request_checksum_calculation="
                "'when_required' and response_checksum_validation='when_required' (the default for "
                "non-AWS endpoints)",
                where,
            )
    if isinstance(exc, NoCredentialsError):
        return PermissionError(
            errno.EACCES,
            "no S3 credentials found (storage_options key/secret, AWS_* variables, an AWS profile, "
            "~/.s3cfg or OS_ACCESS_KEY/EC2_ACCESS_KEY); pass anon=True for public buckets",
            where,
        )
    if isinstance(exc, ParamValidationError):
        return ValueError(f"{where}: {detail}")
    if isinstance(exc, OSError):
        if where in str(exc) and exc.errno is not None:
            return exc
        kind = type(exc)
        code = exc.errno if isinstance(exc.errno, int) else _ERRNO.get(kind, errno.EIO)
        try:
            return kind(code, detail, where)
        except TypeError:  # an OSError subclass with its own signature
            return OSError(code, detail, where)
    if isinstance(exc, BotoCoreError):  # endpoint unreachable, read timeouts and the like
        return ConnectionError(errno.ECONNREFUSED, detail, where)
    return exc

"""``swift://`` - OpenStack Swift as an fsspec filesystem (CSC Allas, CSCS, any Swift or Ceph RGW Swift API).

Paths are ``swift://host/account/container/object``; https storage URLs work too. Reads go through the
range core (inclusive HTTP ranges, ``If-Match`` on the ETag seen at open, merged parallel ``cat_ranges``,
many small ranges of one object batched into multi-range GETs);
writes above ``segment_size`` become Static Large Objects (see :mod:`.upload`); metadata, read ACLs and
temporary URLs are in :mod:`.access`.
"""

from __future__ import annotations

import asyncio
import errno
import os
from datetime import datetime, timezone
from typing import Any

from fsspec.asyn import AsyncFileSystem, _run_coros_in_chunks, sync_wrapper
from fsspec.utils import stringify_path, tokenize

from ..core.errors import Fault, Kind, ObjectChangedError, translate
from ..core.filesystem import RangeFileSystemMixin
from .access import SwiftAccess
from .auth import resolve_auth
from .client import BytePart, Reply, SwiftClient, parse_byteranges, parse_content_range
from .upload import SwiftUploads, _copy_headers
from .urls import SEEN_ENDPOINTS, Endpoint, SwiftPath, parse_storage_url, split_path

__all__ = ["SwiftFileSystem"]

MiB = 2**20
DIRECTORY_TYPES = ("application/directory", "application/x-directory")
_CONNECTION_OPTIONS = ("verify", "scheme", "url_prefix", "timeout", "listing_limit", "segment_size")
_AUTH_OPTIONS = (
    "anon", "auth_url", "user", "key", "token", "storage_url", "username", "user_id", "password",
    "project_name", "project_id", "user_domain_name", "user_domain_id", "project_domain_name",
    "project_domain_id", "application_credential_id", "application_credential_name",
    "application_credential_secret", "region_name", "interface",
)  # fmt: skip
_FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache")


class SwiftFileSystem(SwiftUploads, SwiftAccess, RangeFileSystemMixin, AsyncFileSystem):
    """OpenStack Swift over aiohttp.

    Credentials (first found wins): storage_options ``auth_url`` with ``username``/``password`` and
    ``project_name`` (Keystone v3), ``application_credential_id``/``_secret``, or ``user``/``key`` (v1
    auth); ``token`` + ``storage_url``; else the ``OS_*`` variables of an OpenStack RC file, then
    ``ST_AUTH``/``ST_USER``/``ST_KEY``, then ``OS_STORAGE_URL``/``OS_AUTH_TOKEN``; else anonymous
    (``anon=True`` forces it). Hosts other than the storage URL's are reached anonymously as
    ``{scheme}://host{url_prefix}/account/...`` (defaults ``https``, ``/v1``).

    Other options: ``verify`` (bool or CA bundle path), ``timeout`` (seconds without progress),
    ``segment_size`` (objects larger than this become Static Large Objects; default 32 MiB; also the
    part size of streamed writes), ``listing_limit`` (names per listing page, default 10000), and the
    core's tuning options (``concurrency``, ``max_gap``, ``block_size``, ``retries``, ...).
    """

    protocol = ("swift",)
    root_marker = ""
    pins_versions = True
    upload_part_size = 32 * MiB
    min_part_size = 4 * MiB  # a Swift proxy spends ms of CPU per request: fewer, larger parts read faster
    #: swob's MAX_RANGES; drops to 1 on an instance whose server does not serve multi-range GETs
    max_ranges_per_request = 50
    listing_limit = 10_000

    def __init__(
        self, asynchronous: bool = False, loop: Any = None, batch_size: int | None = None, **options
    ):
        options = dict(options)
        self._configure_core(options)
        unknown = set(options) - set(_CONNECTION_OPTIONS + _AUTH_OPTIONS + _FSSPEC_OPTIONS)
        if unknown:
            raise ValueError(f"unknown Swift storage options: {sorted(unknown)}")
        if options.get("segment_size") is not None:
            self.upload_part_size = _positive(options, "segment_size")
        if options.get("listing_limit") is not None:
            self.listing_limit = _positive(options, "listing_limit")
        fsspec_options = {k: options[k] for k in _FSSPEC_OPTIONS if k in options}
        super().__init__(asynchronous=asynchronous, loop=loop, batch_size=batch_size, **fsspec_options)
        self.client = SwiftClient(
            resolve_auth(options, os.environ),
            Endpoint(options.get("scheme", "https"), options.get("url_prefix", "/v1")),
            verify=options.get("verify", True),
            connections=self.concurrency + self.upload_concurrency,
            retry=self.retry,
            timeout=float(options.get("timeout", 60.0)),
        )

    def __repr__(self) -> str:
        return f"SwiftFileSystem(auth={self.client.auth!r})"

    # paths
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith(("http://", "https://")):
            endpoint, path = parse_storage_url(path)
            SEEN_ENDPOINTS[path.split("/")[0]] = endpoint
            return path
        if path.startswith("swift://"):
            path = path[len("swift://") :]
        return path.rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        if path.startswith(("http://", "https://")):
            endpoint, _ = parse_storage_url(path)
            return {"scheme": endpoint.scheme, "url_prefix": endpoint.prefix}
        return {}

    def unstrip_protocol(self, name: str) -> str:
        return "swift://" + self._strip_protocol(name)

    async def _home(self) -> str:
        """``host/account`` of the storage URL this filesystem is authenticated for."""
        home = await self.client.home()
        if home is None:
            raise PermissionError(errno.EACCES, "anonymous access has no home account", "swift://")
        return home

    def _parent_dirs(self, path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        for p in [path, *self._parent_dirs(path)]:
            self.dircache.pop(p, None)

    # requests
    async def _request(
        self, method: str, path: str | SwiftPath, kinds: dict[int, Kind] | None = None, **kw: Any
    ) -> Reply:
        """``client.request`` with failures translated to builtin exceptions naming ``path``; ``kinds``
        overrides what a status means for this request (412 of a conditional PUT: the object exists)."""
        where = path if isinstance(path, SwiftPath) else split_path(path)
        try:
            return await self.client.request(method, where, **kw)
        except (PermissionError, FileNotFoundError, ValueError):
            raise
        except Exception as exc:
            status = getattr(exc, "status", None)
            raise translate(
                exc, where.name, lambda e: Fault(kinds[status]) if status in (kinds or {}) else None
            ) from exc

    async def _listing(self, where: SwiftPath, prefix: str = "", delimiter: str | None = None) -> list[dict]:
        """Every entry of a container (or account) listing, page by page with ``marker``."""
        entries: list[dict] = []
        params = {"format": "json", "limit": str(self.listing_limit)}
        if prefix:
            params["prefix"] = prefix
        if delimiter:
            params["delimiter"] = delimiter
        while True:
            page = (await self._request("GET", where, params=params)).json()
            entries.extend(page)
            if len(page) < self.listing_limit:
                return entries
            params["marker"] = page[-1].get("name") or page[-1]["subdir"]

    # metadata
    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        where = split_path(path)
        if where.level == "host":
            return {"name": path, "size": 0, "type": "directory"}
        if where.level in ("account", "container"):
            return _directory_info(path, await self._request("HEAD", where), where.level)
        parent = path.rsplit("/", 1)[0]
        for entry in self.dircache.get(parent, ()):
            if entry["name"] == path:
                return entry
        try:
            reply = await self._request("HEAD", where)
        except FileNotFoundError:
            page = await self._request(
                "GET", SwiftPath(where.host, where.account, where.container),
                params={"format": "json", "prefix": where.obj + "/", "limit": "1"},
            )  # fmt: skip
            if page.json():
                return {"name": path, "size": 0, "type": "directory"}
            raise
        return _object_info(path, reply)

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        entries = None if kwargs.get("refresh") else self.dircache.get(path)
        if entries is None:
            entries = await self._list_dir(path)
            self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    async def _list_dir(self, path: str) -> list[dict]:
        where = split_path(path)
        if where.level == "host":
            home = await self._home()
            if home.split("/")[0] != where.host:
                raise PermissionError(errno.EACCES, "cannot list the accounts of a host", path)
            return [{"name": home, "size": 0, "type": "directory"}]
        if where.level == "account":
            return [_container_entry(f"{path}/{c['name']}", c) for c in await self._listing(where)]
        container = SwiftPath(where.host, where.account, where.container)
        prefix = where.obj + "/" if where.obj else ""
        entries: dict[str, dict] = {}
        for item in await self._listing(container, prefix, "/"):
            name = item.get("subdir", item.get("name", "")).rstrip("/")
            if not name or name + "/" == prefix:
                continue  # a directory marker of the listed directory itself
            full = f"{where.host}/{where.account}/{where.container}/{name}"
            entry = _object_entry(full, item)
            if entry["type"] == "file" or full not in entries:
                entries[full] = entry
        if not entries and where.obj:
            info = await self._info(path)
            return [info] if info["type"] == "file" else []
        return sorted(entries.values(), key=lambda e: e["name"])

    async def _find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any):
        """One listing of the whole prefix (no per-directory calls) when inside a container."""
        path = self._strip_protocol(path)
        where = split_path(path)
        if maxdepth is not None or where.level in ("host", "account"):
            return await super()._find(path, maxdepth=maxdepth, withdirs=withdirs, **kwargs)
        container = SwiftPath(where.host, where.account, where.container)
        base = f"{where.host}/{where.account}/{where.container}"
        found: dict[str, dict] = {}
        for item in await self._listing(container, where.obj + "/" if where.obj else ""):
            entry = _object_entry(f"{base}/{item['name'].rstrip('/')}", item)
            if withdirs:
                for parent in self._parent_dirs(entry["name"]):
                    if len(parent) <= len(path):
                        break
                    found.setdefault(parent, {"name": parent, "size": 0, "type": "directory"})
            if entry["type"] == "file" or withdirs:
                found[entry["name"]] = entry
        if not found and where.obj:
            try:
                info = await self._info(path)
            except FileNotFoundError:
                info = None
            if info is not None and info["type"] == "file":
                found[path] = info
        if withdirs and found and path not in found and where.level == "container":
            found[path] = {"name": path, "size": 0, "type": "directory"}
        names = sorted(found)
        return {n: found[n] for n in names} if kwargs.get("detail") else names

    def _version_of(self, info: dict[str, Any]) -> str | None:
        return info.get("ETag")

    async def _pin_version(self, path: str) -> str | None:
        return (await self._info(path)).get("ETag")

    def ukey(self, path: str) -> str:
        info = self.info(path)
        return tokenize(info["name"], info.get("ETag"), info.get("last_modified"))

    def modified(self, path: str) -> datetime:
        value = self.info(path).get("last_modified")
        if value is None:
            raise IsADirectoryError(errno.EISDIR, "a directory has no modification time", path)
        return _parse_time(value)

    # reads
    async def _read_range(self, path: str, start: int, end: int, version: str | None) -> bytes:
        if end <= start:
            return b""
        reply = await self._get_ranges(path, [(start, end)], version)
        return reply.body if reply.status == 206 else reply.body[start:end]

    async def _read_ranges(self, path: str, spans: list[tuple[int, int]], version: str | None) -> list[bytes]:
        """Several spans of one object in one GET, answered ``206 multipart/byteranges``.

        A server may instead answer with the whole object, fewer parts, or 416 for a range set it refuses
        (swob: more than 50 ranges, more than 8 descending); the spans are then served from what came and
        single-range GETs, and this instance sends single ranges from then on.
        """
        wanted = sorted({(s, e) for s, e in spans if e > s})  # swob refuses many descending ranges
        asked = self.max_ranges_per_request > 1 and len(wanted) > 1
        parts = await self._multi_range(path, wanted, version) if asked else []
        out = [_from_parts(parts, s, e) for s, e in spans]
        missing = [i for i, data in enumerate(out) if data is None]
        found = await asyncio.gather(*(self._read_range(path, *spans[i], version) for i in missing))
        if asked and any(found):
            self.max_ranges_per_request = 1  # the server left out spans it can serve
        filled = dict(zip(missing, found))
        return [filled[i] if data is None else data for i, data in enumerate(out)]

    async def _multi_range(
        self, path: str, spans: list[tuple[int, int]], version: str | None
    ) -> list[BytePart]:
        """The parts a GET of several ``spans`` answered; none when it was refused (416) or unreadable."""
        try:
            reply = await self._get_ranges(path, spans, version)
        except ValueError:  # 416: no span satisfiable, or too many for the server (single reads will tell)
            return []
        if reply.status == 200 and reply.body:
            self.max_ranges_per_request = 1  # the Range header was ignored
        try:
            return _byte_parts(reply)
        except ValueError:  # a malformed answer: single reads will serve the spans
            return []

    async def _get_ranges(self, path: str, spans: list[tuple[int, int]], version: str | None) -> Reply:
        """GET of ``spans`` (non-empty), conditional on ``version`` (the ETag) when given."""
        headers = {"Range": "bytes=" + ",".join(f"{s}-{e - 1}" for s, e in spans)}  # inclusive ends
        if version:
            headers["If-Match"] = version
        try:
            reply = await self._request("GET", path, headers=headers)
        except ObjectChangedError:
            if not version:
                raise
            # Swift answers 412 also for copies of large objects, whose copied metadata names the source's
            # ETag: read without the condition and compare the ETag the answer carries
            del headers["If-Match"]
            try:
                reply = await self._request("GET", path, headers=headers)
            except ValueError as exc:  # 416: shorter now, so not the object pinned
                raise ObjectChangedError(path, "its size changed") from exc
        if version and reply.headers.get("Etag", "").strip('"') != version:
            raise ObjectChangedError(path, f"ETag {version} became {reply.headers.get('Etag')}")
        return reply

    async def _cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any):
        if start is not None and end is not None and start >= 0 and 0 <= end - start <= self.min_part_size:
            # a small explicit range (a zarr chunk): one GET, whose answer is one version; no HEAD first
            try:
                return await self._read_range(self._strip_protocol(path), start, end, None)
            except ValueError as exc:  # 416: the range starts at or after the end
                if getattr(exc.__cause__, "status", None) == 416:
                    return b""
                raise
        return await self._read_parallel(path, start, end)

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        if os.path.isdir(lpath) or (await self._info(rpath))["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return
        args = (rpath, lpath) if callback is None else (rpath, lpath, callback)
        await asyncio.to_thread(self.download_parallel, *args)

    # directories, deletes, copies
    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create a container; deeper directories exist through their objects, so there is nothing to make."""
        path = self._strip_protocol(path)
        where = split_path(path)
        if where.level in ("host", "account"):
            raise PermissionError(errno.EACCES, "accounts are created by the operator, not by mkdir", path)
        container = SwiftPath(where.host, where.account, where.container)
        if where.level == "container" or create_parents:
            reply = await self._request("PUT", container)
            if reply.status == 202 and where.level == "container":
                raise FileExistsError(errno.EEXIST, "container exists", path)
        else:
            await self._request("HEAD", container)
        self.invalidate_cache(path)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        try:
            await self._mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok:
                raise

    async def _rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        where = split_path(path)
        if where.level != "container":
            if (await self._info(path))["type"] != "directory":
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
            if await self._ls(path, refresh=True):
                raise OSError(errno.ENOTEMPTY, "directory not empty", path)
            return  # a pseudo-directory without objects does not exist to begin with
        try:
            await self._request("DELETE", where)
        except FileExistsError as exc:  # 409 Conflict
            raise OSError(errno.ENOTEMPTY, "container not empty", path) from exc.__cause__
        self.invalidate_cache(path)

    rmdir = sync_wrapper(_rmdir)  # type: ignore[assignment]  # (fsspec mirrors only its own list)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        where = split_path(path)
        if where.level != "object":
            raise IsADirectoryError(errno.EISDIR, "use rmdir or rm(recursive=True)", path)
        await self._delete_object(where)
        self.invalidate_cache(path)

    async def _rm(self, path, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        paths = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        objects = [p for p in paths if split_path(p).level == "object"]
        containers = [p for p in paths if split_path(p).level == "container"]
        if any(split_path(p).level in ("host", "account") for p in paths):
            raise PermissionError(errno.EACCES, "accounts cannot be removed", str(path))

        async def rm_one(p: str) -> None:
            try:
                await self._rm_file(p)
            except FileNotFoundError:
                if not recursive:  # recursive: a pseudo-directory has no object to delete
                    raise

        await _run_coros_in_chunks([rm_one(p) for p in objects], batch_size=self.concurrency, nofiles=True)
        for c in containers:
            await self._rmdir(c)
        for p in paths:
            self.invalidate_cache(p)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side copy (``X-Copy-From``); across hosts the bytes pass through this client."""
        src, dst = split_path(self._strip_protocol(path1)), split_path(self._strip_protocol(path2))
        if src.level != "object" or dst.level != "object":
            raise IsADirectoryError(errno.EISDIR, "copy objects, not containers", path1)
        if src.host != dst.host:
            await self._pipe_file(dst.name, await self._cat_file(src.name))
            return
        try:
            manifest = await self._manifest_of(src, missing_ok=False)
        except FileNotFoundError:
            if (await self._info(src.name))["type"] == "directory":
                return  # pseudo-directories exist through their objects, which are copied one by one
            raise
        if manifest:
            await self._copy_large_object(src, dst, manifest)
            return
        async with self._replacing(dst):
            await self._request("PUT", dst, headers=_copy_headers(src, dst), data=b"")
        self.invalidate_cache(dst.name)


def _byte_parts(reply: Reply) -> list[BytePart]:
    """What a range GET answered: its parts (206), or the whole object (200)."""
    if reply.status != 206:
        return [BytePart(0, len(reply.body), len(reply.body), reply.body)]
    content_type = reply.headers.get("Content-Type", "")
    if content_type.lower().startswith("multipart/byteranges"):
        return parse_byteranges(content_type, reply.body)
    start, end, size = parse_content_range(reply.headers.get("Content-Range"))
    if len(reply.body) != end - start:
        raise ValueError(f"{len(reply.body)} bytes for Content-Range {reply.headers.get('Content-Range')}")
    return [BytePart(start, end, size, reply.body)]


def _from_parts(parts: list[BytePart], start: int, end: int) -> bytes | None:
    """Bytes ``[start, end)`` (cut short at the object's end) from the part holding them, if any."""
    if end <= start:
        return b""
    for p in parts:
        stop = end if p.size is None else min(end, p.size)
        if p.start <= start and stop <= p.end and start < stop:
            return p.data[start - p.start : stop - p.start]
    return None


def _positive(options: dict, name: str) -> int:
    value = options[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _parse_time(value: str) -> datetime:
    if value.endswith("GMT"):
        return datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _metadata(headers: Any, kind: str) -> dict[str, str]:
    prefix = f"x-{kind}-meta-"
    return {k[len(prefix) :].lower(): v for k, v in headers.items() if k.lower().startswith(prefix)}


def _object_info(path: str, reply: Reply) -> dict[str, Any]:
    h = reply.headers
    kind = "directory" if h.get("Content-Type", "").split(";")[0] in DIRECTORY_TYPES else "file"
    return {
        "name": path,
        "size": int(h.get("Content-Length", 0)) if kind == "file" else 0,
        "type": kind,
        "ETag": h.get("Etag", "").strip('"') or None,
        "last_modified": h.get("Last-Modified"),
        "content_type": h.get("Content-Type"),
        "static_large_object": h.get("X-Static-Large-Object", "").lower() == "true",
        "metadata": _metadata(h, "object"),
    }


def _object_entry(path: str, item: dict[str, Any]) -> dict[str, Any]:
    if "subdir" in item or item.get("content_type", "").split(";")[0] in DIRECTORY_TYPES:
        return {"name": path, "size": 0, "type": "directory"}
    return {
        "name": path,
        "size": item["bytes"],
        "type": "file",
        "ETag": item.get("slo_etag", item.get("hash", "")).strip('"') or None,
        "last_modified": item.get("last_modified"),
        "content_type": item.get("content_type"),
    }


def _container_entry(path: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": path,
        "size": item.get("bytes", 0),
        "type": "directory",
        "count": item.get("count", 0),
        "last_modified": item.get("last_modified"),
    }


def _directory_info(path: str, reply: Reply, level: str) -> dict[str, Any]:
    h = reply.headers
    prefix = f"X-{level.capitalize()}"
    info = {
        "name": path,
        "size": int(h.get(f"{prefix}-Bytes-Used", 0)),
        "type": "directory",
        "count": int(h.get(f"{prefix}-Object-Count", 0)),
        "metadata": _metadata(h, level),
    }
    if level == "container":
        info["read_acl"] = h.get("X-Container-Read", "")
        info["write_acl"] = h.get("X-Container-Write", "")
        info["quota_bytes"] = h.get("X-Container-Meta-Quota-Bytes")
    else:
        info["containers"] = int(h.get("X-Account-Container-Count", 0))
    return info

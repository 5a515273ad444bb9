"""Swift's own API beyond files: metadata, container read/write ACLs, and temporary URLs."""

from __future__ import annotations

import errno
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from fsspec.asyn import sync_wrapper

from .urls import SwiftPath, split_path

__all__ = ["PUBLIC", "SwiftAccess"]

#: read ACL items that make a container public: anonymous reads and listings
PUBLIC = (".r:*", ".rlistings")


class SwiftAccess:
    """Metadata, ACL and temp-URL methods of :class:`~fsspec_research.swift.SwiftFileSystem`."""

    _request: Callable[..., Awaitable[Any]]
    _info: Callable[..., Awaitable[dict[str, Any]]]
    invalidate_cache: Callable[[str], None]
    client: Any

    async def _set_metadata(self, path: str, metadata: Mapping[str, str | None]) -> None:
        """Set metadata items (``X-<Level>-Meta-*``) of an object, container or account; ``None`` removes one.

        Object metadata is replaced as a whole by Swift, so the items already there are kept by sending
        them again.
        """
        path = self._strip_protocol(path)  # type: ignore[attr-defined]
        where = split_path(path)
        level = where.level
        if level == "host":
            raise ValueError(f"{path}: metadata belongs to an account, container or object")
        kind = level.capitalize()
        if level == "object":
            self.invalidate_cache(path)
            current = (await self._info(path)).get("metadata", {})
            merged = {k: v for k, v in {**current, **metadata}.items() if v is not None}
            headers = {f"X-Object-Meta-{k}": str(v) for k, v in merged.items()}
        else:
            headers = {
                (f"X-{kind}-Meta-{k}" if v is not None else f"X-Remove-{kind}-Meta-{k}"): str(v or "x")
                for k, v in metadata.items()
            }
        await self._request("POST", where, headers=_ascii_headers(path, headers))
        self.invalidate_cache(path)

    async def _get_metadata(self, path: str) -> dict[str, str]:
        """The metadata items of an object, container or account (names lower-cased)."""
        self.invalidate_cache(path)
        return dict((await self._info(path)).get("metadata", {}))

    async def _grant(self, path: str, *who: str, write: bool = False) -> None:
        """Add ACL items to a container's read ACL (or write ACL with ``write=True``).

        ``who`` items are Swift ACL items (``"project:user"``, ``"project:*"``, ``".r:*"``, ``".rlistings"``,
        ``".r:.example.org"``) or ``"public"`` for anonymous read and listing.
        """
        await self._change_acl(path, who, write, add=True)

    async def _revoke(self, path: str, *who: str, write: bool = False) -> None:
        """Remove ACL items from a container's read (or write) ACL; ``"public"`` makes it private again."""
        await self._change_acl(path, who, write, add=False)

    async def _change_acl(self, path: str, who: tuple[str, ...], write: bool, add: bool) -> None:
        path = self._strip_protocol(path)  # type: ignore[attr-defined]
        where = split_path(path)
        if where.level != "container":
            raise ValueError(f"{path}: ACLs are set on containers, as swift://host/account/container")
        items = [i for w in who for i in (PUBLIC if w == "public" else (w.strip(),))]
        if not items or any(not i or "," in i for i in items):
            raise ValueError(f"{path}: ACL items must be non-empty and without commas, got {who!r}")
        header = "X-Container-Write" if write else "X-Container-Read"
        reply = await self._request("HEAD", where)
        current = [i.strip() for i in reply.headers.get(header, "").split(",") if i.strip()]
        changed = (
            current + [i for i in items if i not in current]
            if add
            else [i for i in current if i not in items]
        )
        if changed:
            await self._request("POST", where, headers={header: ",".join(changed)})
        else:
            await self._request("POST", where, headers={header.replace("X-", "X-Remove-", 1): "x"})
        self.invalidate_cache(path)

    async def _acl(self, path: str) -> dict[str, list[str]]:
        """The read and write ACL items of a container."""
        self.invalidate_cache(path)
        info = await self._info(path)
        if "read_acl" not in info:
            raise ValueError(f"{path}: ACLs are set on containers")
        return {k: [i for i in info[f"{k}_acl"].split(",") if i] for k in ("read", "write")}

    async def _set_temp_url_key(self, path: str, key: str) -> None:
        """Set the account's temp-URL key (``X-Account-Meta-Temp-URL-Key``) of the account of ``path``."""
        where = split_path(self._strip_protocol(path))  # type: ignore[attr-defined]
        await self._request(
            "POST", SwiftPath(where.host, where.account), headers={"X-Account-Meta-Temp-URL-Key": key}
        )

    async def _sign(
        self, path: str, expiration: float = 3600, method: str = "GET", key: str | None = None
    ) -> str:
        """A temporary URL granting ``method`` on the object ``path`` for ``expiration`` seconds, tokenless.

        Signed (HMAC-SHA256) with ``key``, else the account's temp-URL key, which only the account's
        owner can read; set one with :meth:`set_temp_url_key`.
        """
        path = self._strip_protocol(path)  # type: ignore[attr-defined]
        where = split_path(path)
        if where.level != "object":
            raise ValueError(f"{path}: temporary URLs are for objects")
        if key is None:
            reply = await self._request("HEAD", SwiftPath(where.host, where.account))
            key = reply.headers.get("X-Account-Meta-Temp-Url-Key") or reply.headers.get(
                "X-Account-Meta-Temp-Url-Key-2"
            )
            if not key:
                raise PermissionError(errno.EACCES, "the account has no temp-URL key; set one first", path)
        url = await self.client.url(where)
        expires = int(time.time() + expiration)
        body = f"{method.upper()}\n{expires}\n{unquote(urlsplit(url).path)}"
        signature = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
        return f"{url}?temp_url_sig={signature}&temp_url_expires={expires}"

    set_metadata = sync_wrapper(_set_metadata)
    get_metadata = sync_wrapper(_get_metadata)
    grant = sync_wrapper(_grant)
    revoke = sync_wrapper(_revoke)
    acl = sync_wrapper(_acl)
    set_temp_url_key = sync_wrapper(_set_temp_url_key)
    sign = sync_wrapper(_sign)


def _ascii_headers(path: str, headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not (name + value).isascii():
            raise ValueError(f"{path}: metadata names and values must be ASCII (HTTP headers), got {name!r}")
    return headers

"""Swift paths and URLs.

A path names ``host/account[/container[/object]]``, written ``swift://host/account/container/object``
(swiftspec's form) or as the storage URL itself, ``https://host/swift/v1/AUTH_abc/container/object``,
whatever its prefix (``/v1``, ``/swift/v1``, ...). The HTTP URL of a path is built from an
:class:`Endpoint` (scheme and prefix), never from a hard-coded ``https`` or ``/v1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

__all__ = ["SEEN_ENDPOINTS", "Endpoint", "SwiftPath", "parse_storage_url", "split_path"]

#: path segments that end a storage-URL prefix (``/v1``, ``/swift/v1``, ``/object/v1``)
_VERSION_SEGMENTS = ("v1", "v1.0")


@dataclass(frozen=True)
class SwiftPath:
    """A stripped path split into its parts; ``container`` and ``obj`` are empty above their level."""

    host: str
    account: str = ""
    container: str = ""
    obj: str = ""

    @property
    def level(self) -> str:
        """``"host"``, ``"account"``, ``"container"`` or ``"object"``."""
        if self.obj:
            return "object"
        if self.container:
            return "container"
        return "account" if self.account else "host"

    @property
    def name(self) -> str:
        return "/".join(p for p in (self.host, self.account, self.container, self.obj) if p)

    def url_path(self, prefix: str) -> str:
        """The quoted HTTP path below ``host``, e.g. ``/v1/AUTH_x/c/o%20b``."""
        parts = [self.account, self.container, self.obj]
        return prefix + "/" + "/".join(quote(p, safe="/~") for p in parts if p)


@dataclass(frozen=True)
class Endpoint:
    """How the HTTP URLs of one Swift cluster are formed: ``scheme://host{prefix}/account/...``."""

    scheme: str = "https"
    prefix: str = "/v1"

    def url(self, path: SwiftPath) -> str:
        return f"{self.scheme}://{path.host}{path.url_path(self.prefix)}"


#: how hosts named in http(s) storage URLs were reached, so their stripped paths reach them the same way
SEEN_ENDPOINTS: dict[str, Endpoint] = {}


def split_path(path: str) -> SwiftPath:
    """Split a stripped path ``host/account/container/object``; raise ``ValueError`` if it has no host."""
    host, _, rest = path.strip("/").partition("/")
    if not host:
        raise ValueError(f"{path!r}: a Swift path starts with the host, as in swift://host/account/container")
    account, _, rest = rest.partition("/")
    container, _, obj = rest.partition("/")
    return SwiftPath(host, account, container, obj)


def parse_storage_url(url: str, prefix: str | None = None) -> tuple[Endpoint, str]:
    """Split ``https://host/<prefix>/account/rest`` into its endpoint and the path ``host/account/rest``.

    The prefix is ``prefix`` when given, else everything up to a ``v1`` segment, else everything before
    the first ``AUTH_`` segment.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) storage URL")
    segments = parts.path.split("/")[1:]
    if prefix is not None:
        wanted = [s for s in prefix.split("/") if s]
        if segments[: len(wanted)] != wanted:
            raise ValueError(f"{url!r} does not start with the storage prefix {prefix!r}")
        cut = len(wanted)
    else:
        cut = _prefix_length(url, segments)
    rest = "/".join(unquote(s) for s in segments[cut:])
    stripped = f"{parts.netloc}/{rest}".rstrip("/")
    return Endpoint(parts.scheme, "/" + "/".join(segments[:cut]) if cut else ""), stripped


def _prefix_length(url: str, segments: list[str]) -> int:
    for i, segment in enumerate(segments):
        if segment in _VERSION_SEGMENTS:
            return i + 1
    for i, segment in enumerate(segments):
        if segment.startswith("AUTH_"):
            return i
    raise ValueError(f"{url!r}: cannot tell the storage prefix (no v1 or AUTH_ segment); pass url_prefix=")

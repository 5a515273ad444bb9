"""One mapping from backend errors to builtin exceptions, and one retry policy for transient faults.

A backend supplies a *classifier*: a function taking a client exception and returning a
:class:`Fault` (its :class:`Kind` and, for throttling, the server's ``Retry-After``) or ``None``
when it does not know the exception. :func:`translate` turns it into the builtin exception users
expect, with the path in the message and the client error chained as ``__cause__``;
:class:`RetryPolicy` retries exactly the faults classified as transient.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

__all__ = [
    "Fault",
    "Kind",
    "ObjectChangedError",
    "RetryPolicy",
    "TransientError",
    "classify",
    "kind_for_status",
    "redact",
    "translate",
]

T = TypeVar("T")


class ObjectChangedError(OSError):
    """The object was replaced while it was being read (its version no longer matches)."""

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(errno.ESTALE, f"{path} changed while being read{': ' + detail if detail else ''}")
        self.path = path


class TransientError(OSError):
    """A fault worth retrying (5xx, 429, reset, timeout), raised by backends that see a status."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(errno.EAGAIN, message)
        self.retry_after = retry_after


class Kind(enum.Enum):
    """What went wrong, independent of the backend; :attr:`exception` is the builtin raised for it."""

    NOT_FOUND = "not found"
    PERMISSION = "permission denied"
    EXISTS = "exists"
    INVALID = "invalid"
    IS_DIR = "is a directory"
    NOT_DIR = "not a directory"
    CHANGED = "changed"
    NO_SPACE = "no space or quota exceeded"
    TRANSIENT = "transient"
    OTHER = "other"

    @property
    def exception(self) -> type[Exception]:
        return _EXCEPTION[self]


_EXCEPTION: dict[Kind, type[Exception]] = {
    Kind.NOT_FOUND: FileNotFoundError,
    Kind.PERMISSION: PermissionError,
    Kind.EXISTS: FileExistsError,
    Kind.INVALID: ValueError,
    Kind.IS_DIR: IsADirectoryError,
    Kind.NOT_DIR: NotADirectoryError,
    Kind.CHANGED: ObjectChangedError,
    Kind.NO_SPACE: OSError,
    Kind.TRANSIENT: ConnectionError,
    Kind.OTHER: OSError,
}
_ERRNO = {
    Kind.NOT_FOUND: errno.ENOENT,
    Kind.PERMISSION: errno.EACCES,
    Kind.EXISTS: errno.EEXIST,
    Kind.IS_DIR: errno.EISDIR,
    Kind.NOT_DIR: errno.ENOTDIR,
    Kind.NO_SPACE: errno.ENOSPC,
    Kind.TRANSIENT: errno.EAGAIN,
    Kind.OTHER: errno.EIO,
}


@dataclass(frozen=True)
class Fault:
    kind: Kind
    retry_after: float | None = None


Classifier = Callable[[BaseException], "Fault | None"]


def kind_for_status(status: int) -> Kind:
    """The kind of an HTTP status code (>= 400)."""
    if status in (401, 403):
        return Kind.PERMISSION
    if status in (404, 410):
        return Kind.NOT_FOUND
    if status == 409:
        return Kind.EXISTS
    if status == 412:
        return Kind.CHANGED
    if status == 413 or status == 507:
        return Kind.NO_SPACE
    if status in (408, 425, 429) or status >= 500:
        return Kind.TRANSIENT
    if status in (400, 405, 411, 414, 416):
        return Kind.INVALID
    return Kind.OTHER


def classify(exc: BaseException) -> Fault | None:
    """Classify builtin and common transport exceptions (the fallback of every backend)."""
    if isinstance(exc, TransientError):
        return Fault(Kind.TRANSIENT, exc.retry_after)
    if isinstance(exc, ObjectChangedError):
        return Fault(Kind.CHANGED)
    for kind in (Kind.NOT_FOUND, Kind.PERMISSION, Kind.EXISTS, Kind.IS_DIR, Kind.NOT_DIR):
        if isinstance(exc, kind.exception):
            return Fault(kind)
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError, socket.timeout, EOFError)):
        return Fault(Kind.TRANSIENT)
    status = getattr(exc, "status", None)  # aiohttp.ClientResponseError and friends
    if isinstance(status, int) and status >= 400:
        headers = getattr(exc, "headers", None) or {}
        return Fault(kind_for_status(status), _retry_after(headers.get("Retry-After")))
    if type(exc).__module__.startswith("aiohttp") and "Error" in type(exc).__name__:
        return Fault(Kind.TRANSIENT)  # payload, disconnect and connection errors of aiohttp
    return None


def _retry_after(value: Any) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


_AUTHORIZATION = re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\n,;}]+")
_SECRET = re.compile(
    r"(?i)((?:x-auth-token|x-auth-key|x-storage-token|password|passwd|secret|token|"
    r"temp_url_sig|signature|key)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
)


def redact(text: str) -> str:
    """``text`` with the values of anything that looks like a credential replaced by ``***``."""
    return _SECRET.sub(r"\1***", _AUTHORIZATION.sub(r"\1***", text))


def translate(exc: BaseException, path: str, classifier: Classifier | None = None) -> BaseException:
    """The builtin exception for ``exc`` raised while working on ``path``; raise it ``from exc``.

    Builtin exceptions that already name the path are returned unchanged.
    """
    fault = (classifier and classifier(exc)) or classify(exc) or Fault(Kind.OTHER)
    if isinstance(exc, fault.kind.exception) and path in str(exc):
        return exc
    detail = redact(str(exc) or type(exc).__name__)
    if fault.kind is Kind.CHANGED:
        new: BaseException = ObjectChangedError(path, detail)
    elif fault.kind is Kind.INVALID:
        new = ValueError(f"{path}: {detail}")
    else:
        new = fault.kind.exception(_ERRNO[fault.kind], detail, path)
    new.__cause__ = exc
    return new


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient faults with capped exponential backoff and full jitter.

    Configured through storage_options as ``retries=5`` or ``retries={"retries": 5, "backoff": 0.1,
    "max_backoff": 15, "max_retry_after": 60}``. A server's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds.
    """

    retries: int = 5
    backoff: float = 0.1
    max_backoff: float = 15.0
    max_retry_after: float = 60.0

    @classmethod
    def from_option(cls, option: RetryPolicy | int | dict | None) -> RetryPolicy:
        if option is None:
            return cls()
        if isinstance(option, RetryPolicy):
            return option
        if isinstance(option, bool) or not isinstance(option, (int, dict)):
            raise ValueError(f"retries must be an int or a dict, got {option!r}")
        if isinstance(option, int):
            option = {"retries": option}
        known = {f.name for f in fields(cls)}
        unknown = set(option) - known
        if unknown:
            raise ValueError(f"unknown retry options {sorted(unknown)}; known: {sorted(known)}")
        for name, value in option.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"retry option {name} must be a non-negative number, got {value!r}")
        return cls(**option)

    def delay(self, attempt: int, fault: Fault) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        wait = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
        if fault.retry_after is not None:
            wait = max(wait, min(fault.retry_after, self.max_retry_after))
        return wait

    def _should_retry(self, exc: Exception, attempt: int, classifier: Classifier | None) -> Fault | None:
        if attempt >= self.retries:
            return None
        fault = (classifier and classifier(exc)) or classify(exc)
        return fault if fault is not None and fault.kind is Kind.TRANSIENT else None

    def call(self, fn: Callable[..., T], *args: Any, classifier: Classifier | None = None, **kw: Any) -> T:
        """``fn(*args, **kw)``, retried on transient faults."""
        attempt = 0
        while True:
            try:
                return fn(*args, **kw)
            except Exception as exc:
                fault = self._should_retry(exc, attempt, classifier)
                if fault is None:
                    raise
                time.sleep(self.delay(attempt, fault))
                attempt += 1

    async def acall(
        self, fn: Callable[..., Awaitable[T]], *args: Any, classifier: Classifier | None = None, **kw: Any
    ) -> T:
        """``await fn(*args, **kw)``, retried on transient faults."""
        attempt = 0
        while True:
            try:
                return await fn(*args, **kw)
            except Exception as exc:
                fault = self._should_retry(exc, attempt, classifier)
                if fault is None:
                    raise
                await asyncio.sleep(self.delay(attempt, fault))
                attempt += 1

"""The API table: handlers register under their API number and return a :class:`Reply`."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import IrodsError, fail
from .protocol import Raw, parse, text

if TYPE_CHECKING:
    from .agent import Agent


@dataclass
class Reply:
    """What an API answers: an XML message, a status (or value) and an optional byte stream."""

    msg: bytes = b""
    status: int = 0
    bs: bytes | bytearray | memoryview = b""
    error: bytes = b""


Handler = Callable[["Agent", ET.Element | None, bytes | bytearray], Reply]
HANDLERS: dict[int, Handler] = {}
#: APIs a client may call before it has authenticated.
PUBLIC: set[int] = set()


def api(*numbers: int, public: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler ``(agent, message root or None, byte stream) -> Reply``."""

    def deco(fn: Handler) -> Handler:
        for n in numbers:
            HANDLERS[n] = fn
            if public:
                PUBLIC.add(n)
        return fn

    return deco


def reply(xml: Raw | None = None, status: int = 0, bs: bytes | bytearray | memoryview = b"") -> Reply:
    return Reply(xml.encode() if xml is not None else b"", status, bs)


def parse_message(data: bytes) -> ET.Element | None:
    return parse(data) if data else None


def json_in(root: ET.Element | None) -> dict[str, Any]:
    """The JSON document of a ``BinBytesBuf_PI`` (base64) or ``BytesBuf_PI`` (text) request."""
    if root is None:
        raise fail("SYS_API_INPUT_ERR", "missing JSON input")
    buf = text(root, "buf")
    raw = base64.b64decode(buf) if root.tag == "BinBytesBuf_PI" else buf.encode()
    try:
        return json.loads(raw.replace(b"\0", b"").decode() or "{}")
    except ValueError as e:
        raise fail("SYS_API_INPUT_ERR", f"bad JSON: {e}") from None


def json_body(agent: Agent, data: Any, binary: bool = True) -> bytes:
    """A JSON reply in the buffer type the announced version uses."""
    doc = json.dumps(data)
    if binary and agent.version >= (4, 2, 9):
        raw = (doc + "\0").encode()
        return agent.xml.struct("BinBytesBuf_PI", ("buflen", len(raw)), ("buf", raw)).encode()
    return agent.xml.struct("BytesBuf_PI", ("buflen", len(doc.encode())), ("buf", doc)).encode()


def json_reply(agent: Agent, data: Any, status: int = 0) -> Reply:
    return Reply(json_body(agent, data), status)


def json_error(agent: Agent, name: str, message: str, extra: dict[str, Any] | None = None) -> IrodsError:
    """An error whose reply also carries ``{"error_message": ...}`` as JSON APIs answer."""
    body = json_body(agent, {"error_message": message, **(extra or {})})
    err = IrodsError(name, message, body)
    return err


def str_reply(agent: Agent, value: str, status: int = 0) -> Reply:
    return Reply(agent.xml.struct("STR_PI", ("myStr", value)).encode(), status)

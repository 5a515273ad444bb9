"""iRODS wire framing and the lenient packStruct XML both directions speak.

A frame is ``int32 len(header)``, a ``MsgHeader_PI`` XML header, then ``msgLen`` bytes of XML message,
``errorLen`` bytes of ``RError_PI`` XML and ``bsLen`` raw bytes. Clients leave out fields they did not set and
send control characters raw, so parsing defaults missing fields and tolerates what XML 1.0 forbids.
"""

from __future__ import annotations

import base64
import re
import socket
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

#: Characters XML 1.0 rejects (or normalises, like CR), parked in a private-use range while parsing.
_CTRL = re.compile("[\x00-\x08\x0b-\x0d\x0e-\x1f]")
_PARKED = re.compile("[\uf700-\uf71f]")
_PARK = 0xF700


@dataclass
class Frame:
    """One message: its type, the three payload parts, and ``int_info`` (API number or status)."""

    type: str
    msg: bytes = b""
    error: bytes = b""
    bs: bytes | bytearray | memoryview = b""
    int_info: int = 0


def recv_exact(sock: socket.socket, n: int) -> bytearray:
    """Read exactly ``n`` bytes; ``ConnectionError`` if the peer closes first."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if not k:
            raise ConnectionError("peer closed the connection")
        got += k
    return buf


def read_frame(sock: socket.socket) -> Frame:
    """Read one frame from ``sock``."""
    (hlen,) = struct.unpack(">i", recv_exact(sock, 4))
    if not 0 < hlen < 1 << 20:
        raise ConnectionError(f"bad header length {hlen}")
    head = ET.fromstring(bytes(recv_exact(sock, hlen)))

    def num(tag: str) -> int:
        return int((head.findtext(tag) or "0").strip() or 0)

    mlen, elen, blen = num("msgLen"), num("errorLen"), num("bsLen")
    msg = bytes(recv_exact(sock, mlen)) if mlen else b""
    err = bytes(recv_exact(sock, elen)) if elen else b""
    bs = recv_exact(sock, blen) if blen else b""
    return Frame(head.findtext("type") or "", msg, err, bs, num("intInfo"))


def pack_header(type_: str, msg_len: int, err_len: int, bs_len: int, int_info: int) -> bytes:
    """A length-prefixed ``MsgHeader_PI``."""
    head = (
        f"<MsgHeader_PI><type>{type_}</type><msgLen>{msg_len}</msgLen><errorLen>{err_len}</errorLen>"
        f"<bsLen>{bs_len}</bsLen><intInfo>{int_info}</intInfo></MsgHeader_PI>"
    ).encode()
    return struct.pack(">i", len(head)) + head


def pack_frame(frame: Frame) -> tuple[bytes, bytes | bytearray | memoryview]:
    """Header plus message and error parts, and the byte stream to send after them."""
    head = pack_header(frame.type, len(frame.msg), len(frame.error), len(frame.bs), frame.int_info)
    return head + frame.msg + frame.error, frame.bs


# ---- parsing ------------------------------------------------------------------------------------------


def _unpark(text: str | None) -> str | None:
    if text is None or not _PARKED.search(text):
        return text
    return _PARKED.sub(lambda m: chr(ord(m.group()) - _PARK), text)


def parse(data: bytes) -> ET.Element:
    """Parse a packStruct XML message, keeping control characters and CRs exactly as sent."""
    text = data.replace(b"\0", b"").decode("utf-8", "replace")
    text = _CTRL.sub(lambda m: chr(_PARK + ord(m.group())), text)
    root = ET.fromstring(text)
    for el in root.iter():
        el.text = _unpark(el.text)
    return root


def text(el: ET.Element | None, tag: str, default: str = "") -> str:
    """The text of child ``tag`` (``default`` if absent); empty elements give ``""``."""
    if el is None:
        return default
    child = el.find(tag)
    if child is None:
        return default
    return child.text or ""


def integer(el: ET.Element | None, tag: str, default: int = 0) -> int:
    """Child ``tag`` as an integer (``default`` if absent or empty)."""
    value = text(el, tag, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        return int(float(value))


def kvp(el: ET.Element | None) -> dict[str, str]:
    """A ``KeyValPair_PI`` child as a dict."""
    pair = el.find("KeyValPair_PI") if el is not None else None
    if pair is None:
        return {}
    keys = [k.text or "" for k in pair.findall("keyWord")]
    values = [v.text or "" for v in pair.findall("svalue")]
    return dict(zip(keys, values + [""] * (len(keys) - len(values))))


def binary(el: ET.Element | None, tag: str) -> bytes:
    """A base64 ``bin`` field."""
    return base64.b64decode(text(el, tag) or "")


# ---- building -----------------------------------------------------------------------------------------


class Xml:
    """Escaping rules of the announced server: ``'`` is sent as ``&apos;`` from 4.2.9 on."""

    def __init__(self, apos: bool = True) -> None:
        self.apos = apos
        self._special = re.compile("[&<>\"']" if apos else '[&<>"]')

    def esc(self, value: Any) -> str:
        s = value if isinstance(value, str) else str(value)
        if not self._special.search(s):
            return s
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        return s.replace("'", "&apos;") if self.apos else s

    def values(self, tag: str, values: list[str]) -> str:
        """``<tag>v</tag>`` for each value (the fast path for GenQuery columns)."""
        if not values:
            return ""
        esc, open_, close = self.esc, f"<{tag}>", f"</{tag}>"
        return open_ + (close + open_).join(map(esc, values)) + close

    def el(self, tag: str, value: Any) -> str:
        """One element; lists repeat the tag, ``bytes`` are base64, ``Raw`` is inserted as is."""
        if isinstance(value, Raw):
            return value.xml
        if isinstance(value, list):
            return "".join(self.el(tag, v) for v in value)
        if isinstance(value, bytes | bytearray):
            value = base64.b64encode(bytes(value)).decode()
        elif value is None:
            value = ""
        return f"<{tag}>{self.esc(value)}</{tag}>"

    def struct(self, name: str, *fields: tuple[str, Any]) -> Raw:
        """``<name>`` with the fields in order."""
        return Raw(f"<{name}>" + "".join(self.el(t, v) for t, v in fields) + f"</{name}>")

    def kvp(self, data: dict[str, str]) -> Raw:
        return self.struct(
            "KeyValPair_PI", ("ssLen", len(data)), ("keyWord", list(data)), ("svalue", list(data.values()))
        )

    def error(self, code: int, message: str) -> bytes:
        """An ``RError_PI`` with one entry."""
        err = self.struct("RErrMsg_PI", ("status", code), ("msg", message))
        return self.struct("RError_PI", ("count", 1), ("x", err)).xml.encode()


class Raw:
    """Already built XML."""

    __slots__ = ("xml",)

    def __init__(self, xml: str) -> None:
        self.xml = xml

    def encode(self) -> bytes:
        return self.xml.encode()

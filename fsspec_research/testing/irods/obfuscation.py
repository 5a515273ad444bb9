"""iRODS password obfuscation: native-auth digests, admin password (un)scrambling, ``.irodsA`` encoding."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
import time

MAX_PASSWORD_LEN = 50
_WHEEL = string.digits + string.ascii_uppercase + string.ascii_lowercase + "!\"#$%&'()*+,-./"
_INDEX = {c: i for i, c in enumerate(_WHEEL)}
_PAD = "1gCBizHWbwIYyWLoysGzTe6SyzqFKMniZX05faZHWAwQKXf6Fs"
_DEFAULT_KEY = "a9_3fker"
_SEQ = 0xD768B678  # first entry of the .irodsA sequence table (the encoder always uses it)


def challenge() -> str:
    """A 64-character challenge (hex, so it never ends in whitespace)."""
    return secrets.token_hex(32)


def native_digest(challenge: bytes, password: str) -> bytes:
    """The 16-byte response a client sends: md5(challenge + password padded to 50 bytes), NUL -> 0x01."""
    padded = password.encode().strip().ljust(MAX_PASSWORD_LEN, b"\0")[:MAX_PASSWORD_LEN]
    return hashlib.md5(challenge + padded).digest().replace(b"\0", b"\1")


def b64_digest(challenge: bytes, password: str) -> str:
    """The 4.3 flow sends the digest base64-encoded."""
    return base64.b64encode(native_digest(challenge, password)).decode()


def _ring(key: str) -> bytes:
    first = hashlib.md5(key.ljust(100, "\0")[:100].encode("latin-1", "replace")).digest()
    second = hashlib.md5(first).digest()
    third = hashlib.md5(first + second).digest()
    return first + second + third + third


def scramble(s: str, key: str = _DEFAULT_KEY, chain: bool = False) -> str:
    """iRODS ``obfEncodeByKey`` (optionally with block chaining, as scramble v2 uses)."""
    ring, prev, out = _ring(key or _DEFAULT_KEY), 0, []
    for i, c in enumerate(s):
        if c in _INDEX:
            c = _WHEEL[(_INDEX[c] + ring[i % 61] + prev) % len(_WHEEL)]
            if chain:
                prev = ord(c) & 0xFF
        out.append(c)
    return "".join(out)


def unscramble(s: str, key: str = _DEFAULT_KEY, chain: bool = False) -> str:
    """Inverse of :func:`scramble`."""
    ring, prev, out = _ring(key or _DEFAULT_KEY), 0, []
    for i, c in enumerate(s):
        if c in _INDEX:
            out.append(_WHEEL[(_INDEX[c] - ring[i % 61] - prev) % len(_WHEEL)])
            if chain:
                prev = ord(c) & 0xFF
        else:
            out.append(c)
    return "".join(out)


def strip_padding(pw: str) -> str:
    """Drop the padding iadmin appends to short passwords (a prefix of a fixed string, > 15 chars)."""
    for i in range(len(pw)):
        tail = pw[i:]
        if len(tail) > 15 and _PAD.startswith(tail):
            return pw[:i]
    return pw


def pad(pw: str) -> str:
    """Pad a new password as clients do before scrambling it."""
    room = MAX_PASSWORD_LEN - 10 - len(pw)
    return pw + _PAD[:room] if room > 15 else pw


def unscramble_v2(s: str, old_password: str, signature: str) -> str:
    """Reverse ``scramble_v2`` (``modify user password``): chained, keyed by md5(old pw + signature)."""
    key = (old_password[:90] + signature[:100]).ljust(100, "\0")
    hashed = hashlib.md5(key.encode()).hexdigest()
    return strip_padding(unscramble(s, hashed, chain=True)[7:])


def scramble_v2(s: str, old_password: str, signature: str) -> str:
    """Forward ``scramble_v2``, for tests of :func:`unscramble_v2`."""
    key = (old_password[:90] + signature[:100]).ljust(100, "\0")
    hashed = hashlib.md5(key.encode()).hexdigest()
    return scramble("x.ObfV2" + pad(s), hashed, chain=True)


def encode_irodsA(password: str, uid: int | None = None) -> str:
    """The ``.irodsA`` file contents iCommands (and the python client) write for ``password``."""
    uid = os.getuid() if uid is None else uid
    mtime = int(time.time())
    head = "S" + "".join(chr(((mtime >> s) & 0xF) + ord("a")) for s in (4, 0, 12, 8))
    out, shift = ".", 0
    for c in head + password:
        offset = ((_SEQ >> shift) & 0x1F) + (uid & 0xF5F)
        shift = 0 if shift + 3 > 28 else shift + 3
        out += _WHEEL[(_INDEX[c] + offset) % len(_WHEEL)] if c in _INDEX else c
    return out[:6] + "e" + out[6:] + "\0"

"""Glob patterns as pachd compiles them (gobwas/ohmyglob with ``/`` as the separator).

``*`` and ``?`` stay inside one path segment, ``**`` crosses segments, ``[abc]``, ``[a-z]``, ``[!..]`` match
one character, ``{a,b}`` alternatives (nestable), and a backslash makes the next character literal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from .errors import unknown

__all__ = ["compile_glob", "literal"]

_SPECIAL = frozenset("*?[]{}\\")


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A predicate telling whether a path (without a trailing ``/``) matches ``pattern``."""
    regex = re.compile(_translate(pattern), re.DOTALL)
    return lambda path: regex.fullmatch(path) is not None


def literal(pattern: str) -> str | None:
    """The one path ``pattern`` matches when it has no unescaped special character, else None."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if c in _SPECIAL:
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _translate(pattern: str) -> str:
    out: list[str] = []
    depth, i, n = 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 == n:
                raise unknown(f"unexpected end of input in glob pattern {pattern!r}")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end, cls = _char_class(pattern, i)
            out.append(cls)
            i = end
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise unknown(f"unexpected end of input in glob pattern {pattern!r}: unclosed '{{'")
    return "".join(out)


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    """The regex of the ``[...]`` at ``start`` and the index after it."""
    i, negate = start + 1, False
    if i < len(pattern) and pattern[i] == "!":
        negate, i = True, i + 1
    items: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            c, i = pattern[i + 1], i + 1
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            items.append(f"{re.escape(c)}-{re.escape(pattern[i + 2])}")
            i += 3
        else:
            items.append(re.escape(c))
            i += 1
    if i >= len(pattern) or not items:
        raise unknown(f"unexpected end of input in glob pattern {pattern!r}: unclosed '['")
    return i + 1, f"[{'^' if negate else ''}{''.join(items)}]"

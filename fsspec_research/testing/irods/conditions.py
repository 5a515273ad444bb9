"""GenQuery conditions as iRODS parses them.

The operator is the text before the first quote and the literal everything between the first and the last
quote (so ``= 'it's'`` compares with ``it's``); ``in``/``between`` pair quotes left to right; ``||`` and
``&&`` combine such clauses. Numeric columns compare as numbers.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import fail

_OPS = (
    "not between",
    "not like",
    "not in",
    "begin_of",
    "between",
    "like",
    "in",
    "<>",
    "!=",
    "<=",
    ">=",
    "=",
    "<",
    ">",
)
_SPLIT = re.compile(
    r"'\s*(\|\||&&)\s*(?=(?:not\s+)?(?:between|like|in|begin_of|<>|!=|<=|>=|=|<|>)\s*[('])", re.I
)

Clause = tuple[str, list[str]]


def parse_condition(text: str) -> list[list[Clause]]:
    """``"= 'a' || like 'b%' && <> 'bc'"`` -> OR of ANDs of ``(op, literals)``."""
    parts, pos, joins = [], 0, []
    for m in _SPLIT.finditer(text):
        parts.append(text[pos : m.start() + 1])
        joins.append(m.group(1))
        pos = m.end()
    parts.append(text[pos:])
    alternatives: list[list[Clause]] = [[]]
    for i, part in enumerate(parts):
        if i and joins[i - 1] == "||":
            alternatives.append([])
        alternatives[-1].append(_clause(part.strip()))
    return alternatives


def _clause(part: str) -> Clause:
    q = part.find("'")
    if q < 0:
        low = part.lower()
        for op in _OPS:
            if low.startswith(op):
                return op, [part[len(op) :].strip()]
        raise fail("CAT_INVALID_ARGUMENT", f"bad condition {part!r}")
    op = " ".join(part[:q].strip().lower().split()).rstrip("(").strip()
    if op in ("in", "not in", "between", "not between"):
        return op, re.findall(r"'([^']*)'", part[q:])
    if op not in _OPS:
        raise fail("CAT_INVALID_ARGUMENT", f"bad operator {op!r}")
    return op, [part[q + 1 : part.rfind("'")]]


def like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S)


def sort_key(value: str, numeric: bool) -> Any:
    if numeric:
        try:
            return (0, int(value))
        except ValueError:
            try:
                return (0, float(value))
            except ValueError:
                return (1, value)
    return (1, value)


def test(value: str, clause: Clause, numeric: bool) -> bool:
    op, lits = clause
    if op in ("like", "not like"):
        hit = like(lits[0]).fullmatch(value) is not None
        return hit if op == "like" else not hit
    if op in ("in", "not in"):
        hit = any(sort_key(value, numeric) == sort_key(x, numeric) for x in lits)
        return hit if op == "in" else not hit
    if op in ("between", "not between"):
        if len(lits) < 2:
            raise fail("CAT_INVALID_ARGUMENT", "between needs two literals")
        hit = sort_key(lits[0], numeric) <= sort_key(value, numeric) <= sort_key(lits[1], numeric)
        return hit if op == "between" else not hit
    if op == "begin_of":
        return lits[0] == value or lits[0].startswith(value.rstrip("/") + "/")
    a, b = sort_key(value, numeric), sort_key(lits[0], numeric)
    return {
        "=": a == b,
        "<>": a != b,
        "!=": a != b,
        "<": a < b,
        ">": a > b,
        "<=": a <= b,
        ">=": a >= b,
    }[op]

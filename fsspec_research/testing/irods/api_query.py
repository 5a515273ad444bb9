"""``GEN_QUERY_AN`` with server-side paging (``continueInx``; ``maxRows`` 0 closes a cursor)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .descriptors import Cursor
from .dispatch import Reply, api, reply
from .errors import fail
from .genquery import TOTAL_ROW_COUNT, Request, execute
from .protocol import Raw, integer, kvp

if TYPE_CHECKING:
    from .agent import Agent

GEN_QUERY_AN, SPECIFIC_QUERY_AN, GENQUERY2_AN = 702, 722, 10221


def parse_request(root: ET.Element | None) -> Request:
    sel = root.find("InxIvalPair_PI") if root is not None else None
    cond = root.find("InxValPair_PI") if root is not None else None
    select = []
    if sel is not None:
        inx = [int(e.text or 0) for e in sel.findall("inx")]
        val = [int(e.text or 1) for e in sel.findall("ivalue")]
        select = list(zip(inx, val + [1] * (len(inx) - len(val))))
    where = []
    if cond is not None:
        inx = [int(e.text or 0) for e in cond.findall("inx")]
        val = [e.text or "" for e in cond.findall("svalue")]
        where = list(zip(inx, val))
    return Request(
        select,
        where,
        max_rows=integer(root, "maxRows", 500),
        continue_inx=integer(root, "continueInx"),
        offset=integer(root, "partialStartIndex"),
        options=integer(root, "options"),
        keywords=kvp(root),
    )


@api(GEN_QUERY_AN)
def gen_query(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    req = parse_request(root)
    if req.continue_inx > 0:
        cur = agent.cursors.get(req.continue_inx)
        if cur is None:
            raise fail("CAT_NO_ROWS_FOUND", "no such cursor")
        if req.max_rows <= 0:
            del agent.cursors[req.continue_inx]
            return _out(agent, [n for n, _ in req.select] or cur.columns, [], 0, 0)
        key = req.continue_inx
    else:
        if req.max_rows <= 0:
            return _out(agent, [n for n, _ in req.select], [], 0, 0)
        with agent.cat.lock:
            rows = execute(agent.cat, agent.me, req)
        cur = Cursor(rows[req.offset :], [n for n, _ in req.select], total=len(rows))
        key = 0
    page = cur.rows[cur.pos : cur.pos + req.max_rows]
    cur.pos += len(page)
    more = cur.pos < len(cur.rows)
    if more and not key:
        key = agent.new_cursor(cur)
    elif not more and key:
        agent.cursors.pop(key, None)
        key = 0
    if not page:
        raise fail("CAT_NO_ROWS_FOUND", "no rows")
    total = cur.total if req.options & TOTAL_ROW_COUNT else 0
    return _out(agent, cur.columns, page, key, total)


def _out(agent: Agent, columns: list[int], rows: list[tuple[str, ...]], cont: int, total: int) -> Reply:
    x = agent.xml
    results = []
    for i, col in enumerate(columns):
        values = [r[i] for r in rows]
        width = max([len(v.encode()) + 1 for v in values] + [1])
        results.append(
            f"<SqlResult_PI><attriInx>{col}</attriInx><reslen>{width}</reslen>"
            f"{x.values('value', values)}</SqlResult_PI>"
        )
    return reply(
        x.struct(
            "GenQueryOut_PI",
            ("rowCnt", len(rows)),
            ("attriCnt", len(columns)),
            ("continueInx", cont),
            ("totalRowCount", total),
            ("r", Raw("".join(results))),
        )
    )


@api(SPECIFIC_QUERY_AN)
def specific_query(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    raise fail("CAT_UNKNOWN_SPECIFIC_QUERY", "specific queries are not supported by this server")


@api(GENQUERY2_AN)
def genquery2(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    raise fail("SYS_NOT_SUPPORTED", "GenQuery2 is not supported by this server")

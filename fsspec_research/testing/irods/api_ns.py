"""Namespace APIs: collections, unlink, rename, copy, truncate, touch, checksums, data object metadata."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .dispatch import Reply, api, json_error, json_in, json_reply, reply, str_reply
from .errors import IrodsError, fail
from .model import READ, WRITE
from .protocol import integer, kvp, text

if TYPE_CHECKING:
    from .agent import Agent

COLL_CREATE_AN, RM_COLL_AN, DATA_OBJ_UNLINK_AN, DATA_OBJ_RENAME_AN = 681, 679, 615, 627
DATA_OBJ_COPY_AN, DATA_OBJ_TRUNCATE_AN, DATA_OBJ_CHKSUM_AN, TOUCH_APN = 696, 652, 629, 20007
MOD_DATA_OBJ_META_AN, PHY_PATH_REG_AN, RENAME_DATA_OBJ, RENAME_COLL, UNREG_OPR = 622, 630, 11, 12, 26


@api(COLL_CREATE_AN)
def coll_create(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    agent.cat.mkdir(agent.me, text(root, "collName"), "recursiveOpr" in kvp(root))
    return reply()


@api(RM_COLL_AN)
def rm_coll(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    opts = kvp(root)
    agent.cat.rmcoll(agent.me, text(root, "collName"), "recursiveOpr" in opts, "forceFlag" in opts)
    return reply()


@api(DATA_OBJ_UNLINK_AN)
def unlink(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    opts = kvp(root)
    unregister = integer(root, "oprType") == UNREG_OPR or opts.get("oprType") == str(UNREG_OPR)
    agent.cat.unlink(agent.me, text(root, "objPath"), "forceFlag" in opts, unregister)
    return reply()


@api(PHY_PATH_REG_AN)
def register(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    opts = kvp(root)
    if "collection" in opts:
        raise fail("SYS_NOT_SUPPORTED", "registering directories is not supported by this server")
    agent.cat.register(agent.me, text(root, "objPath"), opts.get("filePath", ""), opts)
    return reply()


def _pair(root: ET.Element | None) -> tuple[ET.Element | None, ET.Element | None]:
    parts = root.findall("DataObjInp_PI") if root is not None else []
    if len(parts) != 2:
        raise fail("SYS_API_INPUT_ERR", "expected two DataObjInp_PI")
    return parts[0], parts[1]


@api(DATA_OBJ_RENAME_AN)
def rename(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    src, dst = _pair(root)
    cat = agent.cat
    s, d = text(src, "objPath"), text(dst, "objPath")
    opr = integer(src, "oprType")
    coll = opr == RENAME_COLL or (opr != RENAME_DATA_OBJ and cat.check_path(s) in cat.colls)
    if opr == RENAME_DATA_OBJ and cat.check_path(s) in cat.colls:
        raise fail("CAT_NAME_EXISTS_AS_COLLECTION", s)
    cat.rename(agent.me, s, d, coll)
    return reply()


@api(DATA_OBJ_COPY_AN)
def copy(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    src, dst = _pair(root)
    agent.cat.copy(agent.me, text(src, "objPath"), text(dst, "objPath"), kvp(dst))
    return reply()


@api(DATA_OBJ_TRUNCATE_AN)
def truncate(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    size = integer(root, "dataSize")
    if size < 0:
        raise fail("SYS_INVALID_INPUT_PARAM", "negative size")
    agent.cat.truncate(agent.me, text(root, "objPath"), size)
    return reply()


@api(TOUCH_APN)
def touch(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    req = json_in(root)
    path = req.get("logical_path")
    if not isinstance(path, str) or not path:
        raise json_error(agent, "SYS_INVALID_INPUT_PARAM", "missing logical_path")
    opts = req.get("options") or {}
    if "seconds_since_epoch" in opts and "reference" in opts:
        raise json_error(agent, "SYS_INVALID_INPUT_PARAM", "seconds_since_epoch and reference are exclusive")
    try:
        agent.cat.touch(agent.me, path, opts)
    except IrodsError as e:
        raise json_error(agent, e.name, e.message) from None
    return json_reply(agent, {})


@api(DATA_OBJ_CHKSUM_AN)
def chksum(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    cat, me = agent.cat, agent.me
    path = cat.check_path(text(root, "objPath"))
    opts = kvp(root)
    with cat.lock:
        o = cat.obj(path)
        if o is None:
            raise fail("CAT_NO_ROWS_FOUND" if path not in cat.colls else "USER_INPUT_PATH_ERR", path)
        cat.require(me, o, READ)
        if "verifyChksum" in opts:
            if not o.checksum:
                if agent.version < (4, 2, 11):
                    raise fail("CAT_NO_ROWS_FOUND", "no checksum to verify")
                msg = [{"error_code": -862000, "message": "WARNING: No Checksum Available for Replica [0]."}]
                return str_reply(agent, json.dumps(msg), status=-407000)
            if cat.checksum_of(o) != o.checksum:
                raise fail("USER_CHKSUM_MISMATCH", f"{path}: checksum mismatch")
            return reply()
        if "forceChksum" in opts or not o.checksum:
            o.checksum = cat.checksum_of(o)
        return str_reply(agent, o.checksum)


@api(MOD_DATA_OBJ_META_AN)
def mod_data_obj_meta(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    info = root.find("DataObjInfo_PI") if root is not None else None
    params = kvp(root)  # regParam; the DataObjInfo_PI's own pairs are nested one level deeper
    cat, me = agent.cat, agent.me
    with cat.lock:
        o = cat.obj(cat.check_path(text(info, "objPath")))
        if o is None:
            raise fail("CAT_UNKNOWN_FILE", text(info, "objPath"))
        cat.require(me, o, WRITE)
        fields = {
            "dataComments": "comments",
            "dataType": "type",
            "dataExpiry": "expiry",
            "dataMode": "data_mode",
        }
        for key, value in params.items():
            if key in fields:
                setattr(o, fields[key], value)
            elif key == "dataSize":
                o.size = int(value)
            elif key == "chksum":
                o.checksum = value
            elif key == "dataModify":
                o.mtime = int(value)
            elif key == "replStatus":
                o.repl_status = int(value)
    return reply()

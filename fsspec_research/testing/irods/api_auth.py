"""Native authentication: the 4.3 JSON flow (``AUTHENTICATION_APN``) and the legacy 703/704 challenge."""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from . import obfuscation as obf
from .catalog import Actor
from .dispatch import Reply, api, json_in, json_reply, reply
from .errors import fail
from .model import User
from .protocol import binary, text

if TYPE_CHECKING:
    from .agent import Agent

AUTHENTICATION_APN, AUTH_REQUEST_AN, AUTH_RESPONSE_AN = 110000, 703, 704


def _account(agent: Agent, name: str, zone: str) -> User:
    u = agent.cat.user(name or agent.proxy_user, zone or agent.proxy_zone or agent.cat.zone)
    if u is None or u.is_group:
        raise fail("CAT_INVALID_USER", f"unknown user {name}")
    return u


def _login(agent: Agent, proxy: User, ok: bool) -> None:
    """Finish a login: check the digest, then act as the client user (a proxy must be rodsadmin)."""
    if not ok and proxy.name != "anonymous":
        raise fail("CAT_INVALID_AUTHENTICATION", f"wrong password for {proxy.name}")
    client = proxy
    if agent.client_user and agent.client_user != proxy.name:
        if proxy.type != "rodsadmin":
            raise fail("CAT_INVALID_AUTHENTICATION", "only a rodsadmin may act for another user")
        client = _account(agent, agent.client_user, agent.client_zone)
    agent.actor = Actor(client)
    agent.login_user = proxy


@api(AUTHENTICATION_APN, public=True)
def authenticate(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    req = json_in(root)
    op = req.get("next_operation", "")
    if req.get("scheme", "native") != "native":
        raise fail("SYS_NOT_SUPPORTED", f"auth scheme {req.get('scheme')!r}")
    if op == "auth_agent_start":
        return json_reply(agent, req)
    if op == "auth_agent_auth_request":
        _account(agent, req.get("user_name", ""), req.get("zone_name", ""))
        challenge = obf.challenge()
        agent.challenge = challenge.encode()
        agent.signature = agent.challenge[:16].hex()
        return json_reply(agent, {**req, "request_result": challenge})
    if op == "auth_agent_auth_response":
        if not agent.challenge:
            raise fail("CAT_INVALID_AUTHENTICATION", "no challenge issued")
        u = _account(agent, req.get("user_name", ""), req.get("zone_name", ""))
        expect = obf.b64_digest(agent.challenge, u.password)
        _login(agent, u, hmac.compare_digest(expect, str(req.get("digest", ""))))
        return json_reply(agent, {})
    raise fail("SYS_INVALID_INPUT_PARAM", f"unknown auth operation {op!r}")


@api(AUTH_REQUEST_AN, public=True)
def auth_request(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    agent.challenge = obf.challenge().encode()
    agent.signature = agent.challenge[:16].hex()
    return reply(agent.xml.struct("authRequestOut_PI", ("challenge", agent.challenge)))


@api(AUTH_RESPONSE_AN, public=True)
def auth_response(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    if not agent.challenge:
        raise fail("CAT_INVALID_AUTHENTICATION", "no challenge issued")
    name = text(root, "username") or agent.proxy_user
    zone = ""
    if "#" in name:
        name, zone = name.split("#", 1)
    u = _account(agent, name, zone)
    expect = obf.native_digest(agent.challenge.strip(), u.password)
    _login(agent, u, hmac.compare_digest(expect, binary(root, "response")[:16]))
    return reply()

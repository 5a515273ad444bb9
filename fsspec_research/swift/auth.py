"""Who we are to Swift: credentials from storage_options or the environment, and the tokens they give.

Resolution order: explicit storage_options; the ``OS_*`` variables of an OpenStack RC file (Keystone v3
password or application credential, through keystoneauth1); ``ST_AUTH``/``ST_USER``/``ST_KEY`` (v1 auth,
as tempauth and swauth serve it); ``OS_STORAGE_URL`` + ``OS_AUTH_TOKEN``; else anonymous, which reads
public containers. Secrets never appear in a repr or message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Anonymous", "Auth", "Keystone", "Preauthenticated", "TempAuth", "Token", "resolve_auth"]

#: tokens are renewed this many seconds before they expire
RENEW_BEFORE = 120.0

_KEYSTONE_KEYS = (
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    "region_name",
    "interface",
)
_SECRET_KEYS = {"password", "application_credential_secret", "key", "token"}


@dataclass
class Token:
    """A token, the storage URL it is good for, and when it expires (``time.time()`` seconds)."""

    value: str | None
    storage_url: str | None
    expires: float | None = None

    def fresh(self) -> bool:
        return self.expires is None or time.time() < self.expires - RENEW_BEFORE

    def __repr__(self) -> str:
        return f"Token(storage_url={self.storage_url!r}, expires={self.expires!r})"


@dataclass(repr=False)
class Auth:
    """Base of the ways to authenticate; :meth:`token` logs in once and again when the token expires."""

    settings: dict[str, Any] = field(default_factory=dict)
    _token: Token | None = field(default=None, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)

    async def token(self, session: aiohttp.ClientSession, ssl: Any, renew: bool = False) -> Token:
        """The current token; log in if there is none, it is about to expire, or ``renew`` is asked."""
        stale = self._token
        if stale is not None and stale.fresh() and not renew:
            return stale
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is stale or self._token is None:  # nobody logged in meanwhile
                self._token = await self._login(session, ssl)
            return self._token

    async def _login(self, session: aiohttp.ClientSession, ssl: Any) -> Token:
        raise NotImplementedError

    @property
    def method(self) -> str:
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.settings.items() if k not in _SECRET_KEYS and v is not None}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in sorted(shown.items()))})"


class Anonymous(Auth):
    """No credentials: public containers (``.r:*`` read ACL) only."""

    async def _login(self, session: aiohttp.ClientSession, ssl: Any) -> Token:
        return Token(None, self.settings.get("storage_url"))


class Preauthenticated(Auth):
    """A token obtained elsewhere (``OS_AUTH_TOKEN``), valid until it expires; it cannot be renewed."""

    async def _login(self, session: aiohttp.ClientSession, ssl: Any) -> Token:
        if self._token is not None:
            raise PermissionError(f"the token for {self.settings.get('storage_url')} expired or was revoked")
        return Token(self.settings["token"], self.settings.get("storage_url"))


class TempAuth(Auth):
    """v1 authentication (tempauth, swauth): ``X-Auth-User``/``X-Auth-Key`` against ``auth_url``."""

    async def _login(self, session: aiohttp.ClientSession, ssl: Any) -> Token:
        url = self.settings["auth_url"]
        headers = {"X-Auth-User": self.settings["user"], "X-Auth-Key": self.settings["key"]}
        try:
            async with session.get(url, headers=headers, ssl=ssl) as reply:
                await reply.read()
                status, got = reply.status, reply.headers
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"cannot reach the Swift auth service {url}: {exc}") from exc
        if status in (401, 403):
            raise PermissionError(f"{url}: authentication failed for user {self.settings['user']!r}")
        if status >= 300 or "X-Auth-Token" not in got:
            raise OSError(f"{url}: authentication answered {status} without a token")
        lifetime = got.get("X-Auth-Token-Expires")
        expires = time.time() + float(lifetime) if lifetime else None
        return Token(
            got["X-Auth-Token"], self.settings.get("storage_url") or got.get("X-Storage-Url"), expires
        )


class Keystone(Auth):
    """Keystone v3 password or application-credential login through keystoneauth1 (run in a thread)."""

    _plugin: Any = None

    async def _login(self, session: aiohttp.ClientSession, ssl: Any) -> Token:
        return await asyncio.to_thread(self._login_blocking)

    def _login_blocking(self) -> Token:
        from keystoneauth1 import exceptions as ks_exc
        from keystoneauth1 import session as ks_session

        s = self.settings
        if self._plugin is not None:
            self._plugin.invalidate()
        else:
            self._plugin = self._make_plugin()
        ks = ks_session.Session(auth=self._plugin, verify=s.get("verify", True))
        try:
            access = self._plugin.get_access(ks)
            url = s.get("storage_url") or ks.get_endpoint(
                service_type="object-store",
                interface=s.get("interface") or "public",
                region_name=s.get("region_name"),
            )
        except ks_exc.Unauthorized as exc:
            raise PermissionError(f"{s['auth_url']}: Keystone refused the credentials of {self!r}") from exc
        except ks_exc.EndpointNotFound as exc:
            raise FileNotFoundError(
                f"{s['auth_url']}: no object-store endpoint in the catalog of {self!r}"
            ) from exc
        except ks_exc.ConnectFailure as exc:
            raise ConnectionError(f"cannot reach Keystone at {s['auth_url']}") from exc
        except ks_exc.ClientException as exc:
            raise OSError(f"{s['auth_url']}: Keystone login failed: {type(exc).__name__}") from exc
        expires = access.expires.timestamp() if access.expires is not None else None
        return Token(access.auth_token, url, expires)

    def _make_plugin(self) -> Any:
        from keystoneauth1.identity import v3

        s = {k: v for k, v in self.settings.items() if v is not None}
        auth_url = s["auth_url"].rstrip("/")
        if not auth_url.endswith("/v3"):
            auth_url += "/v3"
        pick = {k: s[k] for k in _KEYSTONE_KEYS if k in s and k not in ("region_name", "interface")}
        if "application_credential_secret" in pick:
            return v3.ApplicationCredential(auth_url=auth_url, **pick)
        return v3.Password(auth_url=auth_url, **pick)


def resolve_auth(options: Mapping[str, Any], environ: Mapping[str, str]) -> Auth:
    """The :class:`Auth` for ``options`` (storage_options), else the environment, else anonymous."""
    verify = options.get("verify", True)
    if options.get("anon"):
        return Anonymous({"storage_url": options.get("storage_url")})
    explicit = _from_options(options)
    if explicit is not None:
        explicit.settings["verify"] = verify
        return explicit
    found = _from_environ(environ, options.get("storage_url"))
    if found is not None:
        found.settings.setdefault("verify", environ.get("OS_CACERT") or verify)
        return found
    return Anonymous({"storage_url": options.get("storage_url")})


def _from_options(o: Mapping[str, Any]) -> Auth | None:
    if o.get("token"):
        return Preauthenticated({"token": o["token"], "storage_url": o.get("storage_url")})
    keystone = {k: o[k] for k in _KEYSTONE_KEYS if o.get(k) is not None}
    if keystone:
        return Keystone({"auth_url": _need(o, "auth_url"), "storage_url": o.get("storage_url"), **keystone})
    if o.get("user") is not None or o.get("key") is not None:
        return TempAuth(
            {"auth_url": _need(o, "auth_url"), "user": _need(o, "user"), "key": _need(o, "key"),
             "storage_url": o.get("storage_url")}
        )  # fmt: skip
    if o.get("auth_url"):
        raise ValueError(
            f"auth_url {o['auth_url']!r} given without credentials (user/key or username/password)"
        )
    return None


def _from_environ(env: Mapping[str, str], storage_url: str | None) -> Auth | None:
    if env.get("OS_AUTH_URL") and (env.get("OS_USERNAME") or env.get("OS_APPLICATION_CREDENTIAL_ID")):
        settings = {k: env.get(f"OS_{k.upper()}") or None for k in _KEYSTONE_KEYS}
        return Keystone({"auth_url": env["OS_AUTH_URL"], "storage_url": storage_url, **settings})
    if env.get("ST_AUTH") and env.get("ST_USER") and env.get("ST_KEY"):
        return TempAuth(
            {
                "auth_url": env["ST_AUTH"],
                "user": env["ST_USER"],
                "key": env["ST_KEY"],
                "storage_url": storage_url,
            }
        )
    if env.get("OS_STORAGE_URL") and env.get("OS_AUTH_TOKEN"):
        return Preauthenticated({"token": env["OS_AUTH_TOKEN"], "storage_url": env["OS_STORAGE_URL"]})
    return None


def _need(options: Mapping[str, Any], name: str) -> Any:
    if options.get(name) is None:
        raise ValueError(f"Swift credentials need {name!r}")
    return options[name]

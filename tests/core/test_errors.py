"""Error translation to builtins (with the path, the cause and no secrets) and the retry policy."""

from __future__ import annotations

import asyncio
import errno
import types

import aiohttp
import pytest
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from fsspec_research.core import errors
from fsspec_research.core.errors import (
    Fault,
    Kind,
    ObjectChangedError,
    RetryPolicy,
    TransientError,
    classify,
    kind_for_status,
    redact,
    translate,
)

PATH = "bucket/dir/object.bin"


def response_error(status: int, message: str = "", headers=None, url: str = "https://store.example/o"):
    """An aiohttp ClientResponseError as a client raises it for a failed response."""
    u = URL(url)
    info = RequestInfo(u, "GET", CIMultiDictProxy(CIMultiDict()), u)
    return aiohttp.ClientResponseError(
        info, (), status=status, message=message, headers=CIMultiDict(headers or {})
    )


class StatusError(Exception):
    """A minimal client error with ``.status`` and ``.headers``, like many HTTP clients raise."""

    def __init__(self, status, headers=None, text=""):
        super().__init__(text or f"HTTP {status}")
        self.status = status
        self.headers = headers


# ------------------------------------------------------------------------------------------ translate


@pytest.mark.parametrize(
    ("status", "cls", "err"),
    [
        (404, FileNotFoundError, errno.ENOENT),
        (410, FileNotFoundError, errno.ENOENT),
        (403, PermissionError, errno.EACCES),
        (401, PermissionError, errno.EACCES),
        (409, FileExistsError, errno.EEXIST),
        (412, ObjectChangedError, errno.ESTALE),
        (429, ConnectionError, errno.EAGAIN),
        (500, ConnectionError, errno.EAGAIN),
        (503, ConnectionError, errno.EAGAIN),
    ],
)
def test_translate_status(status, cls, err):
    exc = response_error(status, "server said no")
    new = translate(exc, PATH)
    assert type(new) is cls
    assert new.errno == err
    assert PATH in str(new)
    assert "server said no" in str(new)
    assert new.__cause__ is exc


@pytest.mark.parametrize("status", [413, 507])
def test_translate_no_space(status):
    exc = response_error(status, "too large")
    new = translate(exc, PATH)
    assert type(new) is OSError
    assert new.errno == errno.ENOSPC
    assert PATH in str(new)
    assert new.__cause__ is exc


@pytest.mark.parametrize("status", [418, 451])
def test_translate_other_status_is_eio(status):
    new = translate(StatusError(status), PATH)
    assert type(new) is OSError
    assert new.errno == errno.EIO
    assert PATH in str(new)


@pytest.mark.parametrize("status", [416, 400, 405])
def test_translate_invalid_is_value_error(status):
    exc = response_error(status, "bad range")
    new = translate(exc, PATH)
    assert type(new) is ValueError
    assert PATH in str(new)
    assert "bad range" in str(new)
    assert new.__cause__ is exc


def test_translate_status_object_with_plain_attributes():
    exc = StatusError(404, headers=None)
    new = translate(exc, PATH)
    assert isinstance(new, FileNotFoundError)
    assert new.filename == PATH
    assert new.__cause__ is exc


def test_kind_for_status_table():
    assert kind_for_status(404) is Kind.NOT_FOUND
    assert kind_for_status(401) is Kind.PERMISSION
    assert kind_for_status(409) is Kind.EXISTS
    assert kind_for_status(412) is Kind.CHANGED
    assert kind_for_status(408) is Kind.TRANSIENT
    assert kind_for_status(599) is Kind.TRANSIENT
    assert kind_for_status(416) is Kind.INVALID
    assert kind_for_status(413) is Kind.NO_SPACE


def test_no_space_and_other_are_distinct_kinds():
    # both map to OSError, but must keep different errno (ENOSPC vs EIO)
    assert Kind.NO_SPACE is not Kind.OTHER
    assert kind_for_status(418) is not Kind.NO_SPACE


def test_translate_custom_classifier_takes_precedence():
    exc = ConnectionResetError("reset")  # builtin classification: transient
    new = translate(exc, PATH, classifier=lambda e: Fault(Kind.NOT_FOUND))
    assert type(new) is FileNotFoundError
    assert new.__cause__ is exc

    exc = StatusError(404)
    new = translate(exc, PATH, classifier=lambda e: Fault(Kind.PERMISSION))
    assert type(new) is PermissionError


def test_translate_classifier_returning_none_falls_back():
    exc = StatusError(404)
    new = translate(exc, PATH, classifier=lambda e: None)
    assert type(new) is FileNotFoundError


def test_translate_builtin_naming_path_unchanged():
    exc = FileNotFoundError(errno.ENOENT, "No such file", PATH)
    assert translate(exc, PATH) is exc
    exc2 = PermissionError(f"denied: {PATH}")
    assert translate(exc2, PATH) is exc2


def test_translate_builtin_without_path_gets_path():
    exc = FileNotFoundError("gone")
    new = translate(exc, PATH)
    assert new is not exc
    assert type(new) is FileNotFoundError
    assert PATH in str(new) and "gone" in str(new)
    assert new.__cause__ is exc


def test_translate_unknown_exception_is_oserror():
    exc = RuntimeError("weird")
    new = translate(exc, PATH)
    assert type(new) is OSError
    assert new.errno == errno.EIO
    assert PATH in str(new) and "weird" in str(new)
    assert new.__cause__ is exc


def test_translate_empty_message_uses_type_name():
    new = translate(RuntimeError(), PATH)
    assert "RuntimeError" in str(new)
    assert PATH in str(new)


@pytest.mark.parametrize(
    "exc",
    [ConnectionResetError("reset by peer"), TimeoutError("timed out"), TransientError("slow down", 2.0)],
)
def test_translate_transient(exc):
    new = translate(exc, PATH)
    assert isinstance(new, ConnectionError)
    assert PATH in str(new)
    assert new.__cause__ is exc


def test_translate_object_changed():
    exc = StatusError(412, text="precondition failed etag mismatch")
    new = translate(exc, PATH)
    assert isinstance(new, ObjectChangedError)
    assert new.path == PATH
    assert "etag mismatch" in str(new)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("request failed with header X-Auth-Token: abc123 for object", "abc123"),
        ("login failed password=hunter2 user=bob", "hunter2"),
        ("GET https://s.example/v1/a/c/o?temp_url_sig=deadbeef&temp_url_expires=99", "deadbeef"),
        ("headers {'X-Auth-Token': 'tok-9f8e7d', 'Accept': '*/*'}", "tok-9f8e7d"),
        ('{"secret": "s3cr3tvalue"}', "s3cr3tvalue"),
        ("x-storage-token=ST-12345", "ST-12345"),
        ("X-Amz-Signature=0a1b2c3d4e5f", "0a1b2c3d4e5f"),
    ],
)
def test_translate_redacts_secrets(text, secret):
    for exc in (StatusError(403, text=text), RuntimeError(text), response_error(404, text)):
        new = translate(exc, PATH)
        assert secret not in str(new)
        assert PATH in str(new)
        assert new.__cause__ is exc


def test_translate_redacts_secrets_from_aiohttp_url():
    url = "https://swift.example/v1/AUTH_x/c/o?temp_url_sig=deadbeef&temp_url_expires=1700000000"
    exc = response_error(401, "Unauthorized X-Auth-Token: abc123", url=url)
    assert "deadbeef" in str(exc) and "abc123" in str(exc)
    new = translate(exc, PATH)
    assert isinstance(new, PermissionError)
    assert "deadbeef" not in str(new)
    assert "abc123" not in str(new)
    assert "temp_url_expires=1700000000" in str(new)  # non-secret context is kept


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9.payload"),
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ],
)
def test_redact_authorization_with_scheme(text, secret):
    assert secret not in redact(text)
    assert secret not in str(translate(RuntimeError(text), PATH))


def test_redact_keeps_ordinary_text():
    assert redact("object not found at offset 42") == "object not found at offset 42"
    assert redact("password=hunter2") == "password=***"


# ------------------------------------------------------------------------------------------ classify


def test_classify():
    assert classify(FileNotFoundError()) == Fault(Kind.NOT_FOUND)
    assert classify(ConnectionResetError()) == Fault(Kind.TRANSIENT)
    assert classify(TimeoutError()) == Fault(Kind.TRANSIENT)
    assert classify(TransientError("x", 3.0)) == Fault(Kind.TRANSIENT, 3.0)
    assert classify(ObjectChangedError(PATH)) == Fault(Kind.CHANGED)
    assert classify(StatusError(503, {"Retry-After": "7"})) == Fault(Kind.TRANSIENT, 7.0)
    assert classify(response_error(429, headers={"retry-after": "2.5"})) == Fault(Kind.TRANSIENT, 2.5)
    assert classify(StatusError(503, {"Retry-After": "soon"})) == Fault(Kind.TRANSIENT, None)
    assert classify(aiohttp.ServerDisconnectedError()) == Fault(Kind.TRANSIENT)
    assert classify(RuntimeError("x")) is None
    assert classify(StatusError(200)) is None


# ------------------------------------------------------------------------------------------ RetryPolicy


class Flaky:
    """Raises the given exceptions in turn, then returns ``"ok"``."""

    def __init__(self, *excs):
        self.excs = list(excs)
        self.calls = 0

    def __call__(self, *args, **kw):
        self.calls += 1
        self.args = (args, kw)
        if self.excs:
            raise self.excs.pop(0)
        return "ok"

    async def acall(self, *args, **kw):
        await asyncio.sleep(0)
        return self(*args, **kw)


@pytest.fixture
def sleeps(monkeypatch):
    """Record the delays the policy sleeps for, without sleeping."""
    delays: list[float] = []

    def fake_sleep(seconds):
        delays.append(seconds)

    async def fake_asleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(errors, "time", types.SimpleNamespace(sleep=fake_sleep))

    class AsyncioProxy:
        def __getattr__(self, name):
            return fake_asleep if name == "sleep" else getattr(asyncio, name)

    monkeypatch.setattr(errors, "asyncio", AsyncioProxy())
    return delays


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConnectionResetError("reset"),
        lambda: TimeoutError("timeout"),
        lambda: TransientError("busy"),
        lambda: StatusError(503),
        lambda: response_error(503, "unavailable"),
        lambda: aiohttp.ServerDisconnectedError(),
    ],
)
def test_retry_transient_then_succeed(make, sleeps):
    fn = Flaky(make(), make())
    assert RetryPolicy(retries=3).call(fn, 1, k=2) == "ok"
    assert fn.calls == 3
    assert fn.args == ((1,), {"k": 2})
    assert len(sleeps) == 2


def test_retry_gives_up_after_retries_and_raises_last(sleeps):
    errs = [ConnectionResetError(f"reset {i}") for i in range(10)]
    fn = Flaky(*errs)
    with pytest.raises(ConnectionResetError) as info:
        RetryPolicy(retries=3).call(fn)
    assert fn.calls == 4
    assert info.value is errs[3]
    assert len(sleeps) == 3


def test_retry_zero_retries_calls_once(sleeps):
    fn = Flaky(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        RetryPolicy(retries=0).call(fn)
    assert fn.calls == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError("gone"),
        PermissionError("no"),
        StatusError(404),
        StatusError(403),
        ObjectChangedError(PATH),
        ValueError("bad"),
        RuntimeError("bug"),
    ],
)
def test_retry_never_retries_permanent(exc, sleeps):
    fn = Flaky(exc)
    with pytest.raises(type(exc)) as info:
        RetryPolicy(retries=5).call(fn)
    assert info.value is exc
    assert fn.calls == 1
    assert sleeps == []


def test_retry_classifier_controls_retries(sleeps):
    class Custom(Exception):
        pass

    def classifier(e):
        if isinstance(e, Custom):
            return Fault(Kind.TRANSIENT, 0.5)
        if isinstance(e, ConnectionResetError):
            return Fault(Kind.NOT_FOUND)
        return None

    fn = Flaky(Custom(), Custom())
    assert RetryPolicy(retries=5, max_backoff=0.01).call(fn, classifier=classifier) == "ok"
    assert fn.calls == 3
    assert all(d >= 0.5 for d in sleeps)

    fn = Flaky(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        RetryPolicy(retries=5).call(fn, classifier=classifier)
    assert fn.calls == 1


def test_retry_after_header_honoured(sleeps):
    fn = Flaky(StatusError(503, {"Retry-After": "3"}), response_error(429, headers={"Retry-After": "4"}))
    assert RetryPolicy(retries=5, backoff=0.001, max_backoff=0.01).call(fn) == "ok"
    assert len(sleeps) == 2
    assert 3 <= sleeps[0] <= 3.01
    assert 4 <= sleeps[1] <= 4.01


def test_retry_after_capped_by_max_retry_after(sleeps):
    fn = Flaky(TransientError("throttled", retry_after=3600), StatusError(503, {"Retry-After": "999"}))
    assert RetryPolicy(retries=5, backoff=0.001, max_backoff=0.01, max_retry_after=2.0).call(fn) == "ok"
    assert sleeps == [2.0, 2.0]


def test_retry_after_not_below_backoff_floor():
    # Retry-After is a floor, backoff may still wait longer (but never beyond max_backoff)
    policy = RetryPolicy(backoff=10, max_backoff=10, max_retry_after=60)
    for _ in range(50):
        d = policy.delay(3, Fault(Kind.TRANSIENT, 1.0))
        assert 1.0 <= d <= 10


def test_backoff_bounded_by_max_backoff():
    policy = RetryPolicy(backoff=0.1, max_backoff=1.5)
    seen = []
    for attempt in range(40):
        for _ in range(20):
            d = policy.delay(attempt, Fault(Kind.TRANSIENT))
            assert 0 <= d <= min(1.5, 0.1 * 2**attempt)
            seen.append(d)
    assert max(seen) > 1.0  # jitter actually spreads up to the cap


def test_backoff_grows_exponentially_until_cap(monkeypatch):
    monkeypatch.setattr(errors, "random", types.SimpleNamespace(uniform=lambda lo, hi: hi))  # upper bound
    policy = RetryPolicy(backoff=0.25, max_backoff=3.0)
    assert [policy.delay(a, Fault(Kind.TRANSIENT)) for a in range(6)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_recorded_backoff_delays_within_bounds(sleeps):
    fn = Flaky(*[ConnectionResetError() for _ in range(8)])
    assert RetryPolicy(retries=8, backoff=0.2, max_backoff=0.5).call(fn) == "ok"
    assert len(sleeps) == 8
    assert all(0 <= d <= min(0.5, 0.2 * 2**i) for i, d in enumerate(sleeps))


def test_acall_retries_and_honours_retry_after(sleeps):
    fn = Flaky(ConnectionResetError(), TransientError("busy", retry_after=1.25), StatusError(503))

    async def main():
        return await RetryPolicy(retries=3, backoff=0.001, max_backoff=0.01).acall(fn.acall, "x", y=1)

    assert asyncio.run(main()) == "ok"
    assert fn.calls == 4
    assert fn.args == (("x",), {"y": 1})
    assert len(sleeps) == 3
    assert 1.25 <= sleeps[1] <= 1.26


def test_acall_gives_up_and_never_retries_permanent(sleeps):
    async def main():
        fn = Flaky(*[TimeoutError(str(i)) for i in range(5)])
        with pytest.raises(TimeoutError, match="2"):
            await RetryPolicy(retries=2).acall(fn.acall)
        assert fn.calls == 3
        fn2 = Flaky(FileNotFoundError(PATH))
        with pytest.raises(FileNotFoundError):
            await RetryPolicy(retries=2).acall(fn2.acall)
        assert fn2.calls == 1

    asyncio.run(main())
    assert len(sleeps) == 2


def test_acall_really_sleeps_without_patch():
    fn = Flaky(ConnectionResetError())

    async def main():
        return await RetryPolicy(retries=1, backoff=0.001, max_backoff=0.001).acall(fn.acall)

    assert asyncio.run(main()) == "ok"
    assert fn.calls == 2


def test_acall_classifier(sleeps):
    class Custom(Exception):
        pass

    fn = Flaky(Custom())

    async def main():
        return await RetryPolicy(retries=1).acall(fn.acall, classifier=lambda e: Fault(Kind.TRANSIENT))

    assert asyncio.run(main()) == "ok"
    assert fn.calls == 2


# ------------------------------------------------------------------------------------------ from_option


def test_from_option_none_is_default():
    assert RetryPolicy.from_option(None) == RetryPolicy()


def test_from_option_int():
    assert RetryPolicy.from_option(3) == RetryPolicy(retries=3)
    assert RetryPolicy.from_option(0).retries == 0


def test_from_option_dict():
    p = RetryPolicy.from_option({"retries": 2, "backoff": 0.5, "max_backoff": 4, "max_retry_after": 9})
    assert p == RetryPolicy(retries=2, backoff=0.5, max_backoff=4, max_retry_after=9)
    assert RetryPolicy.from_option({}) == RetryPolicy()


def test_from_option_policy_passthrough():
    p = RetryPolicy(retries=7)
    assert RetryPolicy.from_option(p) is p


@pytest.mark.parametrize("bad", [True, False, "5", 2.5, [3], {"retries": 3, "jitter": True}, {"tries": 1}])
def test_from_option_rejects(bad):
    with pytest.raises(ValueError):
        RetryPolicy.from_option(bad)


def test_from_option_unknown_key_message():
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy.from_option({"jitter": 1})

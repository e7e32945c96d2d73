"""The small HTTP layer every API source shares: client, rate limiter, retries, URL scrubbing, error classes.

Usage (``Source`` subclasses hold one ``ApiClient`` each)::

    limiter = RateLimiter(per_minute=60)                     # one per source per run (or RateLimiter.per_second)
    with ApiClient("Finnhub", base_url, headers={"X-Finnhub-Token": key}, secrets=[key], limiter=limiter) as api:
        data = api.get_json("/crypto/candle", params={...})  # or an absolute URL on the same host (pagination)

``get_json`` waits for the limiter before every attempt, retries ``RetryableError`` (429, 5xx, timeouts,
connection errors) with exponential backoff (``API_RETRY_BACKOFF_SECONDS`` base, ``API_RETRY_ATTEMPTS``
attempts) and raises one of the ``ApiError`` subclasses below. 401 and 403 are never retried. A 429 or 503
with ``Retry-After`` waits what the server asks (at most ``API_RETRY_AFTER_MAX_SECONDS``); a 429 without it
waits ``rate_limit_wait`` seconds when the source knows its rate window (Massive: 60 s). Every message passes
through ``scrub``: neither the key nor a key-bearing query parameter reaches a message.

Keys go only where they belong: the headers (and so the key) are sent only to the configured host of the
source (``base_url``'s scheme, host and port). A redirect, or an absolute URL such as Massive's ``next_url``,
that points at another host is refused with a clear ``ForeignHostError``, before anything is sent there.

APIs that report errors inside a successful answer (Kraken: HTTP 200 with an ``error`` array) pass
``check_body``: it sees every decoded answer and may raise a ``RetryableError`` (retried) or another
``ApiError`` (not retried).

Settings are read with ``setting(NAME, default)``: Django settings first, then the environment.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import SourceError

logger = logging.getLogger(__name__)

# Query parameters that carry a key in some API (Massive ``apiKey``, Finnhub ``token``).
SECRET_PARAMS = frozenset({"apikey", "api_key", "token", "key", "access_token"})
REDACTED = "***"


def setting(name: str, default: Any = None, cast: Callable[[Any], Any] | None = None) -> Any:
    """A Django setting if defined, else the environment variable of the same name, else ``default``."""
    from django.conf import settings

    value = getattr(settings, name, None)
    if value is None or value == "":
        value = os.environ.get(name) or None
    if value is None:
        return default
    if cast is not None:
        try:
            return cast(value)
        except (TypeError, ValueError):
            raise SourceError(f"setting {name}={value!r} is not a valid {cast.__name__}") from None
    return value


class MissingKeyError(SourceError):
    pass


def require_key(variable: str, provider: str) -> str:
    """The API key in ``variable`` (setting or environment), or a clear error naming the variable."""
    key = setting(variable)
    if not key or not str(key).strip():
        raise MissingKeyError(f"{provider} API key missing: set the environment variable {variable}")
    return str(key).strip()


# --- errors -----------------------------------------------------------------------------------------------


class ApiError(SourceError):
    """An HTTP API answered with an error (or not at all)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """401: the key is missing, wrong or revoked. Every further call would fail the same way."""

    fatal = True


class NotEntitledError(ApiError):
    """403: the key is valid but the plan does not include this data."""


class NotFoundError(ApiError):
    pass


class RetryableError(ApiError):
    """Worth another try; ``retry_after``: seconds the server asked to wait (``Retry-After``), if it said."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    pass


class ServerSideError(RetryableError):
    """HTTP 5xx or 408: the server's trouble, worth another try (not ``store.server.ServerError``)."""


class NetworkError(RetryableError):
    pass


class BadResponseError(ApiError):
    pass


class ForeignHostError(ApiError):
    """A redirect or a pagination URL points at a host other than the source's: not followed (the key stays home)."""


MAX_REDIRECTS = 5


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, with the scheme's default port filled in: what "the same host" means."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced and key-bearing query parameters of any URL in it redacted."""

    def redact_url(match: re.Match) -> str:
        url = match.group(0)
        parts = urlsplit(url)
        if not parts.query:
            return url
        query = [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
        return urlunsplit(parts._replace(query=urlencode(query, safe="*:")))

    text = re.sub(r"https?://[^\s'\"<>]+", redact_url, str(text))
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def strip_secret_params(url: str) -> str:
    """``url`` without key-bearing query parameters (e.g. a ``next_url`` that embeds ``apiKey``)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, True) if k.lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- rate limiting ----------------------------------------------------------------------------------------


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _clock() -> float:
    return time.monotonic()


class RateLimiter:
    """At most ``per_minute`` calls in any 60-second window (sliding window), shared by threads."""

    def __init__(self, per_minute: float, *, window: float = 60.0,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.limit = max(1, int(per_minute))
        self.window = window
        self.clock = clock or (lambda: _clock())
        self.sleep = sleep or (lambda seconds: _sleep(seconds))
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    @classmethod
    def per_second(cls, rate: float, **kwargs) -> RateLimiter:
        """At most ``rate`` calls per second, spaced evenly (one call per ``1 / rate`` seconds)."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        return cls(1, window=1.0 / rate, **kwargs)

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                while self._calls and now - self._calls[0] >= self.window:
                    self._calls.popleft()
                if len(self._calls) < self.limit:
                    self._calls.append(now)
                    return
                delay = self.window - (now - self._calls[0])
            if delay > 1:
                logger.info("rate limit: waiting %.1fs", delay)
            self.waited += delay
            self.sleep(delay)


# --- the client -------------------------------------------------------------------------------------------


def _body_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(data, dict):
        for field in ("error", "message", "detail"):
            if data.get(field):
                return str(data[field])[:300]
    return ""


class ApiClient:
    """GET JSON from one API (one host) with a shared limiter, retries and key-free error messages."""

    def __init__(self, provider: str, base_url: str, *, headers: Mapping[str, str] | None = None,
                 secrets: Iterable[str] = (), limiter: RateLimiter | None = None,
                 attempts: int | None = None, backoff: float | None = None, timeout: float | None = None,
                 backoff_max: float | None = None, rate_limit_wait: float | None = None,
                 retry_after_max: float | None = None, explain: Mapping[int, str] | None = None,
                 check_body: Callable[[Any], None] | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.provider = provider
        self.base_url = base_url.rstrip("/") + "/"
        self.origin = origin(self.base_url)
        self.secrets = tuple(s for s in secrets if s)
        self.limiter = limiter
        self.attempts = attempts if attempts is not None else setting("API_RETRY_ATTEMPTS", 5, int)
        self.backoff = backoff if backoff is not None else setting("API_RETRY_BACKOFF_SECONDS", 1.0, float)
        self.backoff_max = backoff_max if backoff_max is not None else max(self.backoff * 32, 0)
        # A 429 without Retry-After: wait this long when the source knows its rate window (None: backoff only).
        self.rate_limit_wait = rate_limit_wait
        self.retry_after_max = (retry_after_max if retry_after_max is not None
                                else setting("API_RETRY_AFTER_MAX_SECONDS", 300.0, float))
        timeout = timeout if timeout is not None else setting("API_TIMEOUT_SECONDS", 30.0, float)
        self.explain = dict(explain or {})
        self.check_body = check_body
        self.sleep = sleep or (lambda seconds: _sleep(seconds))
        self.requests = 0
        # Redirects are followed by hand (``_get_once``) so that the headers never leave the source's host.
        self._http = httpx.Client(headers=dict(headers or {}), timeout=timeout, transport=transport,
                                  follow_redirects=False)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def url(self, path_or_url: str) -> str:
        """An absolute URL on the source's host; a URL elsewhere is refused (``ForeignHostError``)."""
        if path_or_url.startswith(("http://", "https://")):
            url = strip_secret_params(path_or_url)
            self._check_host(url, "a pagination URL")
            return url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def _check_host(self, url: str, what: str) -> None:
        if origin(url) != self.origin:
            scheme, host, port = origin(url)
            raise ForeignHostError(self.scrub(
                f"{self.provider} sent {what} to another host ({scheme}://{host}:{port}); not following it, "
                f"so the key is only ever sent to {self.origin[1]}:{self.origin[2]}"))

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None, *, what: str = "") -> Any:
        """The decoded JSON body of a GET; raises an ``ApiError`` subclass (retryable ones after retrying)."""
        url = self.url(path_or_url)
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._get_once, url, params, what)

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: what the server asked, a full rate window, or exponential backoff."""
        backoff = wait_exponential(multiplier=self.backoff, min=0, max=self.backoff_max)(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(max(backoff, exc.retry_after), self.retry_after_max)
        if isinstance(exc, RateLimitedError) and self.rate_limit_wait is not None:
            return max(backoff, self.rate_limit_wait)
        return backoff

    def _log_retry(self, state) -> None:
        exc = state.outcome.exception()
        wait = state.next_action.sleep if state.next_action else 0
        logger.warning("%s: %s; retry %d of %d in %.1fs", self.provider, exc, state.attempt_number,
                       self.attempts - 1, wait)

    def _get_once(self, url: str, params: Mapping[str, Any] | None, what: str) -> Any:
        if self.limiter is not None:
            self.limiter.acquire()
        self.requests += 1
        subject = f" for {what}" if what else ""
        try:
            response = self._http.get(url, params=params)
            for _ in range(MAX_REDIRECTS):
                if not response.is_redirect:
                    break
                target = urljoin(str(response.url), response.headers.get("location", ""))
                self._check_host(target, f"a redirect{subject}")
                response = self._http.get(target)
            else:
                if response.is_redirect:
                    raise BadResponseError(self.scrub(f"{self.provider} redirected{subject} more than "
                                                      f"{MAX_REDIRECTS} times"), response.status_code)
        except httpx.TimeoutException as exc:
            raise NetworkError(self.scrub(f"{self.provider} timed out{subject} ({type(exc).__name__})")) from None
        except httpx.HTTPError as exc:
            raise NetworkError(self.scrub(f"{self.provider} request{subject} failed: {type(exc).__name__}: {exc}")) \
                from None
        status = response.status_code
        if status < 300:
            try:
                data = response.json()
            except ValueError:
                raise BadResponseError(self.scrub(f"{self.provider} sent a non-JSON answer{subject}"), status) \
                    from None
            if self.check_body is not None:
                self.check_body(data)
            return data
        detail = _body_message(response)
        detail = f": {detail}" if detail else ""
        hint = self.explain.get(status, "")
        hint = f" ({hint})" if hint else ""
        message = self.scrub(f"{self.provider} HTTP {status}{subject}{detail}{hint}")
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status == 401:
            raise AuthenticationError(message, status)
        if status == 403:
            raise NotEntitledError(message, status)
        if status == 404:
            raise NotFoundError(message, status)
        if status == 429:
            raise RateLimitedError(message, status, retry_after)
        if status >= 500 or status == 408:
            raise ServerSideError(message, status, retry_after)
        raise ApiError(message, status)

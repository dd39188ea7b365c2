"""The one shared HTTP layer of every backend: clients, base-URL overrides, retries and error classification.
Secret redaction lives in :mod:`.redaction`, streaming downloads in :mod:`.downloads`.

Retry rules (one :class:`RetryPolicy`, shared by every backend):

* Retried: HTTP 408, 409, 429 and 5xx, and transport failures (:class:`httpx.TransportError`: connection refused,
  reset, timeouts, a body cut short). A server's ``x-should-retry: true|false`` (OpenAI) overrides the status rule.
* The wait honours ``retry-after-ms``, then ``Retry-After`` (seconds or an HTTP-date), then the vendor's own hint in
  the body where the policy has a ``retry_hint`` reader (Google's ``RetryInfo.retryDelay``); otherwise it is
  exponential back-off with full jitter from 0.5 s (from ``rate_floor_s``, doubling, for a 429 when the vendor asks
  for a minimum wait: Kling's 1 s). No single wait exceeds ``max_wait_s`` (120 s); at most ``max_attempts`` (5)
  attempts are made.
* A policy's ``give_up`` predicate marks answers that are final whatever their status: a 429 that says the account
  is out of credits or has no quota (Kling's 1101 / 1102, OpenAI's ``insufficient_quota``, Google's "limit: 0"), as
  waiting refills nothing. Adapters configure the shared policy with these (``dataclasses.replace``), never
  subclass it.
* Idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) are always retried. A POST is retried only when resending it
  cannot create a second job (and a second bill):

  - ``retry_safe=True``: the caller knows the vendor contract makes a duplicate impossible (an idempotency key the
    vendor honours, or an endpoint that creates nothing);
  - otherwise only when the request provably never reached the server: a connect error or connect / pool timeout
    (nothing was sent), or a response that the caller's ``refused`` predicate recognises as a refusal issued before
    the vendor accepted the work (fal's 429, or a 502/503/504 from fal's ingress that carries no
    ``x-fal-request-id``), or a response whose ``x-should-retry: true`` says the server itself vouches for a
    resend. A read timeout or a 500 after a POST is never retried otherwise: the job may exist.

The retry budget of one request, in one place (tested in ``tests/core/test_retry_budget.py``): this layer is the
only one that retries a request. At most :data:`MAX_SENDS_PER_REQUEST` sends (``max_attempts``), so at most
``max_attempts - 1`` waits, none longer than :data:`LONGEST_WAIT_S` (``max_wait_s``): at most
:data:`MAX_WAIT_PER_REQUEST_S` of waiting in all. A download is one request (each attempt restarts the stream).
The runner adds no loop around a submit, a poll or a download, with two documented exceptions that are not retries
of a request: polling a job that is still queued or running (the vendor's own queue; failed polls give up after
``runner.MAX_OUTAGE_S`` and the job stays journalled), and a submit the vendor turned away because the account's
own queue is full (``BackendError.queue_full``: Kling's 1303 "parallel task over resource pack limit"), sent again
every :data:`QUEUE_WAIT_STEP_S` at most, for at most :data:`QUEUE_WAIT_MAX_S`, each time with this same budget.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .. import __version__
from .backend import BackendError, ErrorKind
from .redaction import install_redaction, redact, register_secret

USER_AGENT = f"blender-canvas/{__version__}"
MAX_SENDS_PER_REQUEST = 5  # == RetryPolicy.max_attempts
LONGEST_WAIT_S = 120.0  # == RetryPolicy.max_wait_s
MAX_WAIT_PER_REQUEST_S = (MAX_SENDS_PER_REQUEST - 1) * LONGEST_WAIT_S
QUEUE_WAIT_STEP_S = 30.0  # a vendor's full account queue: how long between two submits
QUEUE_WAIT_MAX_S = 30 * 60.0  # ... and for how long in all before the take fails
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

log = logging.getLogger(__name__)
install_redaction(log)


# --- clients and base URLs -----------------------------------------------------------------------------------------


def make_client(backend_id: str, *, timeout: httpx.Timeout | None = None) -> httpx.Client:
    """An HTTP client for one backend: sane timeouts, our User-Agent, and no automatic redirects (an API answering
    with a redirect is a surprise we report, and credentials must never follow one to another host)."""
    return httpx.Client(
        verify=_ssl_context(),
        timeout=timeout or DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        event_hooks={"request": [_log_request(backend_id)]},
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (building one reads the CA bundle, ~50 ms each time)."""
    return httpx.create_ssl_context()


def _log_request(backend_id: str) -> Callable[[httpx.Request], None]:
    def hook(request: httpx.Request) -> None:
        log.debug("%s: %s %s", backend_id, request.method, redact(str(request.url.copy_with(query=None))))

    return hook


def env_var(backend_id: str) -> str:
    """``BLENDER_CANVAS_<BACKEND>_URL`` for a backend id (upper-cased, non-alphanumerics as underscores)."""
    return "BLENDER_CANVAS_" + re.sub(r"[^A-Z0-9]", "_", backend_id.upper()) + "_URL"


def override(backend_id: str) -> str | None:
    value = os.environ.get(env_var(backend_id), "").strip()
    return value.rstrip("/") or None


def rehost(url: str, backend_id: str, *, hosts: Collection[str] | None = None) -> str:
    """``url`` with its scheme and host(+port) replaced by the backend's ``BLENDER_CANVAS_<BACKEND>_URL``, if set.

    The path, query and fragment are kept (a path in the override, e.g. a proxy mounted under ``/fal``, is put in
    front of the original path). With ``hosts``, only URLs on one of those hosts (or already on the override's host)
    are rewritten: a pre-signed CDN URL on another host is returned as the vendor gave it.
    """
    target = override(backend_id)
    if not target:
        return url
    parts = urlsplit(url)
    new = urlsplit(target if "://" in target else f"http://{target}")
    if hosts is not None and (parts.hostname or "").lower() not in {h.lower() for h in hosts}:
        return url
    prefix = new.path.rstrip("/")
    already = parts.path == prefix or parts.path.startswith(prefix + "/")
    path = parts.path if not prefix or already else prefix + parts.path
    return urlunsplit((new.scheme, new.netloc, path, parts.query, parts.fragment))


def base_url(backend_id: str, default: str) -> str:
    """The backend's base URL: ``default`` rehosted by the environment override, without a trailing slash."""
    return rehost(default, backend_id).rstrip("/")


def auth_allowed(url: str, allowed: Collection[str]) -> bool:
    """Whether credentials may go to ``url``: its ``host:port`` is listed, or its bare host is listed and the URL
    uses the scheme's default port."""
    parts = urlsplit(url)
    here = origin(url)
    if here in allowed:
        return True
    default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
    return default_port and (parts.hostname or "").lower() in allowed


def require_keys(keys: Mapping[str, str], label: str, *names: str) -> tuple[str, ...]:
    """The values of ``names`` in ``keys`` (stripped), each registered for redaction before anything can print it;
    any missing is an AUTH error naming every missing variable and where keys go."""
    values = tuple((keys.get(name) or "").strip() for name in names)
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise BackendError(ErrorKind.AUTH, f"{label} needs {' and '.join(missing)} (add-on preferences or "
                                           "environment)")
    for value in values:
        register_secret(value)
    return values


def require_key(keys: Mapping[str, str], label: str, name: str) -> str:
    """One key: see :func:`require_keys`."""
    return require_keys(keys, label, name)[0]


def origin(url: str) -> str:
    """``host:port`` of a URL (lower-case, default port filled in): what :func:`download`'s auth check compares."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


# --- retries -------------------------------------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP-date), else None."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000.0)
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; ``sleep`` and ``rng`` are injectable so tests never wait for real."""

    max_attempts: int = MAX_SENDS_PER_REQUEST
    max_wait_s: float = LONGEST_WAIT_S
    base_s: float = 0.5
    max_backoff_s: float = 30.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)
    give_up: Callable[[httpx.Response], bool] | None = field(default=None, compare=False)  # final whatever the status
    retry_hint: Callable[[httpx.Response], float | None] | None = field(default=None, compare=False)  # from the body
    rate_floor_s: float = 0.0  # a 429 without any hint waits at least this, doubling per attempt

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, base * 2**(attempt-1))]; attempt counts from 1."""
        ceiling = min(self.max_backoff_s, self.base_s * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(0.0, ceiling)

    def wait_for(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            hinted = parse_retry_after(response.headers)
            if hinted is None and self.retry_hint is not None:
                hinted = self.retry_hint(response)
            if hinted is not None:
                return min(hinted, self.max_wait_s)
            if response.status_code == 429 and self.rate_floor_s > 0:
                floor = min(self.max_backoff_s, self.rate_floor_s * 2 ** max(0, attempt - 1))
                return min(self.max_wait_s, floor * (1.0 + self.rng.uniform(0.0, 0.25)))
        return min(self.backoff(attempt), self.max_wait_s)

    def should_retry_status(self, response: httpx.Response) -> bool:
        if self.give_up is not None and self.give_up(response):
            return False
        hint = response.headers.get("x-should-retry", "").strip().lower()
        if hint == "true":
            return True
        if hint == "false":
            return False
        return response.status_code in self.retry_statuses


DEFAULT_POLICY = RetryPolicy()

# errors raised before any byte of the request left this machine
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def send(client: httpx.Client, method: str, url: str, *, policy: RetryPolicy | None = None, retry_safe: bool = False,
         refused: Callable[[httpx.Response], bool] | None = None, backend_label: str = "",
         **kwargs: Any) -> httpx.Response:
    """Send one request through the retry policy and return the last response, whatever its status.

    Transport failures that survive the retries raise a retryable ``BackendError(NETWORK)``. See the module docstring
    for when a POST is retried; ``refused`` marks responses that prove the vendor turned a POST away unprocessed.
    """
    policy = policy or DEFAULT_POLICY
    method = method.upper()
    idempotent = method in IDEMPOTENT_METHODS or retry_safe
    label = backend_label or urlsplit(url).hostname or "server"
    attempt = 0
    while True:
        attempt += 1
        last = attempt >= policy.max_attempts
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if last or not (idempotent or isinstance(exc, _NEVER_SENT)):
                raise network_error(exc, label) from None
            wait = policy.wait_for(attempt, None)
            log.info("%s: %s %s failed (%s); retry %d in %.1f s", label, method, _short(url),
                     type(exc).__name__, attempt, wait)
            policy.sleep(wait)
            continue
        if response.status_code < 400 or last or not policy.should_retry_status(response):
            return response
        server_says_safe = response.headers.get("x-should-retry", "").strip().lower() == "true"
        if not idempotent and not server_says_safe and not (refused is not None and refused(response)):
            return response
        wait = policy.wait_for(attempt, response)
        response.read()
        response.close()
        log.info("%s: %s %s answered HTTP %d; retry %d in %.1f s", label, method, _short(url),
                 response.status_code, attempt, wait)
        policy.sleep(wait)


def _short(url: str) -> str:
    return redact(url.split("?", 1)[0])


def network_error(exc: BaseException, label: str) -> BackendError:
    kind = type(exc).__name__
    detail = redact(str(exc)) or kind
    return BackendError(ErrorKind.NETWORK, f"{label}: network error ({kind}): {detail}")


# --- error classification ------------------------------------------------------------------------------------------


def _json(response: httpx.Response) -> Any:
    try:
        response.read()
        return response.json()
    except (ValueError, httpx.HTTPError):
        return None


def _describe_item(item: Any) -> str:
    """One entry of a FastAPI-style validation list: 'prompt: field required'."""
    if not isinstance(item, dict):
        return str(item)
    msg = str(item.get("msg") or item.get("message") or item.get("detail") or "")
    loc = item.get("loc")
    if isinstance(loc, list | tuple):
        path = ".".join(str(p) for p in loc if p not in ("body", "query", "path"))
        if path:
            return f"{path}: {msg}" if msg else path
    return msg or json.dumps(item)[:200]


def vendor_message(response: httpx.Response) -> tuple[str, str | None]:
    """The vendor's own message and error code from the common JSON error shapes (redacted)."""
    body = _json(response)
    message = ""
    code: str | None = None
    if isinstance(body, list):
        body = {"detail": body}
    if isinstance(body, dict):
        detail = body.get("detail")
        error = body.get("error")
        if isinstance(detail, str):
            message = detail
        elif isinstance(detail, list):
            message = "; ".join(_describe_item(i) for i in detail)
            types = [i.get("type") for i in detail if isinstance(i, dict) and i.get("type")]
            code = str(types[0]) if types else None
        elif isinstance(detail, dict):
            message = str(detail.get("message") or detail.get("msg") or detail.get("status") or json.dumps(detail))
            code = detail.get("code") or detail.get("status") or detail.get("type")
        if not message and isinstance(error, dict):
            message = str(error.get("message") or "")
            code = code or error.get("code") or error.get("type")
        elif not message and isinstance(error, str):
            message = error
        if not message and isinstance(body.get("message"), str):
            message = body["message"]
        code = code or body.get("error_type") or body.get("code")
    if not message:
        with contextlib.suppress(httpx.HTTPError, UnicodeDecodeError):
            message = response.text.strip()[:300]
    code = code or response.headers.get("x-fal-error-type")
    return redact(message), (redact(str(code)) if code else None)


def _moderation(response: httpx.Response) -> ErrorKind | None:
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else body
    items = detail if isinstance(detail, list) else [detail] if isinstance(detail, dict) else []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "content_policy_violation":
            loc = item.get("loc") or []
            on_input = not loc or (isinstance(loc, list | tuple) and loc and loc[0] == "body")
            return ErrorKind.MODERATED_INPUT if on_input else ErrorKind.MODERATED_OUTPUT
    if isinstance(body, dict) and body.get("error_type") == "content_policy_violation":
        return ErrorKind.MODERATED_INPUT
    return None


def error_for(response: httpx.Response, backend_label: str) -> BackendError:
    """Classify a failed response into a BackendError carrying the vendor's (redacted) message."""
    status = response.status_code
    message, code = vendor_message(response)
    retry_after: float | None = None
    moderated = _moderation(response) if status in (400, 422) else None
    if moderated is not None:
        kind, what = moderated, "the content was flagged"
    elif status in (401, 403):
        kind, what = ErrorKind.AUTH, "the API key was rejected; check it in the add-on preferences or environment"
    elif status == 402:
        kind, what = ErrorKind.OUT_OF_CREDITS, "the account is out of credits"
    elif status == 429:
        kind, what = ErrorKind.RATE_LIMITED, "rate limited"
        retry_after = parse_retry_after(response.headers)
    elif status in (400, 404, 422):
        kind, what = ErrorKind.INVALID_REQUEST, "the request was rejected"
    elif status == 410:
        kind, what = ErrorKind.RESULT_EXPIRED, "the result has expired"
    elif status == 408:
        kind, what = ErrorKind.NETWORK, "the request timed out"
    elif status >= 500 or status == 409:
        kind, what = ErrorKind.VENDOR_DOWN, "the service is unavailable"
        retry_after = parse_retry_after(response.headers)
    else:
        kind, what = ErrorKind.UNKNOWN, "unexpected answer"
    text = f"{backend_label}: {what} (HTTP {status})"
    if message:
        text += f": {message}"
    return BackendError(kind, redact(text), status=status, vendor_code=code, retry_after_s=retry_after)


def check(response: httpx.Response, backend_label: str) -> httpx.Response:
    """``response`` if it succeeded; otherwise raise :func:`error_for`. A redirect is reported, never followed."""
    if response.status_code >= 400:
        raise error_for(response, backend_label)
    if 300 <= response.status_code < 400:
        raise BackendError(ErrorKind.UNKNOWN, f"{backend_label}: unexpected redirect (HTTP {response.status_code})",
                           status=response.status_code)
    return response

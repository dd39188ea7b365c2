""""Test connection": one cheap, authenticated, non-billable call per backend, reported in plain words.

Each adapter's ``check_connection`` names its call and how to read the answer, and :func:`probe` does the rest:
it times the call, and turns what came back into a :class:`~.backend.ConnectionReport` whose message says what to
fix (the key and where it lives, the host that cannot be reached, the vendor being down). The check is made once,
without retries (a diagnosis reports what it saw) and with short timeouts. :func:`check_backend` is the bpy-free
entry point for the add-on's preferences and the command line.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from . import http, redaction
from .backend import BackendError, ConnectionCheck, ConnectionReport, ErrorKind

CHECK_POLICY = http.RetryPolicy(max_attempts=1)
CHECK_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
# what an adapter passes to its own ``_send`` for the check call: one attempt, short timeouts
CHECK: dict[str, Any] = {"policy": CHECK_POLICY, "timeout": CHECK_TIMEOUT}

Said = tuple[str, dict[str, str]]  # (what the answer says, in a few words; account details to show)


def probe(backend: str, label: str, fix: str, method: str, url: str, send: Callable[[], httpx.Response],
          read: Callable[[httpx.Response], Said], *, classify: Callable[[httpx.Response], BackendError] | None = None,
          accepted: Callable[[httpx.Response], str | None] | None = None) -> ConnectionReport:
    """Make the check call ``send`` (a ``method`` on ``url``) and report.

    ``read`` turns a 2xx answer into words (raising ``ValueError`` / ``KeyError`` / ``TypeError`` / a pydantic error
    when the answer is not the vendor's, or a ``BackendError`` the vendor put in a 200); ``classify`` turns an error
    answer into the adapter's own ``BackendError`` (default :func:`http.error_for`); ``accepted`` may recognise an
    error answer that still proves the key good (a scoped key), returning what to say. ``fix`` names the keys to
    check when the vendor refuses them.
    """
    parts = urlsplit(url)
    host = f"{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    base: dict[str, Any] = {"backend": backend, "endpoint": f"{method.upper()} {parts.path or '/'}", "host": host}
    started = time.perf_counter()
    try:
        response = send()
    except BackendError as error:
        return _failed(base, label, fix, error, None)
    latency = round((time.perf_counter() - started) * 1000.0, 1)
    base["latency_ms"] = latency
    status = response.status_code
    if 300 <= status < 400:
        return ConnectionReport(**base, ok=False, status=status, error_kind=ErrorKind.UNKNOWN,
                                message=f"{label}: {host} answered with a redirect (HTTP {status}), not like "
                                        f"{label}'s API; check {http.env_var(backend)} if it is set")
    if status >= 400:
        note = accepted(response) if accepted is not None else None
        if note:
            return ConnectionReport(**base, ok=True, status=status, message=redaction.redact(note))
        refused = classify(response) if classify is not None else http.error_for(response, label)
        return _failed(base, label, fix, refused, response)
    try:
        said, account = read(response)
    except BackendError as error:
        return _failed(base, label, fix, error, response)
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return ConnectionReport(**base, ok=False, status=status, error_kind=ErrorKind.VENDOR_DOWN,
                                message=f"{label}: {host} answered HTTP {status}, but not like {label}'s API; check "
                                        f"{http.env_var(backend)} if it is set")
    text = f"{label}: connected, key accepted" + (f"; {said}" if said else "") + f" ({latency:.0f} ms)"
    return ConnectionReport(**base, ok=True, status=status, message=redaction.redact(text),
                            account={k: redaction.redact(v) for k, v in account.items()})


def _failed(base: dict[str, Any], label: str, fix: str, error: BackendError,
            response: httpx.Response | None) -> ConnectionReport:
    status = response.status_code if response is not None else error.status
    said = f" (HTTP {status})" if status else ""
    vendor = http.vendor_message(response)[0] if response is not None else ""
    vendor = "" if vendor.lstrip().startswith("<") else vendor  # an HTML error page says nothing useful
    detail = f": {vendor}" if vendor else ""
    host = base["host"]
    kind = error.kind
    if kind == ErrorKind.AUTH:
        detail = detail or (f": {error.message}" if response is None else "")
        text = f"key rejected by {label}{said}: check {fix} in the add-on preferences or the environment{detail}"
    elif kind == ErrorKind.NETWORK:
        text = f"{label}: cannot reach {host}: {error.message.removeprefix(label + ': ')}"
        if http.override(base["backend"]):
            text += f" ({http.env_var(base['backend'])} points there)"
    elif kind == ErrorKind.VENDOR_DOWN:
        text = f"{label} is down or overloaded{said}; try again later{detail}"
    elif kind == ErrorKind.OUT_OF_CREDITS:
        text = f"{label} accepted the key, but the account is out of credits{said}{detail}"
    elif kind == ErrorKind.RATE_LIMITED:
        text = f"{label} is rate limiting this key{said}; wait a moment and test again{detail}"
    elif response is None:
        text = error.message
    else:
        text = f"{label}: unexpected answer{said} from {host}{detail}"
    return ConnectionReport(**base, ok=False, status=status, error_kind=kind, message=redaction.redact(text))


def check_backend(backend_id: str, keys: Mapping[str, str], work_dir: Path | None = None) -> ConnectionReport:
    """Build the backend from ``keys`` (as a render would) and test its connection; never raises for a missing
    key, a refused key or an unreachable host: those come back as a report that names what to fix."""
    from .registry import build_backend

    try:
        backend = build_backend(backend_id, keys, work_dir or Path(tempfile.gettempdir()) / "blender_canvas-check")
    except BackendError as error:
        return ConnectionReport(backend=backend_id, ok=False, error_kind=error.kind,
                                message=redaction.redact(error.message))
    try:
        if not isinstance(backend, ConnectionCheck):
            return ConnectionReport(backend=backend_id, ok=False, error_kind=ErrorKind.UNKNOWN,
                                    message=f"{backend_id}: this backend has no connection test")
        return backend.check_connection()
    except BackendError as error:
        return ConnectionReport(backend=backend_id, ok=False, error_kind=error.kind,
                                message=redaction.redact(error.message))
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()

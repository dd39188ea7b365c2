"""Secret redaction for everything that may carry vendor text: registered API keys and ``Key …`` / ``Bearer …``
credentials are blanked in strings and in log records (message and exception text) before they reach any handler.
"""

from __future__ import annotations

import logging
import re
import threading

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET_LEN = 6  # shorter strings would blank out ordinary words
# a credential after an auth scheme: at least 12 token characters including a digit ("API key was" stays)
_AUTH_VALUE = re.compile(r"\b(Key|Bearer|Token|Basic)(\s+)(?=[^\s\"',;]*\d)[A-Za-z0-9._~+/=:\-]{12,}",
                         re.IGNORECASE)
# "Authorization: <anything>" as it appears in dumped headers
_AUTH_HEADER = re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a secret (an API key) so :func:`redact` blanks it wherever it appears."""
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        _secrets.add(value)
        # key_id:key_secret pairs (fal) leak as halves too
        for part in value.split(":"):
            if len(part) >= _MIN_SECRET_LEN:
                _secrets.add(part)


def redact(text: str) -> str:
    """``text`` with every registered secret, and every ``Key …`` / ``Bearer …`` credential, replaced by ``***``."""
    if not text:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}***", text)
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class RedactingFilter(logging.Filter):
    """Redacts the formatted message (and the exception text) of every record it sees; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def install_redaction(logger: logging.Logger) -> logging.Logger:
    """Attach the redacting filter to ``logger`` (a logger's filters do not apply to its children's records, so every
    module logger under ``blender_canvas`` that may carry vendor text should be passed through here)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """A module logger with redaction installed."""
    return install_redaction(logging.getLogger(name))


install_redaction(logging.getLogger("blender_canvas"))

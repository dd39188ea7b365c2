"""Streaming downloads of result files: atomic, size-capped, content-sniffed, with credentials sent only to allowed
hosts and cut connections retried through the shared :class:`~.http.RetryPolicy`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import httpx

from .backend import BackendError, ErrorKind
from .http import DEFAULT_POLICY, RETRY_STATUSES, RetryPolicy, _short, auth_allowed, error_for, network_error
from .redaction import get_logger

MAX_REDIRECTS = 5
CHUNK = 1 << 16

log = get_logger(__name__)

MediaKind = Literal["image", "video", "audio"]


def sniff(head: bytes) -> tuple[MediaKind, str] | None:
    """(media, mime type) of a file from its first bytes, or None when it is none of the formats we accept."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "audio", "audio/mp4"
        if brand == b"qt  ":
            return "video", "video/quicktime"
        return "video", "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video", "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "video/webm"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "audio", "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio", "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac"
    return None


def _accepts(media: MediaKind, found: MediaKind, mime: str) -> bool:
    if found == media:
        return True
    # an MP4 container holding only sound is still an acceptable audio file
    return media == "audio" and mime == "video/mp4"


class _Retry(Exception):
    def __init__(self, error: BackendError, response: httpx.Response | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.response = response


def download(client: httpx.Client, url: str, dest: Path, *, media: MediaKind, max_bytes: int,
             auth_headers: Mapping[str, str] | None = None, allowed_auth_hosts: Iterable[str] = (),
             policy: RetryPolicy | None = None, backend_label: str = "download") -> Path:
    """Stream ``url`` to ``dest`` atomically and return ``dest``.

    The body goes to a temporary file beside ``dest``; the size cap is enforced while streaming; the first bytes
    must be a ``media`` file (sniffed, not trusted from Content-Type); only then is it moved into place with
    :func:`os.replace`. ``auth_headers`` are sent only to URLs allowed by ``allowed_auth_hosts`` (entries are
    ``host:port`` as :func:`origin` gives, or a bare host meaning its default port), re-checked on every redirect
    hop, so a pre-signed URL on another host never sees the key. A cut connection is retried through the policy, each
    attempt restarting the stream; when the retries run out a ``BackendError(NETWORK)`` is raised and ``dest`` is
    untouched.
    """
    policy = policy or DEFAULT_POLICY
    allowed = {h.lower() for h in allowed_auth_hosts}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        attempt += 1
        try:
            return _download_once(client, url, dest, media=media, max_bytes=max_bytes, auth_headers=auth_headers,
                                  allowed=allowed, label=backend_label)
        except _Retry as retry:
            if attempt >= policy.max_attempts:
                raise retry.error from None
            wait = policy.wait_for(attempt, retry.response)
            log.info("%s: download of %s failed (%s); retry %d in %.1f s", backend_label, _short(url),
                     retry.error.message, attempt, wait)
            policy.sleep(wait)


def _download_once(client: httpx.Client, url: str, dest: Path, *, media: MediaKind, max_bytes: int,
                   auth_headers: Mapping[str, str] | None, allowed: set[str], label: str) -> Path:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        headers = dict(auth_headers) if auth_headers and auth_allowed(current, allowed) else {}
        try:
            with client.stream("GET", current, headers=headers, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    current = str(response.url.join(response.headers["location"]))
                    continue
                if response.status_code >= 400:
                    raise _download_error(response, label, authed=bool(headers))
                return _stream_to(response, dest, media=media, max_bytes=max_bytes, label=label)
        except httpx.TransportError as exc:
            raise _Retry(network_error(exc, label)) from None
    raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: too many redirects while downloading")


def _download_error(response: httpx.Response, label: str, *, authed: bool) -> Exception:
    status = response.status_code
    if status in (404, 410) or (status == 403 and not authed):
        # a pre-signed URL past its lifetime answers 403 / 404 / 410
        return BackendError(ErrorKind.RESULT_EXPIRED, f"{label}: the result file is no longer available "
                            f"(HTTP {status}); it expired before it was downloaded", status=status)
    error = error_for(response, label)
    if status in RETRY_STATUSES:
        return _Retry(error, response)
    return error


def _stream_to(response: httpx.Response, dest: Path, *, media: MediaKind, max_bytes: int, label: str) -> Path:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{label}: the {media} file is {int(declared)} bytes, "
                           f"over the {max_bytes}-byte limit")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        size = 0
        head = b""
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise BackendError(ErrorKind.INVALID_REQUEST,
                                       f"{label}: the {media} file is over the {max_bytes}-byte limit")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if declared and declared.isdigit() and size != int(declared):
            raise _Retry(BackendError(ErrorKind.NETWORK, f"{label}: the download ended after {size} of "
                                      f"{declared} bytes"))
        found = sniff(head)
        if found is None or not _accepts(media, found[0], found[1]):
            what = f"a {found[0]} file ({found[1]})" if found else "not a media file"
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: expected a {media} file but the download is {what}")
        os.replace(tmp, dest)
        return dest
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise

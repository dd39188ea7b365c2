"""Streaming downloads of result files: atomic, size-capped, content-sniffed, with credentials sent only to allowed
hosts and cut connections retried through the shared :class:`~.http.RetryPolicy`.

Near the wire: the body is taken in the transport's own reads (``iter_raw``, no re-chunking copy) unless it is
content-encoded, written in groups of about :data:`WRITE_GROUP` bytes (one ``writev`` each where the OS has it),
and hashed (sha256) on a helper thread while it streams, so the file is read once: :func:`streamed_sha256` hands the
digest to whoever records the take. ``benchmarks/download.py`` measures it beside a plain loopback copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import httpcore
import httpx

from .backend import BackendError, ErrorKind
from .http import DEFAULT_POLICY, RETRY_STATUSES, RetryPolicy, _short, auth_allowed, error_for, network_error
from .redaction import get_logger

MAX_REDIRECTS = 5
CHUNK = 1 << 16  # the read size for a content-encoded body (decoded by httpx)
READ_SIZE = 1 << 20  # one read off the connection for a plain body of known length
WRITE_GROUP = 1 << 20  # bytes gathered from the transport's reads before one write and one hash hand-off
HASH_QUEUE = 8  # groups waiting for the hasher at most: the memory a download holds stays ~8 MiB
_REMEMBERED = 256  # digests of finished downloads kept for streamed_sha256

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
    hasher = _Hasher()
    encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    in_memory = response.is_stream_consumed  # a body already read (a test transport): nothing left to be cut
    try:
        size = 0
        head = b""
        try:
            group: list[bytes] = []
            grouped = 0
            for chunk in _body(response, encoded=encoded or in_memory, declared=declared):
                size += len(chunk)
                if size > max_bytes:
                    raise BackendError(ErrorKind.INVALID_REQUEST,
                                       f"{label}: the {media} file is over the {max_bytes}-byte limit")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                group.append(chunk)
                grouped += len(chunk)
                if grouped >= WRITE_GROUP:
                    hasher.feed(group)
                    _write_all(fd, group)
                    group, grouped = [], 0
            if group:
                hasher.feed(group)
                _write_all(fd, group)
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = hasher.hexdigest()
        # as sent: Content-Length counts a content-encoded body encoded
        received = response.num_bytes_downloaded if encoded and not in_memory else size
        if declared and declared.isdigit() and received != int(declared):
            raise _Retry(BackendError(ErrorKind.NETWORK, f"{label}: the download ended after {received} of "
                                      f"{declared} bytes"))
        found = sniff(head)
        if found is None or not _accepts(media, found[0], found[1]):
            what = f"a {found[0]} file ({found[1]})" if found else "not a media file"
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: expected a {media} file but the download is {what}")
        os.replace(tmp, dest)
        _sync_folder(dest.parent)
        _remember(dest, digest)
        return dest
    except BaseException:
        hasher.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _body(response: httpx.Response, *, encoded: bool, declared: str | None) -> Iterator[bytes]:
    """The body in big reads straight off the connection where that is sound, else as httpx gives it.

    A plain HTTP/1.1 body of known length is read from the connection's own stream (httpcore's public
    ``network_stream`` extension) in reads of up to :data:`READ_SIZE`, after the first piece h11 hands out (which
    empties what h11 had buffered past the headers); the connection is then closed, not reused, as h11 never saw
    the body end. A content-encoded body is decoded by httpx; a chunked one is taken in the transport's own reads.
    """
    if encoded:
        yield from response.iter_bytes(CHUNK)
        return
    stream = response.extensions.get("network_stream")
    length = int(declared) if declared and declared.isdigit() else None
    if stream is None or length is None or response.http_version != "HTTP/1.1" \
            or not callable(getattr(stream, "read", None)):
        yield from response.iter_raw()
        return
    # kept open while the body is read: closing this generator would close the connection under the reads below
    pieces = response.iter_raw()
    first = next(pieces, b"")
    got = len(first)
    if first:
        yield first
    timeout = (response.request.extensions.get("timeout") or {}).get("read")
    while got < length:
        try:
            block = stream.read(min(READ_SIZE, length - got), timeout)
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading the body", request=response.request) from None
        except httpcore.NetworkError as exc:
            raise httpx.ReadError(str(exc) or "the connection failed", request=response.request) from None
        if not block:
            raise httpx.RemoteProtocolError(f"peer closed connection after {got} of {length} bytes of the body",
                                            request=response.request)
        got += len(block)
        yield block


def _write_all(fd: int, blocks: list[bytes]) -> None:
    """Write ``blocks`` in one ``writev`` where the OS has it (a short write continues where it stopped)."""
    if not hasattr(os, "writev") or len(blocks) == 1:
        data = memoryview(blocks[0] if len(blocks) == 1 else b"".join(blocks))
        while data:
            data = data[os.write(fd, data):]
        return
    total = sum(len(b) for b in blocks)
    written = os.writev(fd, blocks)
    if written < total:  # rare (a signal, a full disk about to fail): finish the rest plainly
        _write_all(fd, [b"".join(blocks)[written:]])


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the folder); Windows has no folder handle to sync."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


class _Hasher:
    """sha256 of a body on its own thread while the body is written (hashlib lets go of the GIL for big blocks)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(HASH_QUEUE)
        self._thread = threading.Thread(target=self._run, daemon=True, name="canvas-download-hash")
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while (blocks := self._queue.get()) is not None:
            for block in blocks:
                self._digest.update(block)

    def feed(self, blocks: list[bytes]) -> None:
        self._queue.put(blocks)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()


_digests: dict[str, tuple[int, int, str]] = {}
_digests_lock = threading.Lock()


def _remember(path: Path, digest: str) -> None:
    stat = path.stat()
    with _digests_lock:
        _digests.pop(str(path), None)
        _digests[str(path)] = (stat.st_size, stat.st_mtime_ns, digest)
        while len(_digests) > _REMEMBERED:
            _digests.pop(next(iter(_digests)))


def streamed_sha256(path: Path) -> str | None:
    """The sha256 computed while ``path`` was downloaded, if the file is still the one that was written (same size
    and modification time); None otherwise (the caller hashes the file itself). Taken once: the entry is dropped."""
    with _digests_lock:
        entry = _digests.pop(str(path), None)
    if entry is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    size, mtime_ns, digest = entry
    return digest if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns) else None

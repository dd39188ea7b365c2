"""The shared shape of synchronous text-to-speech backends (ElevenLabs, Fish Audio): one POST answers with the
audio, so the job is finished when ``submit`` returns; the audio is written atomically into the work folder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from . import connection, downloads, http, redaction
from .adapter import VendorAdapter
from .backend import (
    Artifact,
    BackendError,
    ConnectionReport,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    RemoteJob,
)

AUDIO_TIMEOUT = httpx.Timeout(connect=10.0, read=240.0, write=60.0, pool=10.0)
MAX_AUDIO_BYTES = 500 << 20
SLOT_WAIT_S = 2.0  # a full concurrency slot: short fixed waits ...
SLOT_ATTEMPTS = 60  # ... many of them (about two minutes)
# transport errors raised before any byte was sent (http._NEVER_SENT): a request that failed so never reached the vendor
NEVER_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol")
_SUFFIX = {"audio/mpeg": ".mp3", "audio/wav": ".wav", "audio/ogg": ".ogg"}
_MODERATION = re.compile(r"moderat|content[ _-]?policy|terms[ _-]?of[ _-]?service|\btos\b|flagged|prohibited",
                         re.IGNORECASE)

log = redaction.get_logger(__name__)


def moderation_kind(code: str | None, message: str) -> ErrorKind | None:
    """MODERATED_INPUT / _OUTPUT when a vendor's code or message speaks of moderation (neither TTS vendor documents
    a code for it, so this reads the words), else None."""
    text = f"{code or ''} {message}"
    if not _MODERATION.search(text):
        return None
    return ErrorKind.MODERATED_OUTPUT if re.search(r"output|generated audio", text, re.IGNORECASE) \
        else ErrorKind.MODERATED_INPUT


def text_of(request: JobRequest, label: str) -> str:
    """The words to speak: ``params["text"]`` (voice nodes), else the prompt; empty text is refused before a request."""
    text = str(request.params.get("text") or request.prompt or "").strip()
    if not text:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{label}: text: there is no text to speak")
    return text


class SyncAudioBackend(VendorAdapter):
    """A text-to-speech API whose POST answers with the audio: the job is finished when :meth:`submit` returns.

    ``submit`` writes the audio into ``work_dir`` (atomically) and returns a handle holding its path; ``poll`` then
    answers SUCCEEDED with ``Artifact(path=...)`` (EXPIRED if the file has gone: making it again is billed again);
    ``fetch`` copies it atomically to ``dest``. Subclasses give the URL, headers, body and error classification.
    """

    timeout = AUDIO_TIMEOUT
    check_path: str = ""  # the connection test's GET: free, authenticated, shows the account
    poll_interval_s = 0.05
    slot_wait_s = SLOT_WAIT_S
    slot_attempts = SLOT_ATTEMPTS

    def __init__(self, keys: Mapping[str, str], work_dir: Path, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None) -> None:
        super().__init__(keys, work_dir, client=client, policy=policy)
        self.work_dir = Path(work_dir)
        self._log = redaction.get_logger(type(self).__module__)

    def classify(self, response: httpx.Response) -> BackendError:
        raise NotImplementedError

    def rate_limit_wait(self, response: httpx.Response, error: BackendError, attempt: int) -> tuple[float, int]:
        """(seconds to wait, attempts allowed) for a 429: by default a full concurrency slot is waited out with
        short fixed waits, or as long as ``Retry-After`` says."""
        hinted = http.parse_retry_after(response.headers)
        return (hinted if hinted is not None else self.slot_wait_s), self.slot_attempts

    def read_check(self, response: httpx.Response) -> connection.Said:
        """What the connection test's answer says about the account."""
        raise NotImplementedError

    def accepted_check(self, response: httpx.Response) -> str | None:
        """What to say when an error answer to the connection test still proves the key good (else None)."""
        return None

    def check_connection(self) -> ConnectionReport:
        url = self.base_url + self.check_path

        def send() -> httpx.Response:
            self._guard(url)
            return http.send(self._client, "GET", url, backend_label=self.label, headers=self._auth(),
                             **connection.CHECK)

        return connection.probe(self.id, self.label, self.key_name, "GET", url, send, self.read_check,
                                classify=self.classify, accepted=self.accepted_check)

    def _guard(self, url: str) -> None:
        if http.origin(url) not in self.own_origins():
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{self.label}: refusing to send the key to "
                               f"{httpx.URL(url).host}, which is not the {self.label} API host")

    # -- the one POST --
    def _post(self, url: str, *, headers: Mapping[str, str], **kwargs: Any) -> httpx.Response:
        """POST through the shared layer; 429s are waited out here, anything else >= 400 raises classified."""
        self._guard(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = http.send(self._client, "POST", url, policy=self._policy, backend_label=self.label,
                                     headers={**headers, **self._auth()}, **kwargs)
            except BackendError as failure:
                if failure.kind == ErrorKind.NETWORK and not any(f"({name})" in failure.message for name in NEVER_SENT):
                    raise BackendError(ErrorKind.NETWORK, f"{failure.message}; the request may have reached "
                                       f"{self.label} (and been billed), so it is not resent: render again to "
                                       "retry") from None
                raise
            if response.status_code < 400:
                return http.check(response, self.label)  # a redirect is reported, never followed
            error = self.classify(response)
            if response.status_code != 429 or error.kind != ErrorKind.RATE_LIMITED:
                raise error
            wait, allowed = self.rate_limit_wait(response, error, attempt)
            wait = min(wait, self._policy.max_wait_s)
            if attempt >= allowed:
                raise BackendError(error.kind, error.message, status=error.status, vendor_code=error.vendor_code,
                                   retry_after_s=wait)
            self._log.info("%s: rate limited (%s); retry %d in %.1f s", self.label, error.vendor_code or "429",
                           attempt, wait)
            self._policy.sleep(wait)

    def _land(self, request: JobRequest, response: httpx.Response, remote_id: str,
              extra: Mapping[str, Any]) -> RemoteJob:
        """Check the body is audio and write it into the work folder atomically; the handle names the file."""
        data = response.content
        if len(data) > MAX_AUDIO_BYTES:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{self.label}: the audio is {len(data)} bytes, over the "
                               f"{MAX_AUDIO_BYTES}-byte limit")
        found = downloads.sniff(data[:64])
        if found is None or found[1] not in _SUFFIX:
            what = f"{found[1]}" if found else "not a media file"
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{self.label}: the answer is not audio ({what}, "
                               f"{len(data)} bytes)")
        mime = found[1]
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", request.job_id).strip("._") or "job"
        out = self.work_dir / f"{safe}{_SUFFIX[mime]}"
        _write_atomically(data, out)
        self._log.info("%s: %s landed %d bytes of %s", self.label, request.job_id, len(data), mime)
        return RemoteJob(backend=self.id, remote_id=remote_id,
                         data={"path": str(out), "media": "audio", "mime_type": mime, **extra})

    # -- Backend --
    def poll(self, job: RemoteJob) -> JobStatus:
        path = Path(str(job.data.get("path") or ""))
        if not str(job.data.get("path") or "") or not path.is_file():
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED,
                             message=f"{self.label}: the audio file in the work folder is gone; rendering it again "
                                     "is billed again")
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message=f"{self.label}: voice rendered",
                         artifacts=[Artifact(media="audio", path=path,
                                             mime_type=str(job.data.get("mime_type") or "") or None)])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        source = artifact.path or Path(str(job.data.get("path") or ""))
        if not source.is_file():
            raise BackendError(ErrorKind.RESULT_EXPIRED, f"{self.label}: the audio file in the work folder is gone")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        return False  # finished when submit returned


def _write_atomically(data: bytes, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def classify_with(response: httpx.Response, label: str, *, kinds: Mapping[str, ErrorKind],
                  fields: Mapping[str, str],
                  field_of: Callable[[httpx.Response], str | None] | None = None) -> BackendError:
    """:func:`http.error_for` refined by the vendor's code: ``kinds`` overrides the kind per code, ``fields`` names
    the request field a code is about, moderation words make it MODERATED (never retried)."""
    base = http.error_for(response, label)
    message, code = http.vendor_message(response)
    kind = kinds.get(code or "", base.kind)
    moderated = moderation_kind(code, message) if response.status_code in (400, 403, 422, 451) or code else None
    if moderated is not None:
        kind = moderated
    field = fields.get(code or "") or (field_of(response) if field_of else None)
    if kind == base.kind and not field and moderated is None:
        return base
    what = {ErrorKind.AUTH: "the API key was rejected; check it in the add-on preferences or environment",
            ErrorKind.OUT_OF_CREDITS: "the account is out of credits",
            ErrorKind.RATE_LIMITED: "rate limited",
            ErrorKind.INVALID_REQUEST: "the request was rejected",
            ErrorKind.MODERATED_INPUT: "the text was refused by moderation",
            ErrorKind.MODERATED_OUTPUT: "the generated audio was refused by moderation"}.get(kind, "failed")
    detail = f"{field}: {message}" if field and message and not message.startswith(f"{field}:") else message
    text = f"{label}: {what} (HTTP {response.status_code})" + (f": {detail}" if detail else "")
    return BackendError(kind, redaction.redact(text), status=response.status_code, vendor_code=code,
                        retry_after_s=base.retry_after_s)

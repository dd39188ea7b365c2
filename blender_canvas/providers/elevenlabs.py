"""The ElevenLabs text-to-speech backend: one synchronous POST whose response body is the audio file.

Checked against elevenlabs/elevenlabs-python at commit 54e58995d576 (2026-07-23):

* ``src/elevenlabs/environment.py``: production base ``https://api.elevenlabs.io`` (US / EU / India / Singapore
  residency hosts exist too; point ``BLENDER_CANVAS_ELEVENLABS_URL`` at one of them to use it);
* ``src/elevenlabs/core/client_wrapper.py`` ``get_headers``: the key goes in the ``xi-api-key`` header;
* ``src/elevenlabs/text_to_speech/raw_client.py`` ``convert``: ``POST v1/text-to-speech/{voice_id}`` with query
  ``output_format`` (also ``enable_logging``, ``optimize_streaming_latency``) and the JSON body ``text``,
  ``model_id``, ``voice_settings``, ``seed`` ("integer between 0 and 4294967295", best effort), ...; a 2xx body is
  the audio bytes, a 422 is a validation error. Its docstring: "MP3 with 192kbps bitrate requires ... Creator tier
  or above. PCM and WAV formats with 44.1kHz sample rate requires ... Pro tier or above";
* ``.../types/text_to_speech_convert_request_output_format.py``: the ``output_format`` values;
* ``src/elevenlabs/types/voice_settings.py``: ``stability``, ``similarity_boost``, ``style``, ``use_speaker_boost``,
  ``speed``;
* ``src/elevenlabs/core/http_client.py``: the SDK retries 408 / 409 / 429 / 5xx honouring ``retry-after-ms`` /
  ``Retry-After``. We retry less (see below), because a resent TTS POST may be billed twice;
* ``src/elevenlabs/base_client.py``: 240 s default timeout (ours too, for the read).

From help.elevenlabs.io ("API - Error Code 400 or 401", "API - Error Code 429"): errors are
``{"detail": {"status": "<code>", "message": "..."}}`` with ``max_character_limit_exceeded``, ``invalid_api_key``,
``voice_not_found``, ``quota_exceeded`` (sent with 401, so it is read from the code, not the HTTP status); a 429 is
``too_many_concurrent_requests`` (the plan's concurrency is full: wait for a slot, "queue, don't back off") or
``system_busy`` (back off). No moderation code for text-to-speech is documented; codes or messages that speak of
moderation / content policy / terms of service are treated as moderation (never retried), heuristically.

Output: ``mp3_44100_128`` by default, the SDK's own example format. WAV at 44.1 kHz needs the Pro tier, and the WAV
formats open to every tier are 8-32 kHz, below the MP3's 44.1 kHz; Blender's VSE reads MP3 through FFmpeg, so the
vendor's MP3 is kept as it is (no conversion). A node may ask for another ``output_format`` (MP3, WAV or Opus);
headerless PCM / u-law / a-law are refused, as the VSE cannot read them.

Retries of the POST: only before anything was sent (connect errors, by the shared layer) and on the two 429s, which
ElevenLabs answers before it starts the work: ``too_many_concurrent_requests`` waits for a slot (``Retry-After`` if
sent, else short fixed waits, many attempts), ``system_busy`` backs off exponentially (or as ``Retry-After`` says).
A 5xx, a read timeout or a body cut short is never resent here: the audio may have been made and billed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from . import downloads, http, redaction
from .backend import Artifact, BackendError, ErrorKind, JobRequest, JobState, JobStatus, RemoteJob

BACKEND_ID = "elevenlabs"
LABEL = "ElevenLabs"
KEY_NAME = "ELEVENLABS_API_KEY"
API_URL = "https://api.elevenlabs.io"
# The voice the SDK's own examples use (text_to_speech/client.py, convert); used when the node names no voice.
DEFAULT_VOICE_ID = "JBFqnCBsd6RMkjVDRZzb"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
OUTPUT_FORMATS = frozenset({
    "mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192",
    "opus_48000_32", "opus_48000_64", "opus_48000_96", "opus_48000_128", "opus_48000_192",
    "wav_8000", "wav_16000", "wav_22050", "wav_24000", "wav_32000", "wav_44100", "wav_48000",
})
HEADERLESS_FORMATS = ("pcm_", "ulaw_", "alaw_")  # in the SDK's list, but no container: the VSE cannot read them
SEED_MAX = 4294967295
VOICE_SETTINGS = frozenset({"stability", "similarity_boost", "style", "use_speaker_boost", "speed"})
# the field a vendor code is about, so the node's error names it
CODE_FIELDS = {"max_character_limit_exceeded": "text", "voice_not_found": "voice"}

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


# --- synchronous audio backends (shared with fishaudio.py) ------------------------------------------------------------


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


class SyncAudioBackend:
    """A text-to-speech API whose POST answers with the audio: the job is finished when :meth:`submit` returns.

    ``submit`` writes the audio into ``work_dir`` (atomically) and returns a handle holding its path; ``poll`` then
    answers SUCCEEDED with ``Artifact(path=...)`` (EXPIRED if the file has gone: making it again is billed again);
    ``fetch`` copies it atomically to ``dest``. Subclasses give the URL, headers, body and error classification.
    """

    id: str = ""
    label: str = ""
    key_name: str = ""
    default_url: str = ""
    poll_interval_s = 0.05
    slot_wait_s = SLOT_WAIT_S
    slot_attempts = SLOT_ATTEMPTS

    def __init__(self, keys: Mapping[str, str], work_dir: Path, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None) -> None:
        key = (keys.get(self.key_name) or "").strip()
        if not key:
            raise BackendError(ErrorKind.AUTH, f"{self.label} needs {self.key_name} (add-on preferences or "
                                               "environment)")
        redaction.register_secret(key)
        self._key = key
        self.work_dir = Path(work_dir)
        self._client = client or http.make_client(self.id, timeout=AUDIO_TIMEOUT)
        self._policy = policy or http.DEFAULT_POLICY
        self._log = redaction.get_logger(type(self).__module__)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return http.base_url(self.id, self.default_url)

    def own_origins(self) -> set[str]:
        """``host:port`` of the vendor's API after rehosting: the only place the key may go."""
        return {http.origin(self.base_url + "/")}

    def _auth(self) -> dict[str, str]:
        raise NotImplementedError

    def classify(self, response: httpx.Response) -> BackendError:
        raise NotImplementedError

    def rate_limit_wait(self, response: httpx.Response, error: BackendError, attempt: int) -> tuple[float, int]:
        """(seconds to wait, attempts allowed) for a 429: by default a full concurrency slot is waited out with
        short fixed waits, or as long as ``Retry-After`` says."""
        hinted = http.parse_retry_after(response.headers)
        return (hinted if hinted is not None else self.slot_wait_s), self.slot_attempts

    # -- the one POST --
    def _post(self, url: str, *, headers: Mapping[str, str], **kwargs: Any) -> httpx.Response:
        """POST through the shared layer; 429s are waited out here, anything else >= 400 raises classified."""
        if http.origin(url) not in self.own_origins():
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{self.label}: refusing to send the key to "
                               f"{httpx.URL(url).host}, which is not the {self.label} API host")
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

    def close(self) -> None:
        self._client.close()


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


# --- ElevenLabs -------------------------------------------------------------------------------------------------------


def build_request(request: JobRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, query, JSON body) of a text-to-speech call."""
    params = request.params
    text = text_of(request, LABEL)
    voice = str(params.get("voice") or "").strip() or DEFAULT_VOICE_ID
    output_format = str(params.get("output_format") or DEFAULT_OUTPUT_FORMAT)
    if output_format.startswith(HEADERLESS_FORMATS):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: output_format: {output_format} is raw audio "
                           "without a header, which Blender cannot read; use an mp3_, wav_ or opus_ format")
    if output_format not in OUTPUT_FORMATS:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: output_format: {output_format!r} is not one of "
                           f"{', '.join(sorted(OUTPUT_FORMATS))}")
    body: dict[str, Any] = {"text": text, "model_id": request.backend_model_id}
    seed = params.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: seed: {seed!r} is not an integer from 0 to "
                               f"{SEED_MAX}")
        body["seed"] = seed
    settings = params.get("voice_settings")
    if settings:
        unknown = sorted(set(settings) - VOICE_SETTINGS) if isinstance(settings, dict) else ["(not a mapping)"]
        if unknown:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: voice_settings: unknown setting(s) "
                               f"{', '.join(map(str, unknown))}; allowed: {', '.join(sorted(VOICE_SETTINGS))}")
        body["voice_settings"] = dict(settings)
    body.update(request.fixed)
    return f"/v1/text-to-speech/{quote(voice, safe='')}", {"output_format": output_format}, body


class ElevenLabsBackend(SyncAudioBackend):
    """ElevenLabs text-to-speech as a :class:`~blender_canvas.providers.backend.Backend` (finished at submit)."""

    id = BACKEND_ID
    label = LABEL
    key_name = KEY_NAME
    default_url = API_URL

    def _auth(self) -> dict[str, str]:
        return {"xi-api-key": self._key}

    def classify(self, response: httpx.Response) -> BackendError:
        return classify_error(response)

    def rate_limit_wait(self, response: httpx.Response, error: BackendError, attempt: int) -> tuple[float, int]:
        if error.vendor_code == "too_many_concurrent_requests":
            return super().rate_limit_wait(response, error, attempt)
        # system_busy (or a 429 without a code): exponential back-off unless the server says how long
        hinted = http.parse_retry_after(response.headers)
        return (hinted if hinted is not None else self._policy.backoff(attempt)), self._policy.max_attempts

    def submit(self, request: JobRequest) -> RemoteJob:
        path, query, body = build_request(request)
        response = self._post(self.base_url + path, params=query, json=body, headers={})
        remote_id = response.headers.get("request-id") or f"{BACKEND_ID}-{request.job_id}"
        return self._land(request, response, remote_id,
                          {"model": request.backend_model_id, "voice": path.rsplit("/", 1)[-1],
                           "output_format": query["output_format"], "characters": len(body["text"])})


def classify_error(response: httpx.Response) -> BackendError:
    """ElevenLabs' ``detail.status`` decides over the HTTP status (``quota_exceeded`` comes with a 401)."""
    kinds: dict[str, ErrorKind] = {
        "invalid_api_key": ErrorKind.AUTH,
        "quota_exceeded": ErrorKind.OUT_OF_CREDITS,
        "max_character_limit_exceeded": ErrorKind.INVALID_REQUEST,
        "voice_not_found": ErrorKind.INVALID_REQUEST,
        "too_many_concurrent_requests": ErrorKind.RATE_LIMITED,
        "system_busy": ErrorKind.RATE_LIMITED,
    }
    return classify_with(response, LABEL, kinds=kinds, fields=CODE_FIELDS)


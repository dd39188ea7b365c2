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

from typing import Any
from urllib.parse import quote

import httpx

from . import connection, http, redaction
from .backend import BackendError, ErrorKind, JobRequest, RemoteJob
from .sync_audio import SyncAudioBackend, classify_with, text_of

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

log = redaction.get_logger(__name__)


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
    default_base_url = API_URL
    check_path = "/v1/user/subscription"  # user/subscription/raw_client.py get: tier and character quota

    def _auth(self) -> dict[str, str]:
        return {"xi-api-key": self._key}

    def read_check(self, response: httpx.Response) -> connection.Said:
        answer = response.json()  # types/subscription.py: tier, character_count, character_limit, status, ...
        used, limit = int(answer["character_count"]), int(answer["character_limit"])
        tier = str(answer["tier"])
        return f"{tier} plan, {max(0, limit - used):,} of {limit:,} characters left this period", \
            {"tier": tier, "characters_left": str(max(0, limit - used))}

    def accepted_check(self, response: httpx.Response) -> str | None:
        """A key scoped without ``user_read`` gets 401 ``missing_permissions`` here: the key itself is good."""
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return None
        if response.status_code in (401, 403) and isinstance(detail, dict) and \
                detail.get("status") == "missing_permissions":
            return (f"{LABEL}: connected, key accepted; it is a scoped key without the user_read permission, so the "
                    "character quota cannot be shown (make sure it has Text to Speech access)")
        return None

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


"""The Fish Audio text-to-speech backend: one synchronous POST whose (chunked, streamed) response body is the audio.

Checked against fishaudio/fish-audio-python at commit 999c59d56b26 (2026-03-10):

* ``src/fishaudio/core/client_wrapper.py``: base ``https://api.fish.audio``, ``Authorization: Bearer <key>``,
  240 s timeout, no retries; errors by HTTP status only (401 auth, 403 permission, 404 not found, 429 rate limit,
  5xx server), the message read from the JSON body's ``message`` or ``detail`` (``_raise_for_status``);
* ``src/fishaudio/resources/tts.py`` ``TTSClient.stream``: ``POST /v1/tts`` with the header ``model: <id>`` and the
  body packed with MessagePack (``Content-Type: application/msgpack``); the answer's bytes are the audio;
* ``src/fishaudio/types/tts.py`` ``TTSRequest``: ``text``, ``reference_id`` (the voice model id), ``format``
  (``mp3 | wav | pcm | opus``, default mp3), ``normalize`` (default true), ``latency``, ``prosody``, ... — and no
  seed; ``src/fishaudio/types/shared.py``: models ``speech-1.5 | speech-1.6 | s1 | s2-pro`` (1.5 / 1.6 deprecated).

JSON, not MessagePack: Fish Audio's own documentation (fishaudio/docs ``.mintlify/skills/fish-audio-api/SKILL.md``,
the condensed OpenAPI) says ``/v1/tts`` takes ``Content-Type: application/json`` **or** ``application/msgpack``, and
"use application/json for normal TTS requests"; MessagePack is needed only for inline reference audio (raw bytes),
which we do not send. So no ``msgpack`` dependency. The same page: the response is streamed audio with no JSON
wrapper; errors are JSON ``{status, message}`` (401 bad key, **402 out of credit**, 404 unknown voice, 429) and a
422 is a list of ``{loc, type, msg, ...}``; the edge in front of the API may answer 413 / 5xx without JSON; the
``model`` header falls back to the paid ``s2.1-pro`` when it is missing or unrecognised (so it is always sent);
``latency`` is ``low | normal | balanced``. No moderation error is documented; moderation words in a message are
treated as moderation (never retried), heuristically.

Output: WAV by default (44.1 kHz, Fish's default rate), which Blender's VSE reads without any codec; a node may ask
for ``output_format: "mp3"``. Fish bills UTF-8 bytes of text, so the format does not change the price.

Retries of the POST: only before anything was sent (connect errors, by the shared layer) and on 429, Fish's
"concurrent requests in flight" limit (docs.fish.audio pricing-and-rate-limits), which is waited out with short
fixed waits (or as ``Retry-After`` says). A 5xx, a read timeout or a body cut short is never resent here.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import connection, redaction
from .backend import BackendError, ErrorKind, JobRequest, RemoteJob
from .sync_audio import SyncAudioBackend, classify_with, text_of

BACKEND_ID = "fishaudio"
LABEL = "Fish Audio"
KEY_NAME = "FISH_API_KEY"
API_URL = "https://api.fish.audio"
DEFAULT_FORMAT = "wav"
FORMATS = frozenset({"wav", "mp3"})  # pcm is headerless (the VSE cannot read it); opus is not offered
LATENCY = "normal"  # quality over time to first byte: a take is used whole, never played while it streams

log = redaction.get_logger(__name__)  # the backend logs through this module's logger (SyncAudioBackend._log)


def build_request(request: JobRequest) -> tuple[dict[str, str], dict[str, Any]]:
    """(headers, JSON body) of a ``/v1/tts`` call."""
    params = request.params
    text = text_of(request, LABEL)
    model = request.backend_model_id.strip()
    if not model:
        # without the header Fish silently serves (and bills) its newest paid model
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: model: the route names no model")
    output_format = str(params.get("output_format") or DEFAULT_FORMAT).lower()
    if output_format not in FORMATS:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: output_format: {output_format!r} is not one of "
                           f"{', '.join(sorted(FORMATS))}")
    body: dict[str, Any] = {"text": text, "format": output_format, "normalize": True, "latency": LATENCY}
    voice = str(params.get("voice") or "").strip()
    if voice:
        body["reference_id"] = voice
    # no "seed": Fish Audio has none (the catalog's routes say so, and the engine sends none)
    body.update(request.fixed)
    return {"model": model, "Content-Type": "application/json"}, body


def _field_of(response: httpx.Response) -> str | None:
    return "voice (reference_id)" if response.status_code == 404 else None


def classify_error(response: httpx.Response) -> BackendError:
    """By HTTP status (Fish sends no error codes): 401 / 403 auth, 402 out of credit, 404 unknown voice, 422 names
    the field, 429 rate limited, 5xx vendor down; moderation words make it MODERATED."""
    return classify_with(response, LABEL, kinds={}, fields={}, field_of=_field_of)


class FishAudioBackend(SyncAudioBackend):
    """Fish Audio text-to-speech as a :class:`~blender_canvas.providers.backend.Backend` (finished at submit)."""

    id = BACKEND_ID
    label = LABEL
    key_name = KEY_NAME
    default_base_url = API_URL
    check_path = "/wallet/self/api-credit"  # resources/account.py get_credits: the API credit balance

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def read_check(self, response: httpx.Response) -> connection.Said:
        credit = float(response.json()["credit"])  # types/account.py Credits: a decimal, sent as a string
        return f"API credit {credit:g}", {"credit": f"{credit:g}"}

    def classify(self, response: httpx.Response) -> BackendError:
        return classify_error(response)

    def submit(self, request: JobRequest) -> RemoteJob:
        headers, body = build_request(request)
        # json= would set the same Content-Type; it is named in the headers so the contract is visible here
        response = self._post(self.base_url + "/v1/tts", json=body, headers=headers)
        remote_id = response.headers.get("x-request-id") or f"{BACKEND_ID}-{request.job_id}"
        return self._land(request, response, remote_id,
                          {"model": headers["model"], "voice": body.get("reference_id"),
                           "output_format": body["format"], "bytes_of_text": len(body["text"].encode("utf-8"))})

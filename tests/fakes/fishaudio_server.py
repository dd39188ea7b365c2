"""A fake Fish Audio text-to-speech API on a random port of 127.0.0.1.

It follows the contract read in fishaudio/fish-audio-python (``resources/tts.py``, ``core/client_wrapper.py``,
``types/tts.py``) and Fish Audio's own API notes (fishaudio/docs ``.mintlify/skills/fish-audio-api/SKILL.md``):

* ``POST /v1/tts`` with ``Authorization: Bearer <key>``, the header ``model`` and a JSON body (``Content-Type:
  application/json``; MessagePack is valid at Fish but not decoded by this fake, which answers 415 to it) ``{text,
  reference_id?, format, normalize, latency, ...}`` -> 200 streamed with ``Transfer-Encoding: chunked``: WAV for
  ``wav`` (via ``wave``), MP3 for ``mp3`` (via PyAV), 44.1 kHz, as long as the text (0.06 s a character);
* a missing or unknown ``model`` header is served as ``s2.1-pro``, as Fish's notes say (``served_models`` records
  it);
* ``GET /wallet/self/api-credit`` -> ``Credits`` (``resources/account.py`` ``get_credits``, ``types/account.py``:
  ``_id``, ``user_id``, ``credit`` as a decimal string, ``created_at``, ``updated_at``), the connection test's call;
* errors are JSON ``{status, message}``: 401 bad key, 402 out of credit, 404 unknown ``reference_id``, 429; a 422
  is a list of ``{loc, type, msg}`` (missing ``text``, unknown ``format`` / ``latency``); 5xx from "the edge" are
  HTML, not JSON.

Faults are queued with ``fail_next(kind)``: ``429``, ``402``, ``401``, ``500``, ``503``, ``cut`` (half the chunks,
then the connection closes), ``garbage``, and placeholder ``moderation_input`` / ``moderation_output`` bodies (Fish
documents no moderation error).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from .elevenlabs_server import FakeVoiceServer, Fault, Recorded, _Handler, mp3_bytes, speech_seconds, wav_bytes

DEFAULT_KEY = "fish-test-key-MARKER-7777"
KNOWN_MODELS = frozenset({"s1", "s2-pro", "s2.1-pro", "s2.1-pro-free", "drama-3-preview"})
FALLBACK_MODEL = "s2.1-pro"
VOICES = frozenset({"802e3bc2b27e49c2995d23ef70e6ac89", "7f92f8afb8ec43bf81429cc1c9199cb1"})
FORMATS = ("wav", "pcm", "mp3", "opus")
LATENCIES = ("low", "normal", "balanced")


def _error(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


class FakeFishAudio(FakeVoiceServer):
    """The fake Fish Audio API (``base_url``); a context manager."""

    def __init__(self, key: str = DEFAULT_KEY, *, voices: frozenset[str] = VOICES,
                 known_models: frozenset[str] = KNOWN_MODELS) -> None:
        super().__init__(key)
        self.voices = set(voices)
        self.known_models = set(known_models)
        self.served_models: list[str] = []
        self.credit = "18.7500"  # Fish sends the decimal balance as a string

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def handle(self, h: _Handler, rec: Recorded) -> None:
        if rec.method == "GET" and rec.path == "/wallet/self/api-credit":
            self._credit(h, rec)
            return
        if rec.method != "POST" or rec.path != "/v1/tts":
            h.reply(404, _error(404, "Not Found"))
            return
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            h.reply(401, _error(401, "Invalid token"))
            return
        fault = self._next_fault()
        if fault is not None and self._fault(h, fault):
            return
        content_type = rec.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            h.reply(415, _error(415, f"this fake decodes JSON bodies only, not {content_type or 'nothing'}"))
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        problems = []
        if not isinstance(body.get("text"), str):
            problems.append({"loc": ["body", "text"], "type": "missing", "msg": "Field required"})
        if body.get("format", "mp3") not in FORMATS:
            problems.append({"loc": ["body", "format"], "type": "literal_error",
                             "msg": "Input should be 'wav', 'pcm', 'mp3' or 'opus'"})
        if body.get("latency", "normal") not in LATENCIES:
            problems.append({"loc": ["body", "latency"], "type": "literal_error",
                             "msg": "Input should be 'low', 'normal' or 'balanced'"})
        if problems:
            h.reply(422, problems)
            return
        voice = body.get("reference_id")
        if voice is not None and voice not in self.voices:
            h.reply(404, _error(404, f"Reference model {voice} not found"))
            return
        model = rec.headers.get("model", "")
        with self._lock:
            self.served_models.append(model if model in self.known_models else FALLBACK_MODEL)
        seconds = speech_seconds(body["text"])
        fmt = body.get("format", "mp3")
        if fmt == "wav":
            data, mime = wav_bytes(seconds, 44100), "audio/wav"
        elif fmt == "mp3":
            data, mime = mp3_bytes(seconds, 44100), "audio/mpeg"
        else:
            data, mime = bytes(int(seconds * 44100) * 2), "application/octet-stream"
        if fault is not None and fault.kind == "garbage":
            h.reply(200, raw=b"<html>an error page, not audio</html>", content_type=mime)
            return
        h.chunked(data, mime, cut=fault is not None and fault.kind == "cut",
                  headers={"x-request-id": uuid.uuid4().hex})

    def _credit(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            h.reply(401, _error(401, "Invalid token"))
            return
        fault = self._next_fault()
        if fault is not None and self._fault(h, fault):
            return
        h.reply(200, {"_id": "6650f3c1a2b4c5d6e7f80912", "user_id": "canvas-tester", "credit": self.credit,
                      "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-11-20T08:30:00Z",
                      "has_phone_sha256": True, "has_free_credit": False})

    def _fault(self, h: _Handler, fault: Fault) -> bool:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.kind == "429":
            h.reply(429, _error(429, fault.message or "Too many requests: concurrency limit reached"),
                    headers=headers)
        elif fault.kind == "402":
            h.reply(402, _error(402, fault.message or "Insufficient API credit"))
        elif fault.kind == "401":
            h.reply(401, _error(401, fault.message or "Invalid token"))
        elif fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body>upstream error</body></html>", content_type="text/html",
                    headers=headers)
        elif fault.kind == "moderation_input":  # placeholder shape: Fish documents no moderation error
            h.reply(400, _error(400, fault.message or "Text was rejected by content moderation"))
        elif fault.kind == "moderation_output":
            h.reply(400, _error(400, fault.message or "Generated audio output was rejected by content moderation"))
        else:
            return False
        return True


def iter_fake(**kwargs: Any) -> Iterator[FakeFishAudio]:
    """For a pytest fixture: ``yield from iter_fake()``."""
    with FakeFishAudio(**kwargs) as fake:
        yield fake

"""A fake ElevenLabs text-to-speech API on a random port of 127.0.0.1 (plus the small base both voice fakes share).

It follows the contract read in elevenlabs/elevenlabs-python (``text_to_speech/raw_client.py``,
``core/client_wrapper.py``, the ``output_format`` type) and help.elevenlabs.io's error pages:

* ``POST /v1/text-to-speech/{voice_id}?output_format=<fmt>`` with header ``xi-api-key`` and JSON
  ``{text, model_id, seed?, voice_settings?, ...}`` -> 200 whose body is the audio: MP3 for ``mp3_*`` (made with
  PyAV), WAV for ``wav_*`` (made with ``wave``), at the format's sample rate, as long as the text (0.06 s a
  character, at least 0.3 s), with a ``request-id`` header;
* ``GET /v1/user/subscription`` -> the ``Subscription`` (``types/subscription.py``: tier, character_count,
  character_limit, status, ...), the connection test's call; a key in ``scoped_keys`` (a key made without the
  ``user_read`` permission) gets 401 ``missing_permissions`` there, as ElevenLabs answers;
* errors are ``{"detail": {"status", "message"}}``: 401 ``invalid_api_key``, 401 ``quota_exceeded``, 400
  ``voice_not_found`` and ``max_character_limit_exceeded`` (the model's limit, or ``char_limit``), 429
  ``too_many_concurrent_requests`` / ``system_busy``; FastAPI-style 422 lists (``loc``, ``msg``, ``type``) for a
  missing ``text``, a seed outside 0..4294967295 or an unknown ``output_format``.

Faults are queued with ``fail_next(kind)``. The moderation bodies are placeholders: ElevenLabs documents no
moderation error for text-to-speech.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import FakeHandler, FakeServer

DEFAULT_KEY = "xi-test-key-MARKER-4242"
SECONDS_PER_CHAR = 0.06
OUTPUT_FORMATS = (
    "alaw_8000", "mp3_22050_32", "mp3_24000_48", "mp3_44100_128", "mp3_44100_192", "mp3_44100_32", "mp3_44100_64",
    "mp3_44100_96", "opus_48000_128", "opus_48000_192", "opus_48000_32", "opus_48000_64", "opus_48000_96",
    "pcm_16000", "pcm_22050", "pcm_24000", "pcm_32000", "pcm_44100", "pcm_48000", "pcm_8000", "ulaw_8000",
    "wav_16000", "wav_22050", "wav_24000", "wav_32000", "wav_44100", "wav_48000", "wav_8000",
)
# help.elevenlabs.io: Multilingual v2 10,000 characters, Flash / Turbo v2.5 40,000
CHAR_LIMITS = {"eleven_multilingual_v2": 10_000, "eleven_flash_v2_5": 40_000, "eleven_turbo_v2_5": 40_000}
VOICES = frozenset({"JBFqnCBsd6RMkjVDRZzb", "21m00Tcm4TlvDq8ikWAM"})


# --- audio ------------------------------------------------------------------------------------------------------------


def speech_seconds(text: str) -> float:
    return max(0.3, SECONDS_PER_CHAR * len(text))


@cache
def wav_bytes(seconds: float, rate: int = 44100) -> bytes:
    """A mono 16-bit WAV of a quiet 220 Hz tone."""
    import numpy as np

    n = round(seconds * rate)
    tone = (np.sin(2 * np.pi * 220 * np.arange(n) / rate) * 3000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone.tobytes())
    return buf.getvalue()


@cache
def mp3_bytes(seconds: float, rate: int = 44100) -> bytes:
    """A mono MP3 (libmp3lame through PyAV) of a quiet 220 Hz tone."""
    import av
    import numpy as np

    n = round(seconds * rate)
    samples = (np.sin(2 * np.pi * 220 * np.arange(n) / rate) * 0.1).astype(np.float32).reshape(1, -1)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


# --- the shared fake server ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any  # parsed JSON, or None


@dataclass
class Fault:
    kind: str
    retry_after: float | None = None
    message: str = ""


class _Handler(FakeHandler):
    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw and "json" in (self.headers.get("content-type") or ""):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
        parts = urlsplit(self.path)
        record = Recorded(method=self.command, path=unquote(parts.path), query=parse_qs(parts.query),
                          headers={k.lower(): v for k, v in self.headers.items()}, raw=raw, body=body)
        fake = self.server.fake
        fake._record(record)
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            fake.handle(self, record)
        finally:
            with fake._lock:
                fake._in_flight -= 1

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def chunked(self, data: bytes, content_type: str, *, cut: bool = False, headers: dict[str, str] | None = None,
                chunk: int = 4096) -> None:
        """Stream ``data`` with ``Transfer-Encoding: chunked``; with ``cut``, stop half way and close."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        end = len(data) // 2 if cut else len(data)
        for start in range(0, end, chunk):
            piece = data[start:min(start + chunk, end)]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        if cut:
            self._drop()
            return
        self.wfile.write(b"0\r\n\r\n")


class FakeVoiceServer(FakeServer):
    """A fake voice API with an unstaged fault queue; subclasses answer in :meth:`handle`."""

    handler = _Handler

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.max_in_flight = 0
        self._in_flight = 0

    def fail_next(self, kind: str, *, times: int = 1, retry_after: float | None = None, message: str = "") -> None:
        with self._lock:
            self._faults.extend(Fault(kind=kind, retry_after=retry_after, message=message) for _ in range(times))

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def handle(self, h: _Handler, rec: Recorded) -> None:
        raise NotImplementedError


# --- ElevenLabs -------------------------------------------------------------------------------------------------------


def _detail(status: str, message: str) -> dict[str, Any]:
    return {"detail": {"status": status, "message": message}}


def _invalid(loc: list[str], msg: str, kind: str) -> dict[str, Any]:
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


class FakeElevenLabs(FakeVoiceServer):
    """The fake ElevenLabs API (``base_url``); a context manager."""

    def __init__(self, key: str = DEFAULT_KEY, *, voices: frozenset[str] = VOICES) -> None:
        super().__init__(key)
        self.voices = set(voices)
        self.char_limit: int | None = None  # overrides the model's limit
        self.scoped_keys: set[str] = set()  # valid keys without user_read
        self.characters = (1_240, 100_000)  # used, limit this period

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def handle(self, h: _Handler, rec: Recorded) -> None:
        if rec.method == "GET" and rec.path == "/v1/user/subscription":
            self._subscription(h, rec)
            return
        prefix = "/v1/text-to-speech/"
        if rec.method != "POST" or not rec.path.startswith(prefix) or "/" in rec.path[len(prefix):]:
            h.reply(404, {"detail": "Not Found"})
            return
        if rec.headers.get("xi-api-key") != self.key:
            h.reply(401, _detail("invalid_api_key", "Invalid API key"))
            return
        fault = self._next_fault()
        if fault is not None and self._fault(h, fault):
            return
        voice = rec.path[len(prefix):]
        output_format = rec.query.get("output_format", ["mp3_44100_128"])[0]
        body = rec.body if isinstance(rec.body, dict) else {}
        text = body.get("text")
        seed = body.get("seed")
        if output_format not in OUTPUT_FORMATS:
            h.reply(422, _invalid(["query", "output_format"], f"Input should be one of {OUTPUT_FORMATS}", "enum"))
            return
        if not isinstance(text, str):
            h.reply(422, _invalid(["body", "text"], "Field required", "missing"))
            return
        if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= 4294967295):
            h.reply(422, _invalid(["body", "seed"], "Input should be less than or equal to 4294967295",
                                  "less_than_equal"))
            return
        if voice not in self.voices:
            h.reply(400, _detail("voice_not_found", f"A voice with the voice_id {voice} was not found."))
            return
        limit = self.char_limit or CHAR_LIMITS.get(str(body.get("model_id")), 5_000)
        if len(text) > limit:
            h.reply(400, _detail("max_character_limit_exceeded", f"This request's text has {len(text)} characters "
                                 f"and exceeds the character limit of {limit} characters."))
            return
        codec, rate = output_format.split("_")[:2]
        seconds = speech_seconds(text)
        if codec == "mp3":
            data, mime = mp3_bytes(seconds, int(rate)), "audio/mpeg"
        elif codec == "wav":
            data, mime = wav_bytes(seconds, int(rate)), "audio/wav"
        else:
            data, mime = bytes(int(seconds * int(rate)) * 2), "application/octet-stream"
        if fault is not None and fault.kind == "cut":
            h.cut(data, mime)
            return
        if fault is not None and fault.kind == "garbage":
            h.reply(200, raw=b"<html>an error page, not audio</html>", content_type=mime)
            return
        h.reply(200, raw=data, content_type=mime,
                headers={"request-id": uuid.uuid4().hex, "character-cost": str(len(text))})

    def _subscription(self, h: _Handler, rec: Recorded) -> None:
        key = rec.headers.get("xi-api-key")
        if key in self.scoped_keys:
            h.reply(401, {"detail": {"type": "authentication_error", "code": "unauthorized", "status":
                                     "missing_permissions", "message": "The API key you used is missing the "
                                     "permission user_read to execute this operation."}})
            return
        if key != self.key:
            h.reply(401, _detail("invalid_api_key", "Invalid API key"))
            return
        fault = self._next_fault()
        if fault is not None and self._fault(h, fault):
            return
        used, limit = self.characters
        h.reply(200, {"tier": "creator", "character_count": used, "character_limit": limit,
                      "max_character_limit_extension": None, "can_extend_character_limit": True,
                      "allowed_to_extend_character_limit": True, "next_character_count_reset_unix": 1767225600,
                      "voice_slots_used": 3, "professional_voice_slots_used": 0, "voice_limit": 30,
                      "voice_add_edit_counter": 0, "professional_voice_limit": 1, "can_extend_voice_limit": False,
                      "can_use_instant_voice_cloning": True, "can_use_professional_voice_cloning": True,
                      "currency": "usd", "status": "active", "billing_period": "monthly_period",
                      "character_refresh_period": "monthly_period", "open_invoices": [], "has_open_invoices": False})

    def _fault(self, h: _Handler, fault: Fault) -> bool:
        """Answer with the fault; False for faults that shape a successful answer (cut, garbage)."""
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.kind == "concurrency":
            h.reply(429, _detail("too_many_concurrent_requests", fault.message or "Too many concurrent requests. "
                                 "Your current subscription is limited to 2 concurrent requests."), headers=headers)
        elif fault.kind == "busy":
            h.reply(429, _detail("system_busy", fault.message or "Our servers are experiencing high traffic."),
                    headers=headers)
        elif fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body><h1>Service Unavailable</h1></body></html>",
                    content_type="text/html", headers=headers)
        elif fault.kind == "401":
            h.reply(401, _detail("invalid_api_key", fault.message or "Invalid API key"))
        elif fault.kind == "quota":
            h.reply(401, _detail("quota_exceeded", fault.message or "This request exceeds your quota of 10000. "
                                 "You have 12 credits remaining, while 627 credits are required for this request."))
        elif fault.kind == "moderation_input":  # placeholder shape: no documented TTS moderation code
            h.reply(400, _detail("content_moderation", fault.message or "The text was flagged by content "
                                 "moderation."))
        elif fault.kind == "moderation_output":
            h.reply(400, _detail("output_moderation", fault.message or "The generated audio was flagged by "
                                 "content moderation."))
        else:
            return False
        return True


def iter_fake(**kwargs: Any) -> Iterator[FakeElevenLabs]:
    """For a pytest fixture: ``yield from iter_fake()``."""
    with FakeElevenLabs(**kwargs) as fake:
        yield fake

"""Preview sound: placeholder voice lines (seeded tone bursts with speech rhythm) and the audio helpers an animatic
uses to follow and mux a voice track (decoding, per-frame loudness, AAC frames).
"""

from __future__ import annotations

import math
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from .preview_frames import _rng

AUDIO_RATE = 48_000

WORDS_PER_SECOND = 2.6
VOICE_LEAD_IN_S = 0.2
VOICE_TAIL_S = 0.2
VOICE_MIN_S = 1.0


# --- audio helpers -------------------------------------------------------------------------------------------------

def read_audio(path: Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """Decode any audio file PyAV reads into mono float32 samples at ``rate``."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{Path(path).name} has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _levels(samples: np.ndarray, rate: int, frames: int, fps: float) -> np.ndarray:
    """Loudness per video frame, 0..1, lightly smoothed so the mouth does not flicker."""
    out = np.zeros(frames, np.float32)
    for i in range(frames):
        a, b = round(i * rate / fps), round((i + 1) * rate / fps)
        chunk = samples[a:b]
        out[i] = float(np.sqrt(np.mean(chunk * chunk))) if chunk.size else 0.0
    peak = float(np.percentile(out, 95)) if frames else 0.0
    if peak > 1e-4:
        out = np.clip(out / peak, 0.0, 1.0)
    smoothed = out.copy()
    for i in range(1, frames):
        smoothed[i] = max(out[i], smoothed[i - 1] * 0.55)
    return smoothed


def _audio_frames(samples: np.ndarray, rate: int, chunk: int = 1024) -> Iterator[av.AudioFrame]:
    for start in range(0, len(samples), chunk):
        part = np.ascontiguousarray(samples[start:start + chunk], np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        yield frame


# --- voices --------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_PAUSE = re.compile(r"[,;:—–]|\.\.\.|[.!?…]")
_FULL_STOPS = frozenset({".", "!", "?", "…", "..."})


def voice_duration(text: str) -> float:
    """Seconds of a placeholder voice line: words / 2.6 plus 0.4 s of lead-in and tail, at least 1 s."""
    words = len(_WORD.findall(text))
    return max(VOICE_MIN_S, words / WORDS_PER_SECOND + VOICE_LEAD_IN_S + VOICE_TAIL_S)


def _syllables(word: str) -> int:
    groups = re.findall(r"[aeiouyäöüéèáíóúàâêîôû]+", word.lower())
    count = len(groups) - (1 if word.lower().endswith("e") and len(groups) > 1 else 0)
    return min(4, max(1, count if groups else math.ceil(len(word) / 3)))


def make_voice(text: str, seed: int, out_path: Path, sample_rate: int = 24000) -> Path:
    """A placeholder voice line as a 16-bit mono WAV: seeded syllable-like tone bursts with speech rhythm.

    Its length is ``voice_duration(text)``; pauses fall at punctuation, the pitch falls through a sentence and rises
    at a question mark. It is obviously not a voice, but a talking-shot preview can be timed against it.
    """
    duration = voice_duration(text)
    total = round(duration * sample_rate)
    signal = np.zeros(total, np.float64)
    rng = _rng("voice", text, seed)
    base_f0 = float(rng.uniform(95, 210))
    tokens: list[tuple[str, str]] = []
    for match in re.finditer(rf"{_WORD.pattern}|{_PAUSE.pattern}", text):
        token = match.group(0)
        tokens.append(("word" if _WORD.fullmatch(token) else "pause", token))
    weights: list[float] = []
    for kind, token in tokens:
        if kind == "word":
            weights.append(_syllables(token) + 0.45)
        else:
            weights.append(1.6 if token in _FULL_STOPS else 0.8)
    words = sum(1 for kind, _ in tokens if kind == "word")
    body = duration - VOICE_LEAD_IN_S - VOICE_TAIL_S if words else 0.0
    unit = body / sum(weights) if weights and body > 0 else 0.0
    cursor = VOICE_LEAD_IN_S
    sentence_pos = 0
    question = "?" in text
    for (kind, token), weight in zip(tokens, weights, strict=True):
        span = weight * unit
        if kind == "pause":
            cursor += span
            if token in _FULL_STOPS:
                sentence_pos = 0
            continue
        n = _syllables(token)
        syllable_s = (span - 0.45 * unit) / n
        for k in range(n):
            sentence_pos += 1
            intonation = 1.0 - 0.025 * min(sentence_pos, 12) + (0.25 if question and sentence_pos > 3 else 0.0)
            f0 = base_f0 * intonation * float(rng.uniform(0.9, 1.12))
            vowel = rng.uniform(0.2, 1.0, 6)
            start = round((cursor + k * syllable_s) * sample_rate)
            length = max(8, round(syllable_s * float(rng.uniform(0.7, 0.92)) * sample_rate))
            length = min(length, total - start)
            if length <= 8:
                continue
            tt = np.arange(length) / sample_rate
            glide = f0 * (1 + 0.06 * np.sin(np.pi * tt / tt[-1]) * float(rng.uniform(-1, 1)))
            phase = 2 * np.pi * np.cumsum(glide) / sample_rate
            burst = sum(float(vowel[h]) / (h + 1) * np.sin((h + 1) * phase) for h in range(6))
            envelope = np.sin(np.pi * np.linspace(0, 1, length)) ** 0.7
            burst = burst * envelope * float(rng.uniform(0.6, 1.0))
            if rng.random() < 0.6:  # a consonant: a short noise onset
                onset = min(length, round(0.025 * sample_rate))
                burst[:onset] += rng.normal(0, 0.25, onset) * np.linspace(1, 0, onset)
            signal[start:start + length] += burst
        cursor += span
    peak = float(np.max(np.abs(signal))) if total else 0.0
    if peak > 0:
        signal *= 0.6 / peak
    pcm = np.clip(np.round(signal * 32767), -32768, 32767).astype("<i2")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return out_path

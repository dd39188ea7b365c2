"""Voice models: ElevenLabs, Fish Audio, and the offline preview voice."""

from __future__ import annotations

from .catalog import Kind, Model, Price, Route, Source, Variant
from .catalog_common import ELEVEN_SDK, FISH_PRICE, FISH_SDK, PREVIEW, Lifecycle

ELEVEN_PRICE = Source(ref="elevenlabs.io/pricing/api (per 1k characters, Multilingual v2 / v3; Flash and Turbo at "
                          "half)", confirmed=False)
FAL_ELEVEN_PRICE = Source(ref="fal.ai/models/fal-ai/elevenlabs/tts/multilingual-v2 pricing", confirmed=False)


def _per_1k_chars(usd: float, source: Source) -> Price:
    return Price(usd=usd, per="1k_characters", source=source)


def _eleven(variant: str, label: str, model_id: str, usd: float, fal: str | None) -> Variant:
    routes = [Route(backend="elevenlabs", model_id=model_id, price=_per_1k_chars(usd, ELEVEN_PRICE))]
    if fal:
        routes.append(Route(backend="fal", model_id=fal, seed=False, price=_per_1k_chars(usd, FAL_ELEVEN_PRICE)))
    return Variant(id=variant, label=label, duration_from="text", seed=True, facts=ELEVEN_SDK, routes=tuple(routes),
                   notes="seed 0–4294967295, best effort; output mp3_44100_128 unless the node says otherwise")


ELEVENLABS = Model(
    id="elevenlabs", label="ElevenLabs", vendor="ElevenLabs", kind=Kind.AUDIO, default_variant="multilingual-v2",
    variants=(
        _eleven("multilingual-v2", "Eleven Multilingual v2", "eleven_multilingual_v2", 0.10,
                "fal-ai/elevenlabs/tts/multilingual-v2"),
        _eleven("v3", "Eleven v3", "eleven_v3", 0.10, "fal-ai/elevenlabs/tts/eleven-v3"),
        _eleven("flash-v2.5", "Eleven Flash v2.5", "eleven_flash_v2_5", 0.05, None),
        _eleven("turbo-v2.5", "Eleven Turbo v2.5", "eleven_turbo_v2_5", 0.05, "fal-ai/elevenlabs/tts/turbo-v2.5"),
    ),
)

FISH_DEPRECATED = Lifecycle(status="deprecated", source=FISH_SDK,
                            note="Fish's model list no longer has speech-1.6; an unknown model header is served and "
                                 "billed as s2.1-pro")

FISH_AUDIO = Model(
    id="fish-audio", label="Fish Audio", vendor="Fish Audio", kind=Kind.AUDIO, default_variant="s2-pro",
    variants=tuple(
        Variant(id=variant, label=label, duration_from="text", seed=False, facts=FISH_SDK, lifecycle=lifecycle,
                notes="the model is chosen with the HTTP header `model`; no seed",
                routes=(Route(backend="fishaudio", model_id=variant,
                              price=Price(usd=15.0, per="1m_bytes", source=source)),))
        for variant, label, lifecycle, source in (
            ("s2-pro", "Fish Audio S2 Pro", Lifecycle(), FISH_PRICE),
            ("s1", "Fish Audio S1", Lifecycle(), FISH_PRICE),
            ("speech-1.6", "Fish Audio Speech 1.6", FISH_DEPRECATED, FISH_PRICE),
        )
    ),
)

PREVIEW_VOICE = Model(
    id="preview-voice", label="Preview voice", vendor="Blender Canvas", kind=Kind.AUDIO, default_variant="standard",
    preview_only=True,
    variants=(
        Variant(id="standard", label="Offline placeholder voice", duration_from="text", seed=True, facts=PREVIEW,
                routes=(Route(backend="preview", model_id="voice", price=_per_1k_chars(0.0, PREVIEW)),)),
    ),
)

VOICE_MODELS = (ELEVENLABS, FISH_AUDIO, PREVIEW_VOICE)

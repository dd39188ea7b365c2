"""Sources, lifecycles and shapes shared by the catalog's entries.

Facts come from shared/reference/providers.md, checked against the vendors' SDK sources on 2026-11-26.
``Source(..., confirmed=False)`` marks a fact that rests on a secondary page or could not be confirmed.
"""

from __future__ import annotations

from datetime import date

from .catalog import (
    InputName,
    InputSpec,
    Lifecycle,
    Price,
    Source,
)

# --- sources -------------------------------------------------------------------------------------------
OPENAI_SDK = Source(ref="openai/openai-python src/openai/resources/videos.py, types/video_*.py (openai 3.57.0)")
OPENAI_IMAGES_SDK = Source(ref="openai/openai-python types/image_generate_params.py, image_edit_params.py")
SORA_SHUTDOWN = Source(
    ref="openai-python videos.py: @deprecated('The Sora API is scheduled to permanently shut down on "
    "September 24, 2026.'), commit 721cb1cd (2026-08-13)"
)
SORA_PRICE = Source(ref="cometapi / apiyi / magichour pages quoting OpenAI's price list", confirmed=False)
GENAI_SDK = Source(ref="googleapis/python-genai google/genai/types.py ImageConfig, models.py (google-genai 3.6.1)")
IMAGEN_GONE = Source(
    ref="shutdown of the imagen-4.0-* ids on the Gemini API on 2026-08-17 per deprecation notices (Google's page "
    "not found); python-genai commit 43ef621f (2026-08-21) 'Disable GenerateImages for Gemini API'",
    confirmed=False,
)
VEO_GONE = Source(
    ref="google-genai 3.0.0 (2026-11-06): generate_videos() raises 'only supported in Gemini Enterprise "
    "Agent Platform mode'"
)
VEO_FACTS = Source(ref="python-genai GenerateVideosConfig docstrings; durations from fal-ai/veo3.1 schema",
                   confirmed=False)
FAL_VEO_PRICE = Source(ref="fal.ai/models/fal-ai/veo3.1/llms.txt, "
                           "fal.ai/models/fal-ai/veo3.1/fast/image-to-video/llms.txt")
KLING_DOC = Source(ref="Kling API docs (mirror of app.klingai.com/global/dev): image2video, commonInfo")
KLING_V3_FACTS = Source(ref="fal kling-video v3 / o3 schemas (3–15 s); runwayml 5.24.0 multi-prompt docstring")
SEEDANCE_FACTS = Source(ref="runwayml 5.24.0 seedance2 params; replicate bytedance/seedance-2.0 schema; Vercel "
                             "packages/bytedance model ids", confirmed=False)
FAL_SEEDANCE_PRICE = Source(ref="fal.ai/models/bytedance/seedance-2.0/image-to-video/llms.txt ($0.014 / 1k tokens)")
RUNWAY_SDK = Source(ref="runwayml/sdk-python types/image_to_video_create_params.py, video_to_video_create_params.py")
RUNWAY_PRICE = Source(ref="Runway API credit table (skillspool copy of Runway's api-reference); 1 credit = $0.01",
                      confirmed=False)
BFL_DOC = Source(ref="docs.bfl.ai OpenAPI and pricing page")
ELEVEN_SDK = Source(ref="elevenlabs/elevenlabs-python text_to_speech/raw_client.py (seed 0–4294967295)")
FISH_SDK = Source(ref="fishaudio/fish-audio-python types/tts.py, resources/tts.py")
FISH_PRICE = Source(ref="docs.fish.audio/docs/models-pricing/pricing-and-rate-limits ($15.00 / 1M UTF-8 bytes for s1 "
                         "and s2-pro)")
UNPRICED = Source(ref="no public per-unit list price found; estimate is a placeholder", confirmed=False)
PREVIEW = Source(ref="Blender Canvas offline preview backend (free, no network)")

SORA_RETIRED = Lifecycle(status="retired", since=date(2026, 9, 24),
                         note="OpenAI shut the Sora video API down on 2026-09-24", source=SORA_SHUTDOWN)
IMAGEN_GEMINI_RETIRED = Lifecycle(status="retired", since=date(2026, 8, 17),
                                  note="Imagen left the Gemini Developer API; use Vertex AI or fal",
                                  source=IMAGEN_GONE)
VEO_GEMINI_RETIRED = Lifecycle(status="retired", since=date(2026, 11, 6),
                               note="Veo left the Gemini Developer API; use Vertex AI, fal or Runway", source=VEO_GONE)

# --- shared shapes -----------------------------------------------------------------------------------
SHOT = InputSpec(name=InputName.SHOT)
FIRST_FRAME = InputSpec(name=InputName.IMAGE)
LAST_FRAME = InputSpec(name=InputName.LAST_FRAME)
WIDE_AND_TALL = ("16:9", "9:16")
STILL_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")


def refs(max_items: int) -> InputSpec:
    return InputSpec(name=InputName.IMAGES, max_items=max_items)


def per_second(usd: float, source: Source, **extra: object) -> Price:
    return Price(usd=usd, per="second", source=source, **extra)


def per_image(usd: float, source: Source, **extra: object) -> Price:
    return Price(usd=usd, per="image", source=source, **extra)


def seconds(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))



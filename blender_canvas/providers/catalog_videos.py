"""Video models: Sora 2, Kling 3.0 / O3, Kling Avatar and lip-sync, Seedance 2, Veo 3.1, Runway, and the preview."""

from __future__ import annotations

from .catalog import InputName, InputSpec, Kind, Model, Route, Source, Variant, WireField
from .catalog_common import (
    FAL_SEEDANCE_PRICE,
    FAL_VEO_PRICE,
    FIRST_FRAME,
    KLING_DOC,
    KLING_V3_FACTS,
    LAST_FRAME,
    OPENAI_SDK,
    PREVIEW,
    RUNWAY_PRICE,
    RUNWAY_SDK,
    SEEDANCE_FACTS,
    SHOT,
    SORA_PRICE,
    SORA_RETIRED,
    UNPRICED,
    VEO_FACTS,
    VEO_GEMINI_RETIRED,
    WIDE_AND_TALL,
    per_second,
    refs,
    seconds,
)

FAL_KLING_PRICE = Source(ref="fal.ai/models/fal-ai/kling-video/v3/*/llms.txt (crawls disagree: $0.112 or $0.224/s "
                              "for v3 pro)", confirmed=False)
FAL_O3_PRICE = Source(ref="fal.ai/models/fal-ai/kling-video/o3/standard/image-to-video ($0.084/s without sound)")
FAL_LIPSYNC_PRICE = Source(ref="fal.ai/models/fal-ai/kling-video/lipsync/audio-to-video/llms.txt ($0.014 per input "
                                "second, billed in 5 s steps)")
FAL_AVATAR_PRICE = Source(ref="fal.ai/models/fal-ai/kling-video/ai-avatar/v2 pricing pages", confirmed=False)
FAL_SORA_PRICE = Source(ref="fal.ai/models/fal-ai/sora-2/*/llms.txt; fal proxies OpenAI's API, which shut down")
VERTEX_VEO_PRICE = Source(ref="cloud.google.com/vertex-ai/generative-ai/pricing (Veo 3.1)", confirmed=False)

AUDIO_IN = InputSpec(name=InputName.AUDIO)
KLING_WIRE: tuple[WireField, ...] = ("prompt", "aspect_ratio", "duration_s", "audio")
SORA_RETIRED_ON_FAL = SORA_RETIRED.model_copy(update={
    "note": "fal's Sora 2 endpoints resell OpenAI's video API, which shut down on 2026-09-24",
    "source": Source(ref="fal.ai/models/fal-ai/sora-2/*/llms.txt ('only the OpenAI provider is used'); no live "
                         "probe possible here", confirmed=False)})


def _sora(variant: str, label: str, openai: str, fal_tier: str, usd: float, resolutions: tuple[str, ...],
          by_resolution: dict[str, float]) -> Variant:
    return Variant(
        id=variant, label=label, inputs=(FIRST_FRAME, SHOT), durations=(4, 8, 12), default_duration=4,
        aspect_ratios=WIDE_AND_TALL, default_aspect_ratio="16:9", resolutions=resolutions, default_resolution="720p",
        seed=False, facts=OPENAI_SDK,
        notes="sizes 1280x720 / 720x1280 (Pro also 1792x1024 / 1024x1792); no seed field",
        routes=(
            Route(backend="openai", model_id=openai, lifecycle=SORA_RETIRED,
                  price=per_second(usd, SORA_PRICE, by_resolution=by_resolution)),
            Route(backend="fal", model_id=f"fal-ai/sora-2/text-to-video{fal_tier}",
                  image_model_id=f"fal-ai/sora-2/image-to-video{fal_tier}", lifecycle=SORA_RETIRED_ON_FAL,
                  price=per_second(usd, FAL_SORA_PRICE, by_resolution=by_resolution)),
        ),
    )


SORA_2 = Model(
    prompt_style="sora",
    id="sora-2", label="Sora 2", vendor="OpenAI", kind=Kind.VIDEO, default_variant="standard",
    variants=(
        _sora("standard", "Sora 2", "sora-2", "", 0.10, ("720p",), {}),
        _sora("pro", "Sora 2 Pro", "sora-2-pro", "/pro", 0.30, ("720p", "1024p"), {"1024p": 0.50}),
    ),
)


def _kling(variant: str, label: str, kling: str, mode: str, fal: str, runway: str, usd: float, price: Source,
           resolution: str) -> Variant:
    return Variant(
        id=variant, label=label, inputs=(FIRST_FRAME, LAST_FRAME, SHOT), durations=seconds(3, 15),
        default_duration=5, aspect_ratios=("16:9", "9:16", "1:1"), default_aspect_ratio="16:9",
        resolutions=(resolution,), default_resolution=resolution, seed=False, sound=True, facts=KLING_V3_FACTS,
        notes="Kling takes no seed; with a first frame the aspect ratio follows the image",
        routes=(
            Route(backend="kling", model_id=kling, fixed={"mode": mode}, price=per_second(usd, UNPRICED),
                  source=KLING_DOC, aspect_from_image=True),
            # the tier (std / pro) decides the resolution: no route sends one
            Route(backend="fal", model_id=f"{fal}/text-to-video", image_model_id=f"{fal}/image-to-video",
                  price=per_second(usd, price), sends=KLING_WIRE, aspect_from_image=True),
            Route(backend="runway", model_id=runway, price=per_second(usd, RUNWAY_PRICE), sends=KLING_WIRE,
                  aspect_from_image=True),
        ),
    )


KLING_3 = Model(
    prompt_style="kling",
    id="kling-3", label="Kling 3.0 / O3", vendor="Kuaishou", kind=Kind.VIDEO, default_variant="3.0",
    variants=(
        _kling("3.0", "Kling 3.0 (std)", "kling-v3", "std", "fal-ai/kling-video/v3/standard", "kling3.0_standard",
               0.084, FAL_KLING_PRICE, "720p"),
        _kling("3.0-pro", "Kling 3.0 (pro)", "kling-v3", "pro", "fal-ai/kling-video/v3/pro", "kling3.0_pro",
               0.112, FAL_KLING_PRICE, "1080p"),
        _kling("o3", "Kling O3 (std)", "kling-v3-omni", "std", "fal-ai/kling-video/o3/standard", "klingO3_standard",
               0.084, FAL_O3_PRICE, "720p"),
        _kling("o3-pro", "Kling O3 (pro)", "kling-v3-omni", "pro", "fal-ai/kling-video/o3/pro", "klingO3_pro",
               0.112, FAL_KLING_PRICE, "1080p"),
    ),
)


def _avatar(variant: str, label: str, fal: str, usd: float) -> Variant:
    return Variant(
        id=variant, label=label, inputs=(InputSpec(name=InputName.IMAGE, required=True),
                                         InputSpec(name=InputName.AUDIO, required=True), SHOT),
        duration_from="audio", seed=False, facts=KLING_DOC,
        notes="the clip is as long as the voice clip (2–60 s is the safe range; sources disagree up to 300 s); "
              "the framing follows the portrait",
        routes=(
            Route(backend="kling", model_id="avatar", fixed={"mode": variant}, price=per_second(usd, UNPRICED)),
            Route(backend="fal", model_id=fal, price=per_second(usd, FAL_AVATAR_PRICE)),
        ),
    )


KLING_AVATAR = Model(
    prompt_style="kling",
    id="kling-avatar", label="Kling Avatar", vendor="Kuaishou", kind=Kind.VIDEO, default_variant="std",
    variants=(
        _avatar("std", "Kling Avatar (std)", "fal-ai/kling-video/ai-avatar/v2/standard", 0.0562),
        _avatar("pro", "Kling Avatar (pro)", "fal-ai/kling-video/ai-avatar/v2/pro", 0.115),
    ),
)

KLING_LIPSYNC = Model(
    id="kling-lipsync", label="Kling Lip-Sync", vendor="Kuaishou", kind=Kind.VIDEO, default_variant="standard",
    variants=(
        Variant(
            id="standard", label="Kling Lip-Sync (audio to video)", text_prompt=False,
            inputs=(InputSpec(name=InputName.VIDEO, required=True),
                    InputSpec(name=InputName.AUDIO, required=True)),
            duration_from="video", seed=False, facts=KLING_DOC,
            notes="a downstream pass on a video take: 2–10 s, 720p or 1080p, mp4/mov up to 100 MB; audio 2–60 s",
            routes=(
                Route(backend="kling", model_id="lip-sync", price=per_second(0.014, UNPRICED), no_upload=("video",)),
                Route(backend="fal", model_id="fal-ai/kling-video/lipsync/audio-to-video",
                      price=per_second(0.014, FAL_LIPSYNC_PRICE)),
            ),
        ),
    ),
)


def _seedance(variant: str, label: str, ark: str, fal: str, runway: str, replicate: str, usd: float,
              resolutions: tuple[str, ...]) -> Variant:
    return Variant(
        id=variant, label=label, inputs=(FIRST_FRAME, LAST_FRAME, refs(9), AUDIO_IN, SHOT),
        durations=seconds(4, 15), default_duration=5,
        aspect_ratios=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9"), default_aspect_ratio="16:9",
        resolutions=resolutions, default_resolution="720p", seed=True, sound=True, facts=SEEDANCE_FACTS,
        notes="reference images (up to 9) cannot be combined with first / last frames; reference audio needs an image",
        routes=(
            Route(backend="byteplus", model_id=ark, price=per_second(usd, UNPRICED)),
            Route(backend="fal", model_id=f"{fal}/text-to-video", image_model_id=f"{fal}/image-to-video",
                  price=per_second(usd, FAL_SEEDANCE_PRICE)),
            Route(backend="runway", model_id=runway, price=per_second(usd, RUNWAY_PRICE)),
            Route(backend="replicate", model_id=replicate, price=per_second(usd, UNPRICED)),
        ),
    )


# ByteDance sells no "Seedance 2 Pro": the seed's "Seedance 2 Pro" is the full Seedance 2.0 and "Seedance 2" the
# Fast tier of the same generation (the only two 2.0 tiers with the same inputs; only the full one goes to 1080p).
SEEDANCE_2 = Model(
    prompt_style="seedance",
    id="seedance-2", label="Seedance 2.0", vendor="ByteDance", kind=Kind.VIDEO, default_variant="pro",
    variants=(
        _seedance("pro", "Seedance 2.0 (full)", "dreamina-seedance-2-0-260128", "bytedance/seedance-2.0",
                  "seedance2", "bytedance/seedance-2.0", 0.3024, ("480p", "720p", "1080p")),
        _seedance("fast", "Seedance 2.0 Fast", "dreamina-seedance-2-0-fast-260128", "bytedance/seedance-2.0/fast",
                  "seedance2_fast", "bytedance/seedance-2.0-fast", 0.2419, ("480p", "720p")),
    ),
)


def _veo(variant: str, label: str, vertex: str, fal: str, runway: str, usd: float, audio_usd: float) -> Variant:
    return Variant(
        id=variant, label=label, inputs=(FIRST_FRAME, LAST_FRAME, refs(3), SHOT), durations=(4, 6, 8),
        default_duration=8, aspect_ratios=WIDE_AND_TALL, default_aspect_ratio="16:9",
        resolutions=("720p", "1080p"), default_resolution="720p", seed=True, sound=True, facts=VEO_FACTS,
        notes="reference images (up to 3) cannot be combined with first / last frames; sound is priced separately",
        routes=(
            Route(backend="vertex", model_id=vertex,
                  price=per_second(usd, VERTEX_VEO_PRICE, with_audio_usd=audio_usd)),
            Route(backend="fal", model_id=fal, image_model_id=f"{fal}/image-to-video",
                  price=per_second(usd, FAL_VEO_PRICE, with_audio_usd=audio_usd)),
            # runwayml 5.24.0 Veo3_1 params: promptImage first / last frames, no referenceImages
            Route(backend="runway", model_id=runway, price=per_second(audio_usd, RUNWAY_PRICE),
                  max_inputs={"images": 0}),
            Route(backend="gemini", model_id=vertex.replace("-001", "-preview"), seed=False,
                  lifecycle=VEO_GEMINI_RETIRED),
        ),
    )


VEO_3_1 = Model(
    prompt_style="veo",
    id="veo-3.1", label="Veo 3.1", vendor="Google", kind=Kind.VIDEO, default_variant="standard", aliases=("veo",),
    variants=(
        _veo("standard", "Veo 3.1", "veo-3.1-generate-001", "fal-ai/veo3.1", "veo3.1", 0.20, 0.40),
        _veo("fast", "Veo 3.1 Fast", "veo-3.1-fast-generate-001", "fal-ai/veo3.1/fast", "veo3.1_fast",
             0.10, 0.15),
    ),
)

RUNWAY_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9")

RUNWAY_ALEPH = Model(
    prompt_style="runway",
    id="runway-aleph", label="Runway Aleph", vendor="Runway", kind=Kind.VIDEO, default_variant="aleph2",
    aliases=("aleph",),
    variants=(
        Variant(
            id="aleph2", label="Runway Aleph 2 (video to video)",
            inputs=(InputSpec(name=InputName.VIDEO, required=True), refs(5), SHOT),
            duration_from="video", aspect_ratios=RUNWAY_RATIOS, default_aspect_ratio="16:9", seed=True,
            facts=RUNWAY_SDK, notes="continues or restyles a video take; keyframe images (up to 5) steer it",
            routes=(Route(backend="runway", model_id="aleph2", price=per_second(0.15, RUNWAY_PRICE)),),
        ),
    ),
)

RUNWAY_GEN45 = Model(
    prompt_style="runway",
    id="runway-gen-4.5", label="Runway Gen-4.5", vendor="Runway", kind=Kind.VIDEO, default_variant="standard",
    variants=(
        Variant(
            id="standard", label="Runway Gen-4.5", inputs=(FIRST_FRAME, SHOT), durations=seconds(2, 10),
            default_duration=5, aspect_ratios=RUNWAY_RATIOS, default_aspect_ratio="16:9",
            resolutions=("720p",), default_resolution="720p", seed=True, facts=RUNWAY_SDK,
            # runwayml 5.24.0: text_to_video gen4.5 ratio is 1280:720 or 720:1280 only
            routes=(Route(backend="runway", model_id="gen4.5", price=per_second(0.12, RUNWAY_PRICE),
                          text_only_aspect_ratios=("16:9", "9:16")),),
        ),
    ),
)

PREVIEW_VIDEO = Model(
    id="preview-video", label="Preview animatic", vendor="Blender Canvas", kind=Kind.VIDEO,
    default_variant="standard", preview_only=True,
    variants=(
        Variant(
            id="standard", label="Offline preview animatic",
            inputs=(FIRST_FRAME, LAST_FRAME, refs(16), AUDIO_IN, SHOT), durations=seconds(1, 20),
            default_duration=5,
            aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "4:5"), default_aspect_ratio="16:9",
            resolutions=("360p", "480p", "720p"), default_resolution="360p", seed=True, facts=PREVIEW,
            routes=(Route(backend="preview", model_id="video", price=per_second(0.0, PREVIEW)),),
        ),
    ),
)

VIDEO_MODELS = (SORA_2, KLING_3, KLING_AVATAR, KLING_LIPSYNC, SEEDANCE_2, VEO_3_1, RUNWAY_ALEPH, RUNWAY_GEN45,
                PREVIEW_VIDEO)

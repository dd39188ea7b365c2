"""Image models: Nano Banana 2, GPT Image 2, Flux, Imagen 4, and the offline preview still."""

from __future__ import annotations

from .catalog import Kind, Model, Route, Source, Variant, WireField
from .catalog_common import (
    BFL_DOC,
    GENAI_SDK,
    IMAGEN_GEMINI_RETIRED,
    OPENAI_IMAGES_SDK,
    PREVIEW,
    STILL_RATIOS,
    UNPRICED,
    Lifecycle,
    per_image,
    refs,
)

NANO_PRICE = Source(ref="reseller tables quoting Google's per-image price at 1K (Google's own page not found)",
                    confirmed=False)
NANO_IDS = Source(ref="google-genai 3.6.1 model list; Gemini API changelog 2026-05-28 (GA ids; -preview ids shut down "
                  "2026-06-25)")
FAL_NANO_PRICE = Source(ref="fal.ai/models/fal-ai/nano-banana-2/edit/llms.txt ($0.08 at 1K, x1.5 at 2K, x2 at 4K)")
FAL_NANO_PRO_PRICE = Source(ref="fal.ai/models/fal-ai/nano-banana-pro pricing", confirmed=False)
GPT_IMAGE_PRICE = Source(ref="OpenAI pricing page: gpt-image output tokens; per-image figure for a 1024x1024 medium "
                             "image", confirmed=False)
IMAGEN_PRICE = Source(ref="Vertex AI pricing as quoted by resellers (Imagen 4: $0.04 / $0.02 / $0.06 per image)",
                      confirmed=False)
FAL_IMAGEN_PRICE = Source(ref="fal.ai/models/fal-ai/imagen4/preview pricing", confirmed=False)
FLUX_PRICE = Source(ref="docs.bfl.ai/quick_start/pricing (FLUX.2 'from' prices at 1 MP; FLUX1.1 from reseller tables)",
                    confirmed=False)

# endpoints whose size follows the aspect ratio alone: the resolution is never sent
UNSIZED: tuple[WireField, ...] = ("prompt", "aspect_ratio", "seed")

_NANO = {"resolutions": ("1K", "2K", "4K"), "default_resolution": "1K", "aspect_ratios": STILL_RATIOS,
         "default_aspect_ratio": "1:1", "facts": NANO_IDS}

NANO_BANANA_2 = Model(
    id="nano-banana-2", label="Nano Banana 2", vendor="Google", kind=Kind.IMAGE, default_variant="standard",
    variants=(
        Variant(
            id="standard", label="Nano Banana 2 (Gemini 3.1 Flash Image)", inputs=(refs(14),), seed=True,
            notes="seed is sent as generationConfig.seed; its effect on image models is best effort",
            routes=(
                Route(backend="gemini", model_id="gemini-3.1-flash-image", price=per_image(0.067, NANO_PRICE)),
                Route(backend="fal", model_id="fal-ai/nano-banana-2", image_model_id="fal-ai/nano-banana-2/edit",
                      price=per_image(0.08, FAL_NANO_PRICE, by_resolution={"2K": 0.12, "4K": 0.16})),
                Route(backend="runway", model_id="gemini_image3.1_flash", seed=False,
                      price=per_image(0.08, UNPRICED)),
            ),
            **_NANO,
        ),
        Variant(
            id="pro", label="Nano Banana Pro (Gemini 3 Pro Image)", inputs=(refs(14),), seed=True,
            routes=(
                Route(backend="gemini", model_id="gemini-3-pro-image", price=per_image(0.134, NANO_PRICE)),
                Route(backend="fal", model_id="fal-ai/nano-banana-pro", image_model_id="fal-ai/nano-banana-pro/edit",
                      price=per_image(0.15, FAL_NANO_PRO_PRICE)),
                Route(backend="runway", model_id="gemini_image3_pro", seed=False, price=per_image(0.15, UNPRICED)),
            ),
            **_NANO,
        ),
    ),
)

GPT_IMAGE_2 = Model(
    id="gpt-image-2", label="GPT Image 2", vendor="OpenAI", kind=Kind.IMAGE, default_variant="medium",
    variants=tuple(
        Variant(
            id=quality, label=f"GPT Image 2, {quality} quality", inputs=(refs(16),), seed=False,
            aspect_ratios=("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "21:9"), default_aspect_ratio="1:1",
            resolutions=("1K", "2K", "4K"), default_resolution="1K", facts=OPENAI_IMAGES_SDK,
            notes="any WxH with both sides divisible by 16, aspect 1:3 to 3:1, at most 3840x2160 (4K is experimental)",
            routes=(
                Route(backend="openai", model_id="gpt-image-2", price=per_image(usd, GPT_IMAGE_PRICE)),
                Route(backend="fal", model_id="openai/gpt-image-2", image_model_id="openai/gpt-image-2/edit",
                      price=per_image(usd, GPT_IMAGE_PRICE), sends=UNSIZED),
                # Runway defaults to "high": the variant's quality is sent so low / medium are billed as chosen
                Route(backend="runway", model_id="gpt_image_2", fixed={"quality": quality},
                      price=per_image(usd, UNPRICED), sends=UNSIZED),
            ),
        )
        for quality, usd in (("medium", 0.053), ("low", 0.006), ("high", 0.211))
    ),
)

_FLUX_RATIOS = ("21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21")


def _flux(variant: str, label: str, bfl: str, fal: str, replicate: str, usd: float, max_refs: int,
          lifecycle: Lifecycle | None = None, *, fal_refs: int | None = None,
          replicate_refs: int | None = None) -> Variant:
    # FLUX.2 is sized in pixels from the aspect ratio and resolution; FLUX.1 takes the aspect ratio alone
    sends = None if bfl.startswith("flux-2") else UNSIZED
    return Variant(
        id=variant, label=label, inputs=(refs(max_refs),) if max_refs else (), seed=True,
        aspect_ratios=_FLUX_RATIOS, default_aspect_ratio="1:1", resolutions=("1K", "2K"), default_resolution="1K",
        facts=BFL_DOC, lifecycle=lifecycle or Lifecycle(),
        routes=(
            Route(backend="bfl", model_id=bfl, price=per_image(usd, FLUX_PRICE), sends=sends),
            Route(backend="fal", model_id=fal, price=per_image(usd, FLUX_PRICE), sends=UNSIZED,
                  max_inputs={} if fal_refs is None else {"images": fal_refs}),
            Route(backend="replicate", model_id=replicate, price=per_image(usd, FLUX_PRICE), sends=sends,
                  max_inputs={} if replicate_refs is None else {"images": replicate_refs}),
        ),
    )


FLUX = Model(
    id="flux", label="FLUX", vendor="Black Forest Labs", kind=Kind.IMAGE, default_variant="2-pro",
    variants=(
        _flux("2-pro", "FLUX.2 [pro]", "flux-2-pro", "fal-ai/flux-2-pro", "black-forest-labs/flux-2-pro", 0.03, 8),
        _flux("2-flex", "FLUX.2 [flex]", "flux-2-flex", "fal-ai/flux-2-flex", "black-forest-labs/flux-2-flex", 0.05, 8,
              replicate_refs=4),  # Replicate's flux-2-flex schema: input_images, at most 4
        _flux("2-max", "FLUX.2 [max]", "flux-2-max", "fal-ai/flux-2-max", "black-forest-labs/flux-2-max", 0.07, 8),
        _flux("1.1-pro", "FLUX1.1 [pro]", "flux-pro-1.1", "fal-ai/flux-pro/v1.1", "black-forest-labs/flux-1.1-pro",
              0.04, 0),
        _flux("1.1-pro-ultra", "FLUX1.1 [pro] Ultra", "flux-pro-1.1-ultra", "fal-ai/flux-pro/v1.1-ultra",
              "black-forest-labs/flux-1.1-pro-ultra", 0.06, 0),
        _flux("kontext-pro", "FLUX.1 Kontext [pro]", "flux-kontext-pro", "fal-ai/flux-pro/kontext",
              "black-forest-labs/flux-kontext-pro", 0.04, 4,
              Lifecycle(status="deprecated", note="BFL lists Kontext as legacy; use FLUX.2 [pro] for editing",
                        source=BFL_DOC),
              fal_refs=1, replicate_refs=1),  # fal's image_url and Replicate's input_image: one image each
    ),
)


def _imagen(variant: str, label: str, vertex: str, fal: str, usd: float) -> Variant:
    return Variant(
        id=variant, label=label, seed=False, aspect_ratios=("1:1", "3:4", "4:3", "9:16", "16:9"),
        default_aspect_ratio="1:1", resolutions=("1K", "2K"), default_resolution="1K", facts=GENAI_SDK,
        notes="seed is honoured on Vertex AI only",
        routes=(
            Route(backend="vertex", model_id=vertex, seed=True, price=per_image(usd, IMAGEN_PRICE)),
            Route(backend="fal", model_id=fal, price=per_image(usd, FAL_IMAGEN_PRICE), sends=UNSIZED),
            Route(backend="gemini", model_id=vertex, lifecycle=IMAGEN_GEMINI_RETIRED),
        ),
    )


IMAGEN_4 = Model(
    id="imagen-4", label="Imagen 4", vendor="Google", kind=Kind.IMAGE, default_variant="standard",
    variants=(
        _imagen("standard", "Imagen 4", "imagen-4.0-generate-001", "fal-ai/imagen4/preview", 0.04),
        _imagen("fast", "Imagen 4 Fast", "imagen-4.0-fast-generate-001", "fal-ai/imagen4/preview/fast", 0.02),
        _imagen("ultra", "Imagen 4 Ultra", "imagen-4.0-ultra-generate-001", "fal-ai/imagen4/preview/ultra", 0.06),
    ),
)

PREVIEW_IMAGE = Model(
    id="preview-image", label="Preview still", vendor="Blender Canvas", kind=Kind.IMAGE, default_variant="standard",
    preview_only=True,
    variants=(
        Variant(id="standard", label="Offline preview still", inputs=(refs(16),), seed=True,
                aspect_ratios=(*STILL_RATIOS, "9:21", "4:5", "5:4"), default_aspect_ratio="16:9",
                resolutions=("1K", "2K"), default_resolution="1K", facts=PREVIEW,
                routes=(Route(backend="preview", model_id="image", price=per_image(0.0, PREVIEW)),)),
    ),
)

IMAGE_MODELS = (NANO_BANANA_2, GPT_IMAGE_2, FLUX, IMAGEN_4, PREVIEW_IMAGE)

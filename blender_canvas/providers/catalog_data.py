"""The catalog: every backend, and every model assembled from the entry modules.

Adding a model means adding one entry to catalog_images / catalog_videos / catalog_voices (plus, for a new
vendor, one adapter and one Backend below).
"""

from __future__ import annotations

from .catalog import WIRE_FIELDS, Backend, Catalog, WireField
from .catalog_images import IMAGE_MODELS
from .catalog_videos import VIDEO_MODELS
from .catalog_voices import VOICE_MODELS

# what each adapter can put on the wire (checked route by route against the adapters in tests/core/test_cache_keys.py)
VIDEO_WIRE: tuple[WireField, ...] = ("prompt", "aspect_ratio", "resolution", "duration_s", "seed", "audio")
FAL_WIRE: tuple[WireField, ...] = (*VIDEO_WIRE, "text", "voice")  # fal also speaks (ElevenLabs voices)
OPENAI_WIRE: tuple[WireField, ...] = ("prompt", "aspect_ratio", "resolution", "duration_s")  # no seed, no sound
STILL_WIRE: tuple[WireField, ...] = ("prompt", "aspect_ratio", "resolution", "seed")
KLING_WIRE: tuple[WireField, ...] = ("prompt", "aspect_ratio", "duration_s", "audio")  # the mode decides the size

BACKENDS = (
    Backend(id="preview", label="Offline preview", env_keys=(), base_url="", sends=WIRE_FIELDS, default_concurrency=2,
            paid=False, docs="Animatic takes made on this machine; no key, no network, no cost."),
    # fal queues jobs server-side, so many in flight cost nothing here; the budget, not this cap, guards money.
    Backend(id="fal", label="fal", env_keys=("FAL_KEY",), base_url="https://queue.fal.run", sends=FAL_WIRE,
            default_concurrency=16, docs="https://docs.fal.ai/model-apis/model-endpoints/queue"),
    Backend(id="openai", label="OpenAI", env_keys=("OPENAI_API_KEY",), base_url="https://api.openai.com/v1",
            sends=OPENAI_WIRE, default_concurrency=4, docs="https://platform.openai.com/docs/api-reference"),
    Backend(id="gemini", label="Google Gemini API", env_keys=("GEMINI_API_KEY",),
            base_url="https://generativelanguage.googleapis.com", sends=STILL_WIRE, default_concurrency=4,
            docs="https://ai.google.dev/gemini-api/docs"),
    Backend(id="vertex", label="Google Vertex AI", env_keys=("GOOGLE_CLOUD_PROJECT",),
            base_url="https://aiplatform.googleapis.com", sends=VIDEO_WIRE, default_concurrency=4,
            docs="https://cloud.google.com/vertex-ai/generative-ai/docs (service account or application-default "
                 "credentials)"),
    Backend(id="kling", label="Kling AI", env_keys=("KLING_ACCESS_KEY", "KLING_SECRET_KEY"),
            base_url="https://api-singapore.klingai.com", sends=KLING_WIRE, default_concurrency=3,
            docs="https://app.klingai.com/global/dev/document-api"),
    Backend(id="byteplus", label="BytePlus ModelArk", env_keys=("ARK_API_KEY",),
            base_url="https://ark.ap-southeast.bytepluses.com/api/v3", sends=VIDEO_WIRE, default_concurrency=4,
            docs="https://docs.byteplus.com/en/docs/ModelArk"),
    Backend(id="runway", label="Runway", env_keys=("RUNWAYML_API_SECRET",), base_url="https://api.dev.runwayml.com",
            sends=VIDEO_WIRE, default_concurrency=2, docs="https://docs.dev.runwayml.com"),
    Backend(id="bfl", label="Black Forest Labs", env_keys=("BFL_API_KEY",), base_url="https://api.bfl.ai",
            sends=STILL_WIRE, default_concurrency=6, docs="https://docs.bfl.ai"),
    Backend(id="elevenlabs", label="ElevenLabs", env_keys=("ELEVENLABS_API_KEY",),
            base_url="https://api.elevenlabs.io", sends=("text", "voice", "seed"), default_concurrency=2, docs="https://elevenlabs.io/docs/api-reference"),
    Backend(id="fishaudio", label="Fish Audio", env_keys=("FISH_API_KEY",), base_url="https://api.fish.audio",
            sends=("text", "voice"), default_concurrency=5, docs="https://docs.fish.audio"),
    Backend(id="replicate", label="Replicate", env_keys=("REPLICATE_API_TOKEN",),
            base_url="https://api.replicate.com", sends=VIDEO_WIRE, default_concurrency=4, docs="https://replicate.com/docs"),
)

CATALOG = Catalog(backends=BACKENDS, models=(*IMAGE_MODELS, *VIDEO_MODELS, *VOICE_MODELS))

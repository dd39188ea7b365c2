"""The model catalog: every seed model and variant, lifecycles, routes, prices and their sources."""

from __future__ import annotations

from datetime import date

import pytest

from blender_canvas.providers.catalog import Catalog, Kind, describe_choices, describe_seconds, load_catalog

SEED_MODELS: dict[str, tuple[Kind, set[str]]] = {
    "nano-banana-2": (Kind.IMAGE, {"standard", "pro"}),
    "gpt-image-2": (Kind.IMAGE, set()),  # quality tiers; at least one variant
    "flux": (Kind.IMAGE, {"2-pro", "2-flex", "2-max", "1.1-pro"}),
    "imagen-4": (Kind.IMAGE, {"standard", "fast", "ultra"}),
    "preview-image": (Kind.IMAGE, {"standard"}),
    "sora-2": (Kind.VIDEO, {"standard", "pro"}),
    "kling-3": (Kind.VIDEO, {"3.0", "3.0-pro", "o3", "o3-pro"}),
    "kling-avatar": (Kind.VIDEO, set()),
    "kling-lipsync": (Kind.VIDEO, set()),
    "seedance-2": (Kind.VIDEO, {"pro", "fast"}),
    "veo-3.1": (Kind.VIDEO, {"standard", "fast"}),
    "runway-aleph": (Kind.VIDEO, {"aleph2"}),
    "runway-gen-4.5": (Kind.VIDEO, set()),
    "preview-video": (Kind.VIDEO, {"standard"}),
    "elevenlabs": (Kind.AUDIO, set()),
    "fish-audio": (Kind.AUDIO, set()),
    "preview-voice": (Kind.AUDIO, {"standard"}),
}


@pytest.mark.parametrize("model_id", sorted(SEED_MODELS))
def test_seed_model_present_with_its_variants(catalog: Catalog, model_id: str) -> None:
    kind, variants = SEED_MODELS[model_id]
    model = catalog.model(model_id)
    assert model is not None, f"{model_id} missing from the catalog"
    assert model.id == model_id
    assert model.kind == kind
    ids = {v.id for v in model.variants}
    assert ids, f"{model_id} has no variants"
    assert variants <= ids, f"{model_id}: missing variants {variants - ids}"
    assert model.variant(None) is not None and model.variant(None).id == model.default_variant  # type: ignore[union-attr]


def test_catalog_has_nothing_but_known_kinds_and_unique_names(catalog: Catalog) -> None:
    assert set(SEED_MODELS) <= set(catalog.model_ids)
    assert len(catalog.model_ids) == len(set(catalog.model_ids))
    assert load_catalog() is load_catalog()  # built once


def test_flux_has_several_variants_including_2_pro(catalog: Catalog) -> None:
    flux = catalog.model("flux")
    assert flux is not None
    assert len(flux.variants) >= 3
    assert flux.variant("2-pro") is not None


def test_aliases_resolve_to_their_model(catalog: Catalog) -> None:
    assert catalog.model("veo") is catalog.model("veo-3.1")
    assert catalog.model("aleph") is catalog.model("runway-aleph")
    assert catalog.model("no-such-model") is None


def test_runway_aleph_routes_to_aleph2(catalog: Catalog) -> None:
    aleph = catalog.model("runway-aleph")
    assert aleph is not None
    variant = aleph.variant(None)
    assert variant is not None
    route = variant.route("runway")
    assert route is not None and route.model_id == "aleph2"
    assert all(r.model_id != "gen4_aleph" for v in aleph.variants for r in v.routes)  # removed from the SDK


def test_preview_models_are_free_and_offline(catalog: Catalog) -> None:
    preview = catalog.backend("preview")
    assert preview is not None and not preview.paid and preview.env_keys == ()
    for model_id in ("preview-image", "preview-video", "preview-voice"):
        model = catalog.model(model_id)
        assert model is not None and model.preview_only
        for variant in model.variants:
            assert [r.backend for r in variant.routes] == ["preview"]
            assert all(r.price is not None and r.price.usd == 0 for r in variant.routes)
    assert not any(m.preview_only for m in catalog.models if not m.id.startswith("preview-"))


# --- lifecycle ---------------------------------------------------------------------------------------

SORA_SHUTDOWN = date(2026, 9, 24)


@pytest.mark.parametrize("variant_id", ["standard", "pro"])
def test_sora_2_retired_on_every_route(catalog: Catalog, variant_id: str) -> None:
    sora = catalog.model("sora-2")
    assert sora is not None
    variant = sora.variant(variant_id)
    assert variant is not None
    assert variant.routes
    for route in variant.routes:
        assert route.lifecycle.status == "retired", route.backend
        assert route.lifecycle.since == SORA_SHUTDOWN, route.backend
        assert route.lifecycle.note and route.lifecycle.source is not None
    assert variant.live_routes == ()
    assert variant.status.status == "retired"
    assert variant.status.since == SORA_SHUTDOWN


@pytest.mark.parametrize(("model_id", "retired_on", "live"), [
    ("imagen-4", date(2026, 8, 17), {"vertex", "fal"}),
    ("veo-3.1", date(2026, 11, 6), {"vertex", "fal", "runway"}),
])
def test_google_gemini_routes_retired_while_others_live(catalog: Catalog, model_id: str, retired_on: date,
                                                         live: set[str]) -> None:
    model = catalog.model(model_id)
    assert model is not None
    for variant in model.variants:
        gemini = variant.route("gemini")
        assert gemini is not None, f"{model_id}/{variant.id} lost its (retired) gemini route"
        assert gemini.lifecycle.status == "retired"
        assert gemini.lifecycle.since == retired_on
        assert gemini.lifecycle.source is not None and gemini.lifecycle.note
        assert {r.backend for r in variant.live_routes} == live
        assert all(r.lifecycle.status == "active" for r in variant.live_routes)
        assert variant.status.status == "active"  # the model lives on through its other routes


def test_imagen_gemini_retirement_is_the_api_shutdown_date(catalog: Catalog) -> None:
    imagen = catalog.model("imagen-4")
    assert imagen is not None
    route = imagen.variants[0].route("gemini")
    assert route is not None and route.lifecycle.since == date(2026, 8, 17)


def test_deprecated_variants_are_still_usable(catalog: Catalog) -> None:
    flux = catalog.model("flux")
    assert flux is not None
    kontext = flux.variant("kontext-pro")
    assert kontext is not None
    assert kontext.status.status == "deprecated" and kontext.status.note
    assert kontext.live_routes


def test_every_live_seed_model_has_a_live_route(catalog: Catalog) -> None:
    for model in catalog.models:
        if model.id == "sora-2":
            continue
        for variant in model.variants:
            assert variant.live_routes, f"{model.id}/{variant.id} has no live route"


# --- routes, facts and prices ----------------------------------------------------------------------

def test_every_route_backend_exists(catalog: Catalog) -> None:
    backend_ids = {b.id for b in catalog.backends}
    used: set[str] = set()
    for model in catalog.models:
        for variant in model.variants:
            for route in variant.routes:
                assert route.backend in backend_ids, f"{model.id}/{variant.id}: {route.backend}"
                assert catalog.backend(route.backend) is not None
                assert route.model_id
                used.add(route.backend)
    assert used == backend_ids, f"backends no route uses: {backend_ids - used}"


def test_every_backend_is_described(catalog: Catalog) -> None:
    for backend in catalog.backends:
        assert backend.label and backend.default_concurrency >= 1
        if backend.paid:
            assert backend.env_keys, backend.id
            assert backend.base_url.startswith("https://"), backend.id


def test_every_price_has_a_source(catalog: Catalog) -> None:
    priced = 0
    for model in catalog.models:
        for variant in model.variants:
            for route in variant.routes:
                if route.lifecycle.usable:
                    assert route.price is not None, f"{model.id}/{variant.id}/{route.backend} has no price"
                if route.price is not None:
                    priced += 1
                    assert route.price.source.ref.strip(), f"{model.id}/{variant.id}/{route.backend}"
                    assert route.price.usd >= 0
    assert priced > 50


def test_unconfirmed_prices_are_marked(catalog: Catalog) -> None:
    """Prices that rest on reseller pages or placeholders must say so; vendor-doc prices stay confirmed."""
    def price(model_id: str, variant_id: str, backend: str) -> tuple[float, bool]:
        model = catalog.model(model_id)
        assert model is not None
        variant = model.variant(variant_id)
        assert variant is not None
        route = variant.route(backend)
        assert route is not None and route.price is not None
        return route.price.usd, route.price.source.confirmed

    # secondary or missing sources: flagged
    assert price("nano-banana-2", "standard", "gemini") == (0.067, False)
    assert price("kling-3", "3.0", "kling")[1] is False  # no public Kling USD price
    assert price("kling-3", "3.0-pro", "fal")[1] is False  # crawls disagree ($0.112 vs $0.224)
    assert price("seedance-2", "pro", "byteplus")[1] is False
    assert price("veo-3.1", "standard", "vertex")[1] is False
    assert price("runway-gen-4.5", "standard", "runway")[1] is False  # credit rates not in the SDK
    # vendor-documented: confirmed
    assert price("nano-banana-2", "standard", "fal") == (0.08, True)
    assert price("kling-3", "o3", "fal") == (0.084, True)
    assert price("seedance-2", "pro", "fal") == (0.3024, True)
    assert price("seedance-2", "fast", "fal") == (0.2419, True)
    assert price("veo-3.1", "standard", "fal") == (0.20, True)
    assert price("veo-3.1", "fast", "fal") == (0.10, True)
    assert price("kling-lipsync", "standard", "fal") == (0.014, True)
    # the rule itself: a placeholder price is always unconfirmed
    for model in catalog.models:
        for variant in model.variants:
            for route in variant.routes:
                if route.price and "placeholder" in route.price.source.ref:
                    assert not route.price.source.confirmed, f"{model.id}/{variant.id}/{route.backend}"


def test_veo_prices_sound_separately(catalog: Catalog) -> None:
    veo = catalog.model("veo-3.1")
    assert veo is not None
    fal = veo.variants[0].route("fal")
    assert fal is not None and fal.price is not None
    assert fal.price.rate() == 0.20
    assert fal.price.rate(audio=True) == 0.40
    assert fal.price.rate(resolution="720p") == 0.20
    assert fal.price.rate(resolution="1080p", audio=True) == 0.40


def test_variant_facts_are_consistent(catalog: Catalog) -> None:
    for model in catalog.models:
        for variant in model.variants:
            where = f"{model.id}/{variant.id}"
            if model.kind == Kind.VIDEO:
                assert bool(variant.durations) != bool(variant.duration_from), where
            if variant.durations:
                assert variant.default_duration in variant.durations, where
                assert list(variant.durations) == sorted(set(variant.durations)), where
            if variant.aspect_ratios:
                assert variant.default_aspect_ratio in variant.aspect_ratios, where
            if variant.resolutions:
                assert variant.default_resolution in variant.resolutions, where
            assert variant.facts is not None, where


@pytest.mark.parametrize(("model_id", "variant_id", "durations"), [
    ("sora-2", "standard", (4, 8, 12)),
    ("kling-3", "3.0", tuple(range(3, 16))),
    ("kling-3", "o3-pro", tuple(range(3, 16))),
    ("seedance-2", "fast", tuple(range(4, 16))),
    ("veo-3.1", "standard", (4, 6, 8)),
    ("runway-gen-4.5", "standard", tuple(range(2, 11))),
])
def test_durations_match_the_vendors(catalog: Catalog, model_id: str, variant_id: str,
                                     durations: tuple[int, ...]) -> None:
    model = catalog.model(model_id)
    assert model is not None
    variant = model.variant(variant_id)
    assert variant is not None and variant.durations == durations


def test_seed_support_per_route(catalog: Catalog) -> None:
    imagen = catalog.model("imagen-4")
    kling = catalog.model("kling-3")
    veo = catalog.model("veo-3.1")
    nano = catalog.model("nano-banana-2")
    assert imagen and kling and veo and nano
    standard = imagen.variant("standard")
    assert standard is not None
    assert standard.seed_on("vertex") and not standard.seed_on("fal")
    assert not any(v.seed_on(r.backend) for v in kling.variants for r in v.routes)
    assert veo.variants[0].seed_on("runway")  # runwayml 5.24.0 accepts seed for veo3.1 (catalog-facts C5)
    nb2 = nano.variant("standard")
    assert nb2 is not None and nb2.seed_on("fal") and not nb2.seed_on("runway")


def test_avatar_and_lipsync_need_their_inputs(catalog: Catalog) -> None:
    avatar = catalog.model("kling-avatar")
    lipsync = catalog.model("kling-lipsync")
    assert avatar and lipsync
    for variant in avatar.variants:
        assert {s.name.value for s in variant.inputs if s.required} == {"image", "audio"}
        assert variant.duration_from == "audio"
    only = lipsync.variants[0]
    assert {s.name.value for s in only.inputs if s.required} == {"video", "audio"}
    assert not only.text_prompt


# --- formatting helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "text"), [
    ((), "any"),
    ((5,), "5 s"),
    ((5, 10), "5 or 10 s"),
    ((4, 8, 12), "4, 8 or 12 s"),
    ((4, 6, 8), "4, 6 or 8 s"),
    ((3, 4, 5), "3, 4 or 5 s"),  # a short run is listed, not ranged
    (tuple(range(3, 16)), "3–15 s"),
    ((1, 2, 3, 5), "1, 2, 3 or 5 s"),  # not consecutive
])
def test_describe_seconds(values: tuple[int, ...], text: str) -> None:
    assert describe_seconds(values) == text


@pytest.mark.parametrize(("values", "text"), [
    (("16:9",), "16:9"),
    (("16:9", "9:16"), "16:9 or 9:16"),
    (("a", "b", "c"), "a, b or c"),
])
def test_describe_choices(values: tuple[str, ...], text: str) -> None:
    assert describe_choices(values) == text

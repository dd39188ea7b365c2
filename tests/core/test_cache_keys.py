"""The cache key is what the route sends: route by route against the adapters' own body builders, then through the
planner, over real HTTP on the fake fal, and for ledgers written with the keys of the previous release."""

from __future__ import annotations

import hashlib
import json
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from blender_canvas.engine.cache_keys import KeyMaker, cache_key, legacy_cache_key
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.ledger import Ledger, dumps
from blender_canvas.engine.planner import Plan, TakeJob, plan_run, resolve_inputs
from blender_canvas.engine.session import Session
from blender_canvas.providers import (
    bfl,
    byteplus,
    elevenlabs,
    fal,
    fishaudio,
    gemini,
    kling_bodies,
    openai_bodies,
    replicate,
    runway_bodies,
    vertex,
)
from blender_canvas.providers.backend import JobRequest
from blender_canvas.providers.catalog import Catalog, InputName, Model, Route, Variant, load_catalog
from blender_canvas.providers.registry import IMPLEMENTED
from tests.core.test_engine_fal import run
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal

CATALOG = load_catalog()
KEYS = {"FAL_KEY": DEFAULT_KEY}


def _jsonable(value: Any) -> str:
    return json.dumps(value, default=lambda o: o.__dict__ if hasattr(o, "__dict__") else str(o), sort_keys=True)


BUILDERS: dict[str, Callable[[JobRequest], Any]] = {
    "fal": fal.build_input,
    "kling": kling_bodies.build_request,
    "byteplus": byteplus.build_body,
    "bfl": bfl.build_body,
    "openai": lambda r: openai_bodies.image_fields(r) if r.media == "image" else openai_bodies.video_form(r, []),
    "runway": lambda r: runway_bodies.build_request(r, lambda *a, **k: "data:video/mp4;base64,AA=="),
    "replicate": lambda r: replicate.build_input(r, replicate.family_for(r.backend_model_id))[0],
    "gemini": gemini.build_body,
    "vertex": lambda r: vertex.veo_body(r) if r.media == "video" else vertex.imagen_body(r),
    "elevenlabs": elevenlabs.build_request,
    "fishaudio": fishaudio.build_request,
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    Image.new("RGB", (640, 360), (120, 90, 30)).save(folder / "still.png")
    with wave.open(str(folder / "voice.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 16000 * 3)
    from tests.fakes.fal_server import mp4_bytes

    (folder / "clip.mp4").write_bytes(mp4_bytes())
    return {"image": folder / "still.png", "audio": folder / "voice.wav", "video": folder / "clip.mp4"}


def paid_routes() -> Iterator[tuple[Model, Variant, Route, bool]]:
    for model in CATALOG.models:
        for variant in model.variants:
            for route in variant.routes:
                if route.backend == "preview" or route.backend in route.no_upload:
                    continue
                takes_image = variant.input(InputName.IMAGE) is not None
                needs_image = takes_image and bool(variant.input(InputName.IMAGE).required)  # type: ignore[union-attr]
                for with_image in (False, True):
                    if (with_image and not takes_image) or (needs_image and not with_image):
                        continue
                    if "video" in route.no_upload and variant.input(InputName.VIDEO):
                        continue  # the planner never routes a wired video file here (Kling lip-sync)
                    yield model, variant, route, with_image


def _choices(variant: Variant, media_kind: str) -> dict[str, list[Any]]:
    """Two values of each planner field that a node of this variant can really ask for."""
    return {
        "prompt": ["a barista lifts the cup", "a barista sets the cup down"],
        "aspect_ratio": list(variant.aspect_ratios[:2]),
        "resolution": list(variant.resolutions[:2]),
        "duration_s": [] if variant.duration_from else list(variant.durations[:2]),
        "seed": [7, 8],
        "audio": [False, True] if media_kind == "video" else [],
        "text": ["Built for the long run.", "Made for the long run."] if media_kind == "audio" else [],
        "voice": ["voice-one", "voice-two"] if media_kind == "audio" else [],
        "fps": [24, 30],
        "camera": ["slow pan", "static"],
    }


def _request(model: Model, variant: Variant, route: Route, with_image: bool, media: dict[str, Path],
             values: dict[str, Any]) -> JobRequest:
    inputs = {spec.name.value: [media[spec.name.value if spec.name.value in media else "image"]]
              for spec in variant.inputs if spec.required and spec.name != InputName.SHOT}
    if with_image:
        inputs["image"] = [media["image"]]
    prompt = values.pop("prompt", "")
    model_id = route.image_model_id if with_image and route.image_model_id else route.model_id
    return JobRequest(job_id="j", node_id="n", model=model.id, variant=variant.id, backend=route.backend,
                      backend_model_id=model_id, media=model.kind.value, prompt=prompt, params=values,
                      inputs=inputs, fixed=dict(route.fixed))


ROUTES = list(paid_routes())


@pytest.mark.parametrize(("model", "variant", "route", "with_image"), ROUTES,
                         ids=[f"{m.id}/{v.id}@{r.backend}{'+image' if i else ''}" for m, v, r, i in ROUTES])
def test_each_paid_route_declares_exactly_what_its_adapter_sends(model: Model, variant: Variant, route: Route,
                                                                  with_image: bool, media: dict[str, Path]) -> None:
    backend = CATALOG.backend(route.backend)
    assert backend is not None
    fields = variant.wire_fields(route, backend, with_image=with_image)
    assert not fields & {"fps", "camera"}, "no paid route sends the canvas frame rate or the camera words"
    choices = _choices(variant, model.kind.value)
    full = {name: values[0] for name, values in choices.items() if values}
    if not variant.seed_on(route.backend):
        full.pop("seed")
    build = BUILDERS[route.backend]
    sent = {name: value for name, value in full.items() if name in fields}
    # nothing the adapter puts on the wire is lost when it is handed only the declared fields
    assert _jsonable(build(_request(model, variant, route, with_image, media, dict(full)))) == _jsonable(
        build(_request(model, variant, route, with_image, media, dict(sent))))
    # and every declared field that a node can vary really reaches the wire
    base = _jsonable(build(_request(model, variant, route, with_image, media, dict(sent))))
    for name in sorted(fields):
        if name == "text" and sent.get("prompt"):
            continue  # a voice's words are its prompt
        if len(choices.get(name, [])) < 2:
            continue
        changed = {**sent, name: choices[name][1]}
        assert _jsonable(build(_request(model, variant, route, with_image, media, changed))) != base, name


def _canvas(tmp_path: Path, *, fps: int = 24, resolution: str | None = None, label: str = "",
            route: str = "fal", model: str = "kling-3", kind: str = "video", draft: bool = False) -> Canvas:
    Image.new("RGB", (640, 360), (200, 120, 40)).save(tmp_path / "still.png")
    node: dict[str, Any] = {"id": "n", "kind": kind, "model": model, "route": route, "label": label,
                            "inputs": {"image": "still"} if kind == "video" else {},
                            "prompt": {"subject": "the barista", "camera": "slow push in"}}
    defaults: dict[str, Any] = {"fps": fps, "seed": 7}
    if resolution:
        defaults["resolution"] = resolution
    return Canvas.model_validate({"version": 1, "draft": draft, "defaults": defaults, "nodes": [
        {"id": "still", "kind": "reference", "path": "still.png"}, node]})


def _keys(doc: Canvas, tmp_path: Path, ledger: Ledger) -> list[str]:
    plan = plan_run(doc, CATALOG, ledger, base_dir=tmp_path, keys={"FAL_KEY": "k", "OPENAI_API_KEY": "k"},
                    implemented=IMPLEMENTED)
    keys = []
    for job in plan.jobs:
        resolved = resolve_inputs(job, doc, ledger, tmp_path)
        assert resolved is not None
        keys.append(job.cache_key(resolved[1]))
    return keys


def test_fps_and_labels_never_change_a_paid_key_but_change_a_draft_one(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "p" / "ledger.sqlite")
    paid = _keys(_canvas(tmp_path), tmp_path, ledger)
    assert _keys(_canvas(tmp_path, fps=30, label="Hero close-up"), tmp_path, ledger) == paid
    # what fal's Kling endpoint does see changes the key
    moved = _canvas(tmp_path)
    moved.node("n").prompt.camera = "static"  # type: ignore[union-attr]
    assert _keys(moved, tmp_path, ledger) != paid
    draft = _keys(_canvas(tmp_path, draft=True), tmp_path, ledger)
    assert _keys(_canvas(tmp_path, fps=30, draft=True), tmp_path, ledger) != draft  # the preview renders at the fps
    ledger.close()


def test_a_resolution_the_endpoint_ignores_never_changes_the_key(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "p" / "ledger.sqlite")
    on_fal = [_keys(_canvas(tmp_path, resolution=size, model="gpt-image-2", kind="image"), tmp_path, ledger)
              for size in ("1K", "2K")]
    assert on_fal[0] == on_fal[1]  # fal's GPT Image endpoint has no size field
    on_openai = [_keys(_canvas(tmp_path, resolution=size, model="gpt-image-2", kind="image", route="openai"),
                       tmp_path, ledger) for size in ("1K", "2K")]
    assert on_openai[0] != on_openai[1]  # OpenAI's own API sends it as the size
    ledger.close()


@pytest.fixture
def fake_fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.02) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


def _chain(tmp_path: Path, fps: int = 24) -> Canvas:
    """A still made on fal feeding two video models on fal: a chain of generated inputs."""
    return Canvas.model_validate({"version": 1, "title": f"at {fps}", "defaults": {"fps": fps, "seed": 3}, "nodes": [
        {"id": "hero", "kind": "image", "model": "nano-banana-2", "route": "fal",
         "prompt": {"subject": "the barista at the counter"}},
        {"id": "shot", "kind": "shot", "subject": "the barista", "action": "lifts the cup"},
        {"id": "kling", "kind": "video", "model": "kling-3", "route": "fal", "takes": 2, "label": f"{fps} fps",
         "inputs": {"image": "hero", "shot": "shot"}},
        {"id": "veo", "kind": "video", "model": "veo-3.1", "variant": "fast", "route": "fal", "duration_s": 4,
         "inputs": {"image": "hero", "shot": "shot"}}]})


def test_on_the_fake_fal_a_new_fps_or_label_submits_nothing(fake_fal: FakeFal, tmp_path: Path) -> None:
    session = Session(tmp_path / "p", keys=KEYS)
    run(session, _chain(tmp_path), tmp_path)
    submits = len(fake_fal.requests_to("api", "POST"))
    assert submits == 4 and len(session.ledger.takes()) == 4
    session.close()
    again = Session(tmp_path / "p", keys=KEYS)
    plan = again.plan(_chain(tmp_path, fps=30), tmp_path)
    assert plan.submits == [] and plan.estimate_usd == 0  # the estimate says so before the run...
    events = run(again, _chain(tmp_path, fps=30), tmp_path)
    assert len(fake_fal.requests_to("api", "POST")) == submits  # ...and the run submits nothing
    assert sorted(e.kind for e in events if e.kind in ("cached", "landed")) == ["cached"] * 4  # type: ignore[attr-defined]
    again.close()


def _old_key(job: Any, hashes: dict[str, list[str]]) -> str:
    """The key the previous release wrote (every planner field), as its TakeJob.cache_key computed it."""
    material = {"model": job.model, "variant": job.variant, "backend": job.backend,
                "backend_model_id": job.backend_model_id, "prompt": job.legacy["prompt"],
                "params": job.legacy["params"], "fixed": job.fixed, "inputs": hashes, "take": job.take_index}
    return hashlib.sha256(dumps(material).encode()).hexdigest()


def test_a_ledger_keyed_by_the_previous_release_keeps_its_cached_takes(fake_fal: FakeFal, tmp_path: Path) -> None:
    session = Session(tmp_path / "p", keys=KEYS)
    doc = _chain(tmp_path)
    run(session, doc, tmp_path)
    submits = len(fake_fal.requests_to("api", "POST"))
    plan = session.plan(doc, tmp_path)
    old_keys = {}
    for job in plan.jobs:  # rewrite every take's key the way the previous release wrote it
        resolved = resolve_inputs(job, doc, session.ledger, tmp_path)
        assert resolved is not None and job.cached_take is not None
        old_keys[job.cached_take] = _old_key(job, resolved[1])
        session.ledger.rekey_take(job.cached_take, old_keys[job.cached_take])
    assert all(session.ledger.take_for_key(k) is not None for k in old_keys.values())
    replanned: Plan = session.plan(doc, tmp_path)
    assert replanned.submits == []  # found under the old keys...
    assert all(session.ledger.take_for_key(k) is None for k in old_keys.values())  # ...and moved to the new ones
    run(session, doc, tmp_path)
    assert len(fake_fal.requests_to("api", "POST")) == submits
    session.close()


def test_every_backend_declares_what_it_sends(catalog: Catalog) -> None:
    for backend in catalog.backends:
        assert backend.sends, backend.id
    preview = catalog.backend("preview")
    assert preview is not None and {"fps", "camera"} <= set(preview.sends)


def test_a_job_in_flight_under_the_previous_key_is_followed_after_the_upgrade(tmp_path: Path) -> None:
    """A job journalled by the previous release (its key hashed every field) and still running when the project is
    reopened: the session moves it to today's key before anything resumes, and the plan follows it, submitting
    nothing and pricing nothing."""
    from blender_canvas.engine.ledger import JobRecord

    doc = _canvas(tmp_path)  # Kling 3.0 on fal from a still on disk
    session = Session(tmp_path / "p", keys=KEYS)
    job = session.plan(doc, tmp_path).jobs[0]
    resolved = resolve_inputs(job, doc, session.ledger, tmp_path)
    assert resolved is not None
    files, hashes = resolved
    old_request = job.request("old-job", files).model_copy(
        update={"params": job.legacy["params"], "prompt": job.legacy["prompt"]})
    assert old_request.params["fps"] == 24  # what the previous release journalled and hashed
    session.ledger.add_job(JobRecord(
        job_id="old-job", node_id="n", take_index=0, cache_key=_old_key(job, hashes), model=job.model,
        variant=job.variant, backend=job.backend, backend_model_id=job.backend_model_id, prompt=old_request.prompt,
        request_json=old_request.model_dump_json(), state="running", estimated_usd=job.estimate_usd,
        created_at=0.0))
    session.ledger.close()
    reopened = Session(tmp_path / "p", keys=KEYS)
    record = reopened.ledger.job("old-job")
    assert record is not None and record.cache_key == job.cache_key(hashes)
    again = reopened.plan(_canvas(tmp_path, fps=30), tmp_path)
    assert [j.in_flight for j in again.jobs] == ["old-job"]
    assert again.submits == [] and again.estimate_usd == 0
    reopened.ledger.close()


def test_a_draft_ledger_keyed_by_the_previous_release_keeps_its_takes(tmp_path: Path) -> None:
    doc = _canvas(tmp_path, draft=True)
    session = Session(tmp_path / "p", keys={})
    run(session, doc, tmp_path, timeout=120)
    plan = session.plan(doc, tmp_path)
    job = plan.jobs[0]
    resolved = resolve_inputs(job, doc, session.ledger, tmp_path)
    assert resolved is not None and job.cached_take is not None
    session.ledger.rekey_take(job.cached_take, _old_key(job, resolved[1]))
    assert session.plan(doc, tmp_path).submits == []
    events = run(session, doc, tmp_path)
    assert [e.kind for e in events if e.kind in ("cached", "landed")] == ["cached"]  # type: ignore[attr-defined]
    session.close()


@pytest.mark.parametrize("params", [{}, {"seed": 7, "duration_s": 5, "aspect_ratio": "16:9"},
                                    {"camera": "pan left — slowly", "audio": True, "fps": 23.976, "x": None},
                                    {"nested": {"b": [1, 2], "a": "é"}, "path": Path("/tmp/a b")}])
@pytest.mark.parametrize("take", [0, 3])
def test_the_planners_key_maker_gives_the_same_keys_as_the_key_functions(params: dict[str, Any], take: int) -> None:
    hashes = {"image": ["ab" * 32], "end_image": ["cd" * 32, "ef" * 32]}
    fixed = {"mode": "pro", "ä": "ü"}
    legacy = {"model": "kling-3", "variant": "3.0", "backend": "fal", "backend_model_id": "fal-ai/kling",
              "prompt": "a courier \"walks\" in", "fixed": fixed}
    maker = KeyMaker(backend="fal", backend_model_id="fal-ai/kling", fixed=fixed, input_hashes=hashes, legacy=legacy)
    expected = cache_key(backend="fal", backend_model_id="fal-ai/kling", fixed=fixed, prompt="a courier in ☕",
                         params=params, input_hashes=hashes, take_index=take)
    assert maker.key("a courier in ☕", params, take) == expected
    assert maker.legacy_key(params, take) == legacy_cache_key({**legacy, "params": params}, hashes, take)
    assert maker.key("another prompt", params, take) != expected
    assert maker.key("a courier in ☕", params, take + 1) != expected


@pytest.mark.parametrize("draft", [False, True])
def test_planned_jobs_are_what_validation_makes_of_them_and_own_their_containers(tmp_path: Path,
                                                                                 draft: bool) -> None:
    ledger = Ledger(tmp_path / "p" / "ledger.sqlite")
    doc = _canvas(tmp_path, draft=draft)
    doc.nodes[1].takes = 3  # type: ignore[union-attr]
    plan = plan_run(doc, CATALOG, ledger, base_dir=tmp_path, keys={}, implemented=IMPLEMENTED)
    assert len(plan.jobs) == 3
    for job in plan.jobs:
        again = TakeJob.model_validate(job.model_dump())
        assert again == job and type(again.estimate_usd) is float and again.media == "video"
    first, second = plan.jobs[0], plan.jobs[1]
    first.inputs["image"].append("other")
    first.fixed["x"] = "y"
    assert second.inputs == {"image": ["still"]} and "x" not in second.fixed
    ledger.close()

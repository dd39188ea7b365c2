"""One canvas that uses every backend at once, through the real engine, against every vendor's fake on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.session import Session
from tests.fakes import (
    bfl_server,
    byteplus_server,
    elevenlabs_server,
    fal_server,
    fishaudio_server,
    google_server,
    kling_server,
    openai_server,
    replicate_server,
    runway_server,
)

pytest.importorskip("cryptography", reason="Vertex AI service-account sign-in needs cryptography")

PROJECT = "canvas-test"
EMAIL = "canvas@canvas-test.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"

# node id -> (model, variant, route, inputs)
NODES: dict[str, tuple[str, str | None, str, dict[str, Any]]] = {
    "fal_kling": ("kling-3", "3.0", "fal", {"image": "still"}),
    "openai_image": ("gpt-image-2", "low", "openai", {}),
    "gemini_image": ("nano-banana-2", "standard", "gemini", {}),
    "vertex_veo": ("veo-3.1", "fast", "vertex", {"image": "still"}),
    "kling_direct": ("kling-3", "3.0", "kling", {"image": "still"}),
    "byteplus_seedance": ("seedance-2", "fast", "byteplus", {"image": "still"}),
    "runway_gen45": ("runway-gen-4.5", None, "runway", {"image": "still"}),
    "bfl_flux": ("flux", "2-pro", "bfl", {}),
    "replicate_flux": ("flux", "2-pro", "replicate", {}),
    "eleven_voice": ("elevenlabs", None, "elevenlabs", {}),
    "fish_voice": ("fish-audio", None, "fishaudio", {}),
}
KINDS = {"gpt-image-2": "image", "nano-banana-2": "image", "flux": "image", "elevenlabs": "audio",
         "fish-audio": "audio"}


def private_key() -> tuple[str, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def every_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    fakes = {
        "fal": fal_server.FakeFal(), "openai": openai_server.FakeOpenAI(),
        "gemini": google_server.FakeGoogle(project=PROJECT), "kling": kling_server.FakeKling(),
        "byteplus": byteplus_server.FakeBytePlus(), "runway": runway_server.FakeRunway(),
        "bfl": bfl_server.FakeBfl(), "replicate": replicate_server.FakeReplicate(),
        "elevenlabs": elevenlabs_server.FakeElevenLabs(), "fishaudio": fishaudio_server.FakeFishAudio(),
    }
    with ExitStack() as stack:
        for name, fake in fakes.items():
            stack.enter_context(fake)
            monkeypatch.setenv(f"BLENDER_CANVAS_{name.upper()}_URL", fake.base_url)
        google = fakes["gemini"]
        monkeypatch.setenv("BLENDER_CANVAS_VERTEX_URL", google.base_url)  # one Google fake serves both
        private, public = private_key()
        google.add_service_account(EMAIL, KEY_ID, public)
        credentials = tmp_path / "service-account.json"
        credentials.write_text(json.dumps({"type": "service_account", "project_id": PROJECT,
                                           "private_key_id": KEY_ID, "private_key": private, "client_email": EMAIL,
                                           "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
        monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
        yield fakes


def keys() -> dict[str, str]:
    return {"FAL_KEY": fal_server.DEFAULT_KEY, "OPENAI_API_KEY": openai_server.DEFAULT_KEY,
            "GEMINI_API_KEY": google_server.GEMINI_KEY, "GOOGLE_CLOUD_PROJECT": PROJECT,
            "KLING_ACCESS_KEY": kling_server.ACCESS_KEY, "KLING_SECRET_KEY": kling_server.SECRET_KEY,
            "ARK_API_KEY": byteplus_server.DEFAULT_KEY, "RUNWAYML_API_SECRET": runway_server.DEFAULT_KEY,
            "BFL_API_KEY": bfl_server.DEFAULT_KEY, "REPLICATE_API_TOKEN": replicate_server.DEFAULT_TOKEN,
            "ELEVENLABS_API_KEY": elevenlabs_server.DEFAULT_KEY, "FISH_API_KEY": fishaudio_server.DEFAULT_KEY}


def every_backend_canvas(folder: Path) -> Canvas:
    Image.new("RGB", (1280, 720), (180, 90, 40)).save(folder / "still.png")
    nodes: list[dict[str, Any]] = [{"id": "still", "kind": "reference", "path": "still.png"}]
    for node_id, (model, variant, route, inputs) in NODES.items():
        kind = KINDS.get(model, "video")
        node: dict[str, Any] = {"id": node_id, "kind": kind, "model": model, "route": route, "inputs": inputs}
        if variant:
            node["variant"] = variant
        if kind == "audio":
            node["text"] = "Every city has a skyline."
        else:
            node["prompt"] = {"subject": "a harbour at dusk", "camera": "slow push in"}
        if kind == "video":
            node["duration_s"] = 4 if model in ("veo-3.1", "seedance-2", "runway-gen-4.5") else 5
        nodes.append(node)
    return Canvas.model_validate({"version": 1, "defaults": {"aspect_ratio": "16:9", "seed": 11}, "nodes": nodes})


def test_a_canvas_using_every_backend_lands_every_take(every_fake: dict[str, Any], tmp_path: Path) -> None:
    canvas = every_backend_canvas(tmp_path)
    session = Session(tmp_path / "project", keys=keys())
    plan = session.plan(canvas, tmp_path)
    assert {job.backend for job in plan.jobs} == {route for _, _, route, _ in NODES.values()}
    session.check(plan, online=True, budget=Budget())
    session.start(plan, canvas, tmp_path)
    assert session.runner.wait(timeout=240)
    events = session.runner.drain()
    failures = [f"{e.node_id}: {e.message}" for e in events if e.kind == "failed"]
    assert failures == []
    landed = {take.node_id: take for take in session.ledger.takes()}
    assert set(landed) == set(NODES)
    for node_id, take in landed.items():
        assert take.backend == NODES[node_id][2]
        assert (session.project_dir / take.file).stat().st_size == take.size_bytes > 0
    manifest = json.dumps(session.manifest())
    session.close()
    for secret in keys().values():
        if len(secret) > 12:  # project ids are not secrets
            assert secret not in manifest

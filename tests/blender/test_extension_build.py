"""The extension builder defers to Blender's own rules: its manifest checks are Blender's, word for word.

Each case builds a zip from the real package with one manifest field spoiled and expects the build to fail with
the message Blender's own validator (``blender_ext.py`` from the bpy wheel) gives for that field. The wheel-set
rule (one version of every wheel on every platform) is the builder's own: Blender has none.
"""

from __future__ import annotations

import importlib.util
import tempfile
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy wheel")


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "tools" / "build_extension.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest(**changes: Any) -> dict[str, Any]:
    manifest = tomllib.loads((ROOT / "blender_canvas" / "blender_manifest.toml").read_text(encoding="utf-8"))
    manifest.update(changes)
    return manifest


def test_the_real_manifest_builds_and_passes_blenders_strict_validate(builder: ModuleType, tmp_path: Path) -> None:
    zip_path = builder.build("linux-x64", [], tmp_path, _manifest())
    assert zip_path.is_file()
    messages = builder.run_blender_ext("subcmd_author.validate", source_path=str(zip_path),
                                       valid_tags_filepath=str(builder.blender_tags_path()))
    assert any("Success" in m for m in messages), messages
    manifest = _manifest()
    assert "invalid" not in manifest["maintainer"] and "@" not in manifest["maintainer"], manifest["maintainer"]


@pytest.mark.parametrize(
    ("field", "value", "blender_check"),
    [
        ("version", "0.2", "pkg_manifest_validate_field_any_version"),
        ("version", "01.0.0", "pkg_manifest_validate_field_any_version"),
        ("name", "Blender\tCanvas", "pkg_manifest_validate_field_any_non_empty_string_stripped_no_control_chars"),
        ("tagline", "Ends with a full stop.", "pkg_manifest_validate_field_tagline"),
        ("blender_version_min", "4.5", "pkg_manifest_validate_field_blender_version"),
    ],
)
def test_a_bad_field_fails_with_blenders_message(
    builder: ModuleType, tmp_path: Path, field: str, value: str, blender_check: str
) -> None:
    blender_message = getattr(builder.blender_ext(), blender_check)(value, True)
    assert blender_message, f"Blender's {blender_check} accepts {value!r}: the case tests nothing"
    with pytest.raises(builder.BuildError) as refused:
        builder.build("linux-x64", [], tmp_path, _manifest(**{field: value}))
    assert f'"blender_canvas/blender_manifest.toml" key "{field}" invalid: {blender_message}' in str(refused.value)
    assert tempfile.gettempdir() not in str(refused.value), "the message names the staged copy, not the source"
    assert not list(tmp_path.glob("*.zip")), "a zip was written for a refused manifest"


def test_an_unknown_tag_fails_with_blenders_tag_message(builder: ModuleType, tmp_path: Path) -> None:
    be = builder.blender_ext()
    valid = be.pkg_manifest_tags_load_valid_map(str(builder.blender_tags_path()))
    blender_message = be.pkg_manifest_tags_valid_or_error(valid, "add-on", ["Generative AI"])
    assert blender_message and "Generative AI" in blender_message
    with pytest.raises(builder.BuildError) as refused:
        builder.build("linux-x64", [], tmp_path, _manifest(tags=["Node", "Generative AI"]))
    assert blender_message in str(refused.value)


def test_wheel_versions_that_differ_between_platforms_fail_the_build(builder: ModuleType) -> None:
    wheels = {
        "linux-x64": ["av-18.1.0-cp311-abi3-manylinux_2_28_x86_64.whl", "pyjwt-2.15.1-py3-none-any.whl"],
        "macos-arm64": ["av-14.1.0-cp311-cp311-macosx_11_0_arm64.whl", "pyjwt-2.15.1-py3-none-any.whl"],
        "windows-x64": ["av-18.1.0-cp311-abi3-win_amd64.whl"],
    }
    with pytest.raises(builder.BuildError) as refused:
        builder.check_wheel_sets(wheels)
    text = str(refused.value)
    assert "av differs between platforms (linux-x64 18.1.0, macos-arm64 14.1.0, windows-x64 18.1.0)" in text
    assert "pyjwt differs between platforms (linux-x64 2.15.1, macos-arm64 2.15.1, windows-x64 none)" in text


def test_a_wheel_for_another_platform_fails_by_blenders_platform_filter(builder: ModuleType) -> None:
    wheels = {
        "linux-x64": ["av-14.1.0-cp311-cp311-win_amd64.whl"],
        "windows-x64": ["av-14.1.0-cp311-cp311-win_amd64.whl"],
    }
    with pytest.raises(builder.BuildError) as refused:
        builder.check_wheel_sets(wheels)
    assert "linux-x64: av-14.1.0-cp311-cp311-win_amd64.whl is not a linux-x64 wheel" in str(refused.value)
    builder.check_wheel_sets({"windows-x64": wheels["windows-x64"]})  # the same wheel is right for Windows


def test_a_source_manifest_listing_wheels_is_refused(builder: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    source = tmp_path / "blender_canvas"
    source.mkdir()
    text = (ROOT / "blender_canvas" / "blender_manifest.toml").read_text(encoding="utf-8")
    (source / "blender_manifest.toml").write_text('wheels = ["./wheels/x-1.0-py3-none-any.whl"]\n' + text)
    monkeypatch.setattr(builder, "PACKAGE", source)
    with pytest.raises(builder.BuildError, match="wheels are written by the builder, per platform"):
        builder.source_manifest()


def test_the_command_line_refuses_in_one_line_without_a_traceback(
    builder: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(builder, "source_manifest", lambda: _manifest(version="0.2"))
    monkeypatch.setattr(builder, "resolve_wheels", lambda *_args: [])
    assert builder.main(["--platform", "linux-x64", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Blender's extension build refused it:")
    assert "key \"version\" invalid: to be a semantic-version, found '0.2'" in err
    assert "Traceback" not in err


def test_repo_writes_every_platform_and_blenders_index_replacing_an_older_release(
    builder: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib
    import json

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "blender_canvas-0.0.9-linux-x64.zip").write_bytes(b"an older release")
    (repo / "notes.txt").write_text("not ours")
    monkeypatch.setattr(builder, "resolve_wheels", lambda *_args: [])
    assert builder.main(["--repo", str(repo)]) == 0
    version = _manifest()["version"]
    zips = sorted(p.name for p in repo.glob("*.zip"))
    assert zips == sorted(f"blender_canvas-{version}-{plat}.zip" for plat in builder.PLATFORM_TAGS)
    assert (repo / "notes.txt").is_file()
    index = repo / "index.json"
    assert builder.blender_ext().repo_json_is_valid_or_error(str(index)) is None
    data = json.loads(index.read_text(encoding="utf-8"))["data"]
    assert sorted(tuple(item["platforms"]) for item in data) == sorted((plat,) for plat in builder.PLATFORM_TAGS)
    for item in data:
        archive = repo / item["archive_url"].removeprefix("./")
        assert item["archive_hash"] == "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
        assert item["version"] == version and item["maintainer"] == "Blender Canvas developers"

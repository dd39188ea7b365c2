"""Build the extension zip for this machine and install it into a throwaway Blender, as a user would.

The install runs in a fresh Python process whose Blender user folders (``BLENDER_USER_RESOURCES``) and home
directory point into pytest's temporary directory, so the real user's Blender is never touched. That process
sees only what a real Blender's Python has (bpy plus the distributions Blender bundles: numpy, requests and
friends), not this venv's pydantic/httpx/av/..., so the add-on can only run on the wheels the zip bundles.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDON_MODULE = "bl_ext.user_default.blender_canvas"


def _tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The modules the zip's wheels must supply: the same list CI's install-from-repository check asserts on.
BUNDLED_MODULES: tuple[str, ...] = _tool("check_extension_install").BUNDLED_MODULES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy wheel")

INSTALL_SCRIPT = """
import importlib, json, sys, traceback
import bpy

zip_path, addon_module, modules = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
found = {"bpy": bpy.app.version_string, "extensions_dir": bpy.utils.user_resource("EXTENSIONS")}
found["result"] = sorted(bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True))
found["enabled"] = addon_module in bpy.context.preferences.addons
try:
    found["tree"] = bpy.data.node_groups.new("t", "BlenderCanvasTree").bl_idname
except Exception:
    found["tree_error"] = traceback.format_exc()
found["modules"] = {}
for name in modules:
    try:
        found["modules"][name] = importlib.import_module(name).__file__
    except Exception:
        found["modules"][name] = "import failed: " + traceback.format_exc()
print("FINDINGS " + json.dumps(found), flush=True)
"""


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 240) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert proc.returncode == 0, (
        f"{args[1:3]} exited with {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc.stdout


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]).lower()


def _bpy_closure() -> set[str]:
    """bpy and its install requirements: on PyPI they stand for what Blender bundles in its own Python."""
    todo, seen = ["bpy"], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            requires = metadata.distribution(name).requires or []
            todo += [_name(req) for req in requires if "extra ==" not in req]
    return seen


def _blender_like_site_packages(dest: Path) -> Path:
    """A site-packages of symlinks to bpy and Blender's bundled distributions, and nothing else."""
    dest.mkdir()
    for name in _bpy_closure():
        dist = metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            if not (dest / top).exists() and Path(str(dist.locate_file(top))).exists():
                (dest / top).symlink_to(Path(str(dist.locate_file(top))))
    return dest


def test_build_excludes_exactly_what_blender_bundles() -> None:
    build_extension = _tool("build_extension")
    assert _bpy_closure() - {"bpy"} == set(build_extension.BLENDER_BUNDLED)


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            str(ROOT / "tools" / "build_extension.py"),
            "--platform",
            "current",
            "--out",
            str(out),
        ]
    )
    (zip_path,) = out.glob("blender_canvas-*.zip")
    return zip_path


def test_zip_layout_and_manifest(extension_zip: Path) -> None:
    with zipfile.ZipFile(extension_zip) as zf:
        names = zf.namelist()
        manifest: dict[str, Any] = tomllib.loads(zf.read("blender_manifest.toml").decode("utf-8"))
    assert "__init__.py" in names and "nodes/__init__.py" in names, names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.5.0"
    assert manifest["license"] and all(lic.startswith("SPDX:") for lic in manifest["license"])
    assert manifest["permissions"]["network"]
    assert len(manifest["platforms"]) == 1 and extension_zip.stem.endswith(manifest["platforms"][0])
    wheels_in_zip = sorted(f"./{n}" for n in names if n.startswith("wheels/") and n.endswith(".whl"))
    assert sorted(manifest["wheels"]) == wheels_in_zip
    # What Blender ships in its own Python must not be bundled (it would shadow Blender's copy).
    wheel_dists = {w.rpartition("/")[2].split("-")[0].lower() for w in wheels_in_zip}
    assert {"pydantic", "pydantic_core", "httpx", "pyjwt", "av", "pillow"} <= wheel_dists
    assert not wheel_dists & {"numpy", "requests", "certifi", "idna", "urllib3", "charset_normalizer"}


@pytest.mark.timeout(300)
def test_install_enables_addon_with_bundled_wheels(extension_zip: Path, tmp_path: Path) -> None:
    user = tmp_path / "blender_user"
    home = tmp_path / "home"
    home.mkdir()
    site = _blender_like_site_packages(tmp_path / "site-packages")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user), "HOME": str(home), "PYTHONPATH": str(site)}
    for key in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "XDG_CONFIG_HOME"):
        env.pop(key, None)
    # -S: no site-packages of this venv; the add-on must find pydantic & co. in the wheels it brought.
    cmd = [sys.executable, "-S", "-c", INSTALL_SCRIPT, str(extension_zip), ADDON_MODULE, ",".join(BUNDLED_MODULES)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FINDINGS ")]
    context = f"exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0 and lines, context
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("FINDINGS "))

    assert Path(found["extensions_dir"]).is_relative_to(user), context
    assert found["result"] == ["FINISHED"], context
    assert found["enabled"], f"{ADDON_MODULE} not enabled\n{context}"
    assert found.get("tree") == "BlenderCanvasTree", found.get("tree_error", context)
    site_packages = user / "extensions" / ".local"
    for module, path in found["modules"].items():
        assert Path(path).is_relative_to(site_packages), f"{module} came from {path}, not the extension\n{context}"
    assert (user / "extensions" / "user_default" / "blender_canvas" / "blender_manifest.toml").is_file()

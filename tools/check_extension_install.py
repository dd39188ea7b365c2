#!/usr/bin/env python3
"""Install Blender Canvas from a repository folder the way a user does, render the demo with it, uninstall it.

    python tools/check_extension_install.py REPO_DIR [--platform linux-x64]

Run it with a Python that holds bpy and nothing of this project (CI makes a venv with only ``bpy``): the add-on
can then only work from the wheels its zip bundles. REPO_DIR is what ``tools/build_extension.py --repo`` writes.
Blender's user folders go to a throw-away directory, so no real Blender set-up is touched. In order, with
Blender's own operators:

1. add REPO_DIR as a ``file://`` remote repository and sync its ``index.json``;
2. install and enable ``blender_canvas`` from it (Blender's install operator needs *Allow Online Access* on, even
   for ``file://``; it is turned off again straight after);
3. check the add-on and every bundled module were imported from the installed copy under the throw-away folder;
4. render the demo canvas in draft mode with the installed add-on, online access off and no key in the
   environment: the takes, the film, the interchange files and the bake-off report must all be written;
5. uninstall it and check nothing of it is left registered (types, handlers, the add-on, its files, its wheels).

Exit status 0 when every step held, 1 with the failed step named otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

PKG_ID = "blender_canvas"
REPO_MODULE = "canvas_repo"
ADDON_MODULE = f"bl_ext.{REPO_MODULE}.{PKG_ID}"
BUNDLED_MODULES = ("pydantic", "pydantic_core", "httpx", "jwt", "av", "PIL", "opentimelineio")
KEY_PREFIXES = ("FAL_", "KLING_", "OPENAI_", "GEMINI_", "ARK_", "RUNWAYML_", "BFL_", "ELEVENLABS_", "FISH_",
                "REPLICATE_", "GOOGLE_")
DEMO_FILES = ("final.mp4", "cut.otio", "cut.xml", "cut.edl", "manifest.json", "report.html", "canvas.blend")


class CheckFailed(Exception):
    pass


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def registered_classes() -> set[str]:
    """Every class of the add-on that Blender holds registered (operators, nodes, panels, properties...)."""
    import bpy

    found, todo = set(), [bpy.types.bpy_struct]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith(ADDON_MODULE) and getattr(cls, "is_registered", False):
            found.add(f"{cls.__module__}.{cls.__qualname__}")
    return found


def handler_names() -> dict[str, list[str]]:
    import bpy

    return {name: [f"{getattr(h, '__module__', '')}.{getattr(h, '__qualname__', '')}" for h in handlers]
            for name in dir(bpy.app.handlers) if isinstance(handlers := getattr(bpy.app.handlers, name), list)}


def check(repo_dir: Path, user: Path, work: Path) -> dict[str, Any]:
    import bpy

    found: dict[str, Any] = {"bpy": bpy.app.version_string}
    extensions_dir = Path(bpy.utils.user_resource("EXTENSIONS"))
    expect(extensions_dir.is_relative_to(user), f"Blender's extensions folder {extensions_dir} is not under {user}")
    expect(importlib.util.find_spec("blender_canvas") is None,
           "blender_canvas is importable before the install: this Python must hold only bpy")
    expect(importlib.util.find_spec("pydantic") is None, "pydantic is importable before the install")
    index = repo_dir / "index.json"
    expect(index.is_file(), f"{index} is missing: build the repository with tools/build_extension.py --repo")

    handlers_before = handler_names()
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name="Blender Canvas", module=REPO_MODULE, remote_url=index.as_uri())
    repo.use_sync_on_startup = False
    repo_index = list(repos).index(repo)
    expect(bpy.ops.extensions.repo_sync(repo_index=repo_index) == {"FINISHED"}, "syncing the repository failed")
    # Blender's install operator polls for online access even for a file:// repository.
    bpy.context.preferences.system.use_online_access = True
    result = bpy.ops.extensions.package_install(repo_index=repo_index, pkg_id=PKG_ID, enable_on_install=True)
    bpy.context.preferences.system.use_online_access = False
    expect(result == {"FINISHED"}, f"installing {PKG_ID} from {index.as_uri()} returned {result}")
    expect(ADDON_MODULE in bpy.context.preferences.addons, f"{ADDON_MODULE} is not enabled after the install")

    installed = Path(repo.directory) / PKG_ID
    expect(installed.is_relative_to(user) and (installed / "blender_manifest.toml").is_file(),
           f"no installed copy at {installed}")
    addon = importlib.import_module(ADDON_MODULE)
    expect(Path(str(addon.__file__)).resolve().is_relative_to(installed.resolve()),
           f"the add-on was imported from {addon.__file__}, not the installed copy {installed}")
    site_packages = extensions_dir / ".local"
    found["modules"] = {}
    for name in BUNDLED_MODULES:
        path = Path(str(importlib.import_module(name).__file__))
        expect(path.is_relative_to(site_packages), f"{name} came from {path}, not the extension's wheels")
        found["modules"][name] = str(path.relative_to(user))
    found["av"] = importlib.import_module("av").__version__
    found["registered_classes"] = len(registered_classes())
    expect(found["registered_classes"] >= 10, f"enabling registered {found['registered_classes']} classes")
    tree = bpy.data.node_groups.new("check", "BlenderCanvasTree")
    expect(tree.bl_idname == "BlenderCanvasTree", "no Generation Canvas tree can be made after enabling")
    bpy.data.node_groups.remove(tree)

    # The demo, with the installed add-on, no key and online access off.
    expect(not bpy.app.online_access, "online access is still on")
    expect(not [k for k in os.environ if k.startswith(KEY_PREFIXES)], "a provider key is set in the environment")
    cli = importlib.import_module(f"{ADDON_MODULE}.cli")
    out = work / "demo"
    status = cli.main(["demo", "--out", str(out)])
    expect(status == 0, f"the demo run with the installed add-on exited {status}")
    expect(not bpy.app.online_access, "the demo turned online access on")
    missing = [name for name in DEMO_FILES if not (out / name).is_file() or not (out / name).stat().st_size]
    expect(not missing, f"the demo did not write {missing}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    takes = manifest.get("takes", [])
    expect(takes and all(t.get("backend") == "preview" for t in takes),
           f"the demo's takes are not all preview takes: {[t.get('backend') for t in takes]}")
    expect(manifest.get("spent_usd") == 0 and not [t for t in takes if t.get("actual_usd")],
           f"the demo spent money: {manifest.get('spent_usd')}")
    expect(not manifest.get("jobs_without_take"), f"demo jobs failed: {manifest.get('jobs_without_take')}")
    found["demo_takes"] = len(takes)

    # Uninstall: nothing of the add-on stays.
    bpy.ops.wm.read_homefile(use_empty=True)  # Drop the demo's canvas tree, as closing the file would.
    result = bpy.ops.extensions.package_uninstall(repo_index=repo_index, pkg_id=PKG_ID)
    expect(result == {"FINISHED"}, f"uninstalling returned {result}")
    expect(ADDON_MODULE not in bpy.context.preferences.addons, f"{ADDON_MODULE} is still enabled")
    expect(not installed.exists(), f"{installed} is still on disk")
    left = sorted(registered_classes())
    expect(not left, f"still registered after the uninstall: {left}")
    expect(handler_names() == handlers_before, "the add-on left an application handler registered")
    wheels_left = sorted(p.name for p in site_packages.rglob("*") if p.name.split("-")[0] in ("pydantic", "av"))
    expect(not wheels_left, f"the add-on's wheels are still installed: {wheels_left}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo_dir", type=Path, help="the folder tools/build_extension.py --repo wrote")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="blender-canvas-install-") as tmp:
        user, home, work = Path(tmp) / "user", Path(tmp) / "home", Path(tmp) / "work"
        for folder in (home, work):
            folder.mkdir()
        # Set before bpy is first imported: Blender reads its user folders once.
        os.environ.update(BLENDER_USER_RESOURCES=str(user), HOME=str(home))
        for key in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "XDG_CONFIG_HOME"):
            os.environ.pop(key, None)
        for key in [k for k in os.environ if k.startswith(KEY_PREFIXES)]:
            os.environ.pop(key)
        os.chdir(work)
        try:
            found = check(args.repo_dir.resolve(), user, work)
        except CheckFailed as failure:
            print(f"extension install check failed: {failure}", file=sys.stderr)
            return 1
        print("extension install check passed: " + json.dumps(found, indent=1))
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

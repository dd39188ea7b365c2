#!/usr/bin/env python3
"""Build installable Blender extension zips, one per platform, with the third-party wheels bundled.

    python tools/build_extension.py [--platform linux-x64|macos-arm64|macos-x64|windows-x64|current|all]
                                    [--out dist/] [--refresh] [--strict]

Blender installs the wheels listed in the manifest itself, so nothing runs pip inside Blender. Wheels
are cached per platform under ``build/wheels-cache/<platform>``: a build first resolves offline from that
cache and only asks the package index when the cache cannot satisfy ``pyproject.toml`` (or with
``--refresh``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "blender_canvas"
CACHE = ROOT / "build" / "wheels-cache"
PYTHON_VERSION = "3.11"  # Blender 4.5 LTS and 5.0 both embed CPython 3.11.

# pip widens a macOS tag downwards by itself (11.0 also accepts 10.x and universal2 wheels) but never
# widens manylinux_2_28, which is all that recent av and Pillow releases ship for Linux, so list the
# manylinux tags. Blender 4.5/5.0 need glibc >= 2.28 and macOS >= 11.2 themselves: these tags exclude no
# machine Blender runs on.
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64",),
    "windows-x64": ("win_amd64",),
}

# Distributions Blender already ships in its own Python. The official builds carry numpy, requests (with
# certifi, idna, charset-normalizer, urllib3), zstandard and cython in <version>/python/lib/site-packages;
# the bpy wheel on PyPI, which has no bundled site-packages, declares the same set as Requires-Dist. We must
# not bundle them: Blender puts extension wheels *before* its own site-packages on sys.path
# (addon_utils._initialize_extensions_site_packages), so a copy would shadow Blender's module for the whole
# process, every other add-on and Blender's own requests included (for numpy that is an ABI break). So
# httpx's certifi and idna come from Blender.
BLENDER_BUNDLED = frozenset(
    {"numpy", "requests", "certifi", "idna", "charset-normalizer", "urllib3", "zstandard", "cython"}
)
EXCLUDE = ("__pycache__", "tests", "*.pyc", ".*")  # Matched against every part of a path inside the package.

# Schema 1.0.0 (Blender's blender_ext.py): what Blender checks when it installs a zip, and what
# `blender --command extension build/validate` and extensions.blender.org add on top (reported as warnings
# unless --strict).
_REQUIRED_STR = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min")
REQUIRED: dict[str, type] = {**dict.fromkeys(_REQUIRED_STR, str), "license": list}
OPTIONAL: dict[str, type] = {"blender_version_max": str, "website": str, "permissions": dict}
OPTIONAL |= dict.fromkeys(("copyright", "tags", "platforms", "wheels"), list)
PERMISSIONS = frozenset({"files", "network", "clipboard", "camera", "microphone"})
VERSION_RE = re.compile(r"\d+(\.\d+)*([-+][0-9A-Za-z.+-]+)?")
_warned: set[str] = set()  # Print each manifest warning once, however many platforms are built.


class BuildError(Exception):
    pass


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def current_platform() -> str:
    system = platform.system().lower().replace("darwin", "macos")
    name = f"{system}-{platform.machine().lower().replace('x86_64', 'x64').replace('amd64', 'x64')}"
    if name not in PLATFORM_TAGS:
        raise BuildError(f"no wheel tags known for this machine ({name})")
    return name


def _terse(value: str) -> str | None:
    """Blender's strict rule for taglines and permission reasons."""
    if len(value) > 64:
        return f"longer than 64 characters ({len(value)})"
    if not (value[-1:].isalnum() or value[-1:] in ")]}"):
        return "must end with a letter, digit or closing bracket, not punctuation"
    return None


def validate_manifest(m: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return (errors Blender rejects an install for, warnings its strict validator and the platform add)."""
    errors: list[str] = []
    warnings: list[str] = []
    for key, kind in (REQUIRED | OPTIONAL).items():
        if key in m and not isinstance(m[key], kind):
            errors.append(f"{key!r} must be a {kind.__name__}")
    errors += [f"missing required key {key!r}" for key in REQUIRED if key not in m]
    errors += [f"unknown top-level key {key!r}" for key in m if key not in {*REQUIRED, *OPTIONAL, "build"}]
    if errors:
        return errors, warnings
    if m["schema_version"] != "1.0.0":
        errors.append(f"schema_version is {m['schema_version']!r}, this builder knows 1.0.0")
    if not m["id"].isidentifier() or "__" in m["id"] or m["id"].startswith("_") or m["id"].endswith("_"):
        errors.append(f"id {m['id']!r} must be an identifier without '__' or a leading/trailing '_'")
    if m["type"] not in ("add-on", "theme"):
        errors.append(f"type must be 'add-on' or 'theme', not {m['type']!r}")
    for key in ("version", "blender_version_min", "blender_version_max"):
        if key in m and not VERSION_RE.fullmatch(m[key]):
            errors.append(f"{key} {m[key]!r} is not a version")
    if m["blender_version_min"].count(".") != 2:
        warnings.append("blender_version_min should be three numbers (X.Y.Z)")
    if not m["license"] or not all(isinstance(x, str) and x for x in m["license"]):
        errors.append("license must be a non-empty list of strings")
    warnings += [f"license {x!r} should be 'SPDX:<id>'" for x in m["license"] if not str(x).startswith("SPDX:")]
    if problem := _terse(m["tagline"]):
        warnings.append(f"tagline {problem}")
    for key, reason in m.get("permissions", {}).items():
        if key not in PERMISSIONS or not isinstance(reason, str) or not reason:
            errors.append(f"permission {key!r} must be one of {sorted(PERMISSIONS)} with a reason string")
        elif problem := _terse(reason):
            warnings.append(f"permissions.{key} reason {problem}")
    errors += [f"unknown platform {p!r}" for p in m.get("platforms", []) if p not in PLATFORM_TAGS]
    for wheel in m.get("wheels", []):
        name = wheel.rpartition("/")[2]
        if not (wheel.startswith("./wheels/") and name.endswith(".whl") and 5 <= name.count("-") + 1 <= 6):
            errors.append(f"wheel path {wheel!r} must be ./wheels/<name>-<version>-...-<platform>.whl")
    return errors, warnings


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings.
    if isinstance(value, list):
        items = [_toml_value(item) for item in value]
        if len(items) <= 2:
            return f"[{', '.join(items)}]"
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise BuildError(f"cannot write {type(value).__name__} to the manifest")


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Serialise the manifest's TOML subset (strings, numbers, lists, nested tables)."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{prefix}{key}]", dump_toml(value, f"{prefix}{key}.")]
    return "\n".join(lines) + ("\n" if not prefix else "")


def _pip(*args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    # Offline resolution ignores pip config files, so pip.conf find-links can't slip other wheels in.
    env = {"PIP_CONFIG_FILE": os.devnull} if offline else {}
    command = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=False)


def resolve_wheels(plat: str, requirements: list[str], refresh: bool = False) -> list[Path]:
    """Return the cached wheels that install `requirements` on `plat`, downloading them if needed."""
    cache = CACHE / plat
    cache.mkdir(parents=True, exist_ok=True)
    target = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    target += [f"--platform={tag}" for tag in PLATFORM_TAGS[plat]]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"

        offline_args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--no-index"]
        offline_args += ["--find-links", str(cache), "--target", str(Path(tmp) / "t"), "--report", str(report)]

        def resolve_offline() -> subprocess.CompletedProcess[str]:
            return _pip(*offline_args, *target, *requirements, offline=True)

        if refresh or resolve_offline().returncode != 0:
            download = _pip("download", "--quiet", "--dest", str(cache), *target, *requirements)
            if download.returncode != 0:
                raise BuildError(f"pip download failed for {plat}:\n{download.stderr}")
            if (offline := resolve_offline()).returncode != 0:
                raise BuildError(f"cannot resolve {plat} from {cache}:\n{offline.stderr}")
        installs: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    wheels = [
        Path(url2pathname(urlparse(item["download_info"]["url"]).path))
        for item in installs
        if canonical_name(item["metadata"]["name"]) not in BLENDER_BUNDLED
    ]
    return sorted(wheels, key=lambda path: path.name.lower())


def package_files(exclude: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file()
        and path.name != "blender_manifest.toml"
        and not any(fnmatch.fnmatch(part, pat) for part in path.relative_to(PACKAGE).parts for pat in exclude)
    )


def build(plat: str, out_dir: Path, refresh: bool = False, strict: bool = False) -> Path:
    """Build `<out_dir>/blender_canvas-<version>-<plat>.zip` and return its path."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    manifest = tomllib.loads((PACKAGE / "blender_manifest.toml").read_text(encoding="utf-8"))
    if manifest.get("version") != project["version"]:
        raise BuildError(f"manifest version {manifest.get('version')!r} != pyproject {project['version']!r}")
    wheels = resolve_wheels(plat, list(project["dependencies"]), refresh)
    manifest["platforms"] = [plat]
    manifest["wheels"] = [f"./wheels/{wheel.name}" for wheel in wheels]
    errors, warnings = validate_manifest(manifest)
    for warning in sorted(set(warnings) - _warned):
        print(f"warning: blender_manifest.toml: {warning}", file=sys.stderr)
    _warned.update(warnings)
    if errors or (strict and warnings):
        raise BuildError("invalid blender_manifest.toml:\n  " + "\n  ".join(errors + warnings))
    text = dump_toml(manifest)
    if tomllib.loads(text) != manifest:
        raise BuildError("internal error: the rewritten manifest does not round-trip")
    patterns = manifest.get("build", {}).get("paths_exclude_pattern", [])
    exclude = EXCLUDE + tuple(pattern.rstrip("/") for pattern in patterns)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}-{plat}.zip"
    partial = zip_path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("blender_manifest.toml", text)
        for path in package_files(exclude):
            zf.write(path, path.relative_to(PACKAGE).as_posix())
        for wheel in wheels:  # Wheels are zips already: store them rather than compress them again.
            zf.write(wheel, f"wheels/{wheel.name}", compress_type=zipfile.ZIP_STORED)
    partial.replace(zip_path)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--platform", default="current", choices=[*PLATFORM_TAGS, "current", "all"])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--refresh", action="store_true", help="ask the package index for newer wheels")
    parser.add_argument("--strict", action="store_true", help="fail on extensions-platform manifest warnings")
    args = parser.parse_args(argv)
    plats = list(PLATFORM_TAGS) if args.platform == "all" else [args.platform]
    try:
        plats = [current_platform() if p == "current" else p for p in plats]
        with ThreadPoolExecutor(max_workers=len(plats)) as pool:
            zips = list(pool.map(lambda p: build(p, args.out, args.refresh, args.strict), plats))
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for zip_path in zips:
        print(f"{zip_path}  {zip_path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build installable Blender extension zips, one per platform, with the third-party wheels bundled.

    python tools/build_extension.py [--platform linux-x64|macos-arm64|macos-x64|windows-x64|current|all]
                                    [--out dist/] [--refresh]
    python tools/build_extension.py --repo DIR     # every platform zip plus Blender's index.json: a repository

Blender installs the wheels listed in the manifest itself, so nothing runs pip inside Blender. Wheels
are cached per platform under ``build/wheels-cache/<platform>``: a build first resolves offline from that
cache and only asks the package index when the cache cannot satisfy ``pyproject.toml`` and the pins in
``tools/wheel-pins.txt`` (or with ``--refresh``).

Every check of the manifest and the zip is Blender's own: each zip is written by ``blender_ext.py build`` (the
code behind ``blender --command extension build``, strict, with Blender's tag list) and read back by its
``validate``; ``--repo`` indexes the folder with its ``server-generate``. ``blender_ext.py`` ships inside the bpy
wheel (``bpy/<version>/scripts/addons_core/bl_pkg/cli/``), so building needs bpy installed, not Blender.
The one rule Blender has no check for is ours: every platform bundles the same version of every wheel.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "blender_canvas"
CACHE = ROOT / "build" / "wheels-cache"
PINS = ROOT / "tools" / "wheel-pins.txt"
PYTHON_VERSION = "3.11"  # Blender 4.5 LTS and 5.0 both embed CPython 3.11.

# The oldest OS each platform's Blender 4.5 LTS runs on: glibc 2.28, macOS 11.2, Windows 10. pip picks, per
# wheel, the best tag a release offers at or below these (it widens a macOS tag downwards by itself, 11.0 also
# accepts 10.x and universal2, but never widens manylinux, so those are listed). A release that only offers a newer
# tag (PyAV 18 ships macosx_14_0_arm64 only) does not resolve here: the pins in tools/wheel-pins.txt name the
# newest release every platform has.
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
GENERATED_KEYS = ("platforms", "wheels")  # The builder writes these per platform; a source manifest must not.


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


def _bpy_dir() -> Path:
    spec = importlib.util.find_spec("bpy")  # Found, not imported: importing bpy starts Blender.
    if spec is None or spec.origin is None:
        raise BuildError("Blender's extension tools ship in the bpy wheel: pip install bpy (see README set-up)")
    return Path(spec.origin).parent


@functools.cache
def blender_ext() -> ModuleType:
    """Blender's own extension command-line module (``blender --command extension`` runs the same code)."""
    found = sorted(_bpy_dir().glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"no blender_ext.py under {_bpy_dir()}: is bpy installed whole?")
    spec = importlib.util.spec_from_file_location("blender_ext", found[-1])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blender_ext_path() -> Path:
    return Path(str(blender_ext().__file__))


def blender_tags_path() -> Path:
    """The tag list Blender's ``extension build`` / ``validate`` enforce when run from Blender."""
    found = sorted(_bpy_dir().glob("*/scripts/modules/_bpy_internal/extensions/tags.py"))
    if not found:
        raise BuildError(f"no _bpy_internal/extensions/tags.py under {_bpy_dir()}")
    return found[-1]


def run_blender_ext(command: str, **kwargs: Any) -> list[str]:
    """Run one of Blender's extension commands in-process; return its messages, raise with them on failure."""
    be = blender_ext()
    messages: list[tuple[str, str]] = []

    def collect(kind: str, data: object) -> bool:
        if kind in ("STATUS", "WARN", "ERROR", "FATAL_ERROR"):
            messages.append((kind, str(data)))
        return False  # False: do not ask Blender to stop.

    group, name = command.split(".")
    ok = getattr(getattr(be, group), name)(be.MessageLogger(collect), **kwargs)
    problems = [text for kind, text in messages if kind in ("ERROR", "FATAL_ERROR")]
    if not ok or problems:
        texts = problems or [text for _, text in messages]
        raise BuildError(f"Blender's extension {name} refused it:\n  " + "\n  ".join(texts))
    for kind, text in messages:
        if kind == "WARN":
            print(f"warning: Blender's extension {name}: {text}", file=sys.stderr)
    return [text for _, text in messages]


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
    """Return the cached wheels that install `requirements` (under the pins) on `plat`, downloading if needed."""
    cache = CACHE / plat
    cache.mkdir(parents=True, exist_ok=True)
    target = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    target += [f"--platform={tag}" for tag in PLATFORM_TAGS[plat]]
    target += ["--constraint", str(PINS)]
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


def wheel_version(wheel: str) -> tuple[str, str]:
    """(canonical distribution name, version) from a wheel file name."""
    name, version = Path(wheel).name.split("-")[:2]
    return canonical_name(name), version


def check_wheel_sets(wheels: dict[str, list[str]]) -> None:
    """Every platform must bundle the same distributions at the same versions, each wheel for its platform."""
    be = blender_ext()
    problems: list[str] = []
    for plat, names in wheels.items():
        kept = set(be.paths_filter_wheels_by_platform([f"./wheels/{n}" for n in names], plat))
        problems += [
            f"{plat}: {n} is not a {plat} wheel (Blender's paths_filter_wheels_by_platform would drop it)"
            for n in names
            if f"./wheels/{n}" not in kept
        ]
    versions: dict[str, dict[str, str]] = {}
    for plat, names in wheels.items():
        for n in names:
            dist, version = wheel_version(n)
            versions.setdefault(dist, {})[plat] = version
    for dist, by_plat in sorted(versions.items()):
        missing = sorted(set(wheels) - set(by_plat))
        if len(set(by_plat.values())) > 1 or missing:
            found = ", ".join(f"{plat} {v}" for plat, v in sorted(by_plat.items()))
            found += "".join(f", {plat} none" for plat in missing)
            problems.append(f"{dist} differs between platforms ({found}); pin one version in {PINS.name}")
    if problems:
        raise BuildError("the platforms' wheel sets do not match:\n  " + "\n  ".join(problems))


def package_files(exclude: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file()
        and path.name != "blender_manifest.toml"
        and not any(fnmatch.fnmatch(part, pat) for part in path.relative_to(PACKAGE).parts for pat in exclude)
    )


def source_manifest() -> dict[str, Any]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    manifest = tomllib.loads((PACKAGE / "blender_manifest.toml").read_text(encoding="utf-8"))
    if manifest.get("version") != project["version"]:
        raise BuildError(f"manifest version {manifest.get('version')!r} != pyproject {project['version']!r}")
    if written := [key for key in GENERATED_KEYS if key in manifest]:
        raise BuildError(f"blender_manifest.toml: {', '.join(written)} are written by the builder, per platform")
    return manifest


def build(plat: str, wheels: list[Path], out_dir: Path, manifest: dict[str, Any] | None = None) -> Path:
    """Build `<out_dir>/<id>-<version>-<plat>.zip` with Blender's own builder and validator; return its path."""
    manifest = dict(source_manifest() if manifest is None else manifest)
    manifest["platforms"] = [plat]
    manifest["wheels"] = [f"./wheels/{wheel.name}" for wheel in wheels]
    text = dump_toml(manifest)
    if tomllib.loads(text) != manifest:
        raise BuildError("internal error: the rewritten manifest does not round-trip")
    build_table = manifest.get("build")
    patterns = build_table.get("paths_exclude_pattern", []) if isinstance(build_table, dict) else []
    exclude = EXCLUDE + tuple(str(pattern).rstrip("/") for pattern in patterns)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest.get('id')}-{manifest.get('version')}-{plat}.zip"
    with tempfile.TemporaryDirectory(prefix=f"blender-canvas-{plat}-") as tmp:
        stage = Path(tmp) / "blender_canvas"
        for path in package_files(exclude):
            (stage / path.relative_to(PACKAGE).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, stage / path.relative_to(PACKAGE))
        (stage / "wheels").mkdir(parents=True)
        for wheel in wheels:
            try:  # A hard link where the cache and the temporary folder share a file system, else a copy.
                os.link(wheel, stage / "wheels" / wheel.name)
            except OSError:
                shutil.copy2(wheel, stage / "wheels" / wheel.name)
        (stage / "blender_manifest.toml").write_text(text, encoding="utf-8")
        tags = str(blender_tags_path())
        try:
            run_blender_ext(
                "subcmd_author.build",
                pkg_source_dir=str(stage),
                pkg_output_dir=".",
                pkg_output_filepath=str(zip_path),
                split_platforms=False,
                valid_tags_filepath=tags,
                verbose=False,
            )
        except BuildError as error:  # Blender names the staged copy: name the source manifest instead.
            raise BuildError(str(error).replace(str(stage), "blender_canvas")) from None
    run_blender_ext("subcmd_author.validate", source_path=str(zip_path), valid_tags_filepath=tags)
    return zip_path


def server_generate(repo_dir: Path) -> Path:
    """Blender's ``server-generate``: index every zip in `repo_dir` as ``index.json``."""
    run_blender_ext("subcmd_server.generate", repo_dir=str(repo_dir), repo_config_filepath="", html=False,
                    html_template="")
    return repo_dir / blender_ext().PKG_REPO_LIST_FILENAME


def build_all(plats: list[str], out_dir: Path, refresh: bool = False) -> list[Path]:
    manifest = source_manifest()
    requirements = list(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])
    # All four platforms are resolved (from the cache, after the first build) even when one is built, so no zip
    # ships a set the others could not match.
    resolved = {plat: resolve_wheels(plat, requirements, refresh) for plat in PLATFORM_TAGS}
    check_wheel_sets({plat: [w.name for w in wheels] for plat, wheels in resolved.items()})
    return [build(plat, resolved[plat], out_dir, manifest) for plat in plats]


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--platform", default="current", choices=[*PLATFORM_TAGS, "current", "all"])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--repo", type=Path, metavar="DIR",
                        help="build every platform into DIR and index it with Blender's server-generate")
    parser.add_argument("--refresh", action="store_true", help="ask the package index for newer wheels")
    args = parser.parse_args(argv)
    plats = list(PLATFORM_TAGS) if args.platform == "all" or args.repo else [args.platform]
    out_dir: Path = args.repo or args.out
    try:
        plats = [current_platform() if p == "current" else p for p in plats]
        zips = build_all(plats, out_dir, args.refresh)
        if args.repo:
            # The repository holds one release: older zips of this extension would be listed beside it.
            for old in out_dir.glob("blender_canvas-*.zip"):
                if old not in zips:
                    old.unlink()
            index = server_generate(out_dir)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1
    for zip_path in zips:
        print(f"{zip_path}  {zip_path.stat().st_size / 1e6:.1f} MB")
    if args.repo:
        print(f"{index}  (add {index.resolve().as_uri()} under Preferences > Get Extensions > Repositories)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

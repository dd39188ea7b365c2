"""Headless entry point: ``python -m blender_canvas <command>``.

User mistakes (a bad file, an invalid canvas) end with a clear message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .providers.catalog import Catalog, Price, Variant, describe_choices, describe_seconds, load_catalog

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def _price_text(price: Price | None) -> str:
    if price is None:
        return "-"
    unit = {"second": "/s", "image": "/image", "1k_characters": "/1k chars", "1m_bytes": "/1M bytes", "run": "/run"}
    mark = "" if price.source.confirmed else "*"
    return f"${price.usd:.4g}{unit[price.per]}{mark}"


def _variant_row(model_id: str, kind: str, variant: Variant, default: bool = False) -> list[str]:
    status = variant.status
    status_text = status.status + (f" {status.since.isoformat()}" if status.since else "")
    if variant.duration_from:
        durations = f"= {variant.duration_from}"
    else:
        durations = describe_seconds(variant.durations) if variant.durations else "-"
    routes = ", ".join(
        f"{r.backend}:{r.model_id}" + ("" if r.lifecycle.usable else " (retired)") for r in variant.routes
    )
    live = variant.live_routes or variant.routes
    cheapest = min((r.price for r in live if r.price), key=lambda p: p.usd, default=None)
    return [
        model_id, variant.id, variant.label + (" (default)" if default else ""), kind, status_text, durations,
        " ".join(variant.aspect_ratios) or "-", "yes" if variant.seed else "no", _price_text(cheapest), routes,
    ]


def models_table(catalog: Catalog) -> str:
    header = ["model", "variant", "name", "kind", "status", "durations", "aspect ratios", "seed", "from", "routes"]
    rows = [_variant_row(m.id, m.kind.value, v, v.id == m.default_variant and len(m.variants) > 1)
            for m in catalog.models for v in m.variants]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True)) + "  " + cells[-1]

    out = [line(header), line(["-" * w for w in widths] + ["-" * 6])]
    out.extend(line(r) for r in rows)
    out.append("")
    example = next((m for m in catalog.models if m.kind.value == "video" and len(m.variants) > 1
                    and any(v.status.status == "active" for v in m.variants)), None)
    if example is not None:
        variant = next(v for v in example.variants if v.id != example.default_variant)
        out.append(f'In a canvas, type the model and variant ids: {{"kind": "{example.kind.value}", "model": '
                   f'"{example.id}", "variant": "{variant.id}"}}; without "variant" a node gets the (default) one.')
    out.append("* price from a secondary or unconfirmed source; 'from' is the cheapest live route's list price.")
    return "\n".join(out)


def cmd_models(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json"), indent=1))
    else:
        print(models_table(catalog))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .engine.document import Canvas

    print(json.dumps(Canvas.model_json_schema(), indent=1))
    return 0


def read_canvas_file(path: Path) -> Any:
    from .engine.validation import CanvasFileError, read_json_file

    try:
        return read_json_file(path)
    except CanvasFileError as error:
        raise UserError(str(error)) from error


def cmd_validate(args: argparse.Namespace) -> int:
    from .engine.validation import load_canvas

    path = Path(args.canvas)
    report = load_canvas(read_canvas_file(path), load_catalog(), base_dir=path.parent)
    for problem in report.problems:
        print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)
    if report.errors:
        print(f"{path}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)", file=sys.stderr)
        return EXIT_USAGE
    nodes = len(report.canvas.nodes) if report.canvas else 0
    print(f"{path}: valid ({nodes} nodes, {len(report.warnings)} warning(s))")
    return 0


def _headless(call: Any) -> int:
    from . import headless
    from .engine.ledger import LedgerError

    try:
        result: int = call(headless)
    except (headless.RunRefused, LedgerError) as error:  # LedgerError: a ledger from a newer release, or in use
        raise UserError(str(error)) from error
    return result


def cmd_run(args: argparse.Namespace) -> int:
    return _headless(lambda h: h.run(Path(args.canvas), Path(args.out), online=args.online, draft=args.draft,
                                     budget_usd=args.budget, only=args.only or None, new_take=args.new_take,
                                     resubmit_unknown=args.resubmit_unknown))


def cmd_estimate(args: argparse.Namespace) -> int:
    return _headless(lambda h: h.estimate(Path(args.canvas), draft=args.draft,
                                          out=Path(args.out) if args.out else None))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo_canvas, fill_sample_verdicts, write_logo

    def demo(h: Any) -> int:
        from .engine.document import Canvas

        # the folder is checked (and claimed) before the logo is written into it
        out, data = h.prepare_project(Path(args.out)), demo_canvas()
        h.claim_project(out, "demo", Canvas.model_validate(data))
        write_logo(out / "assets" / "logo.png")
        return int(h.run(None, out, data=data, draft=True, judge=fill_sample_verdicts))

    return _headless(demo)


def cmd_check(args: argparse.Namespace) -> int:
    """One cheap authenticated call per backend (nothing billed): is the key accepted, is the host reachable."""
    from .engine.session import keys_from_environment
    from .providers.connection import check_backend

    catalog = load_catalog()
    keys = keys_from_environment(catalog)
    paid = [b for b in catalog.backends if b.env_keys]
    known = {b.id for b in catalog.backends}
    unknown = [name for name in args.backend if name not in known]
    if unknown:
        raise UserError(f"no backend named {describe_choices(tuple(unknown))}; backends: "
                        f"{describe_choices(tuple(b.id for b in catalog.backends))}")
    chosen = args.backend or [b.id for b in paid if all(keys.get(k) for k in b.env_keys)]
    if not chosen:
        print("no backend key in the environment; set one of: " +
              ", ".join(" + ".join(b.env_keys) for b in paid) + " (or name a backend to see what it needs)")
        return 1
    failed = 0
    for backend_id in chosen:
        report = check_backend(backend_id, keys)
        failed += not report.ok
        timing = f" {report.latency_ms:.0f} ms" if report.latency_ms is not None else ""
        where = f" ({report.endpoint} on {report.host}{timing})" if report.endpoint else ""
        account = "; ".join(f"{k}: {v}" for k, v in report.account.items())
        print(f"{'ok    ' if report.ok else 'FAILED'} {backend_id}: {report.message}{where}"
              + (f" [{account}]" if account else ""))
    return 1 if failed else 0


def _entrant(text: str) -> Any:
    from .engine.bakeoff import Entrant

    model, _, variant = text.partition("/")
    if not model:
        raise argparse.ArgumentTypeError(f"an entrant is MODEL or MODEL/VARIANT (kling-3/o3), not {text!r}")
    return Entrant(model=model, variant=variant or None)


def cmd_bakeoff(args: argparse.Namespace) -> int:
    """Wire a controlled bake-off into a canvas file, the way the Bake-off panel's Build button does."""
    from .engine.bakeoff import BakeOffError, build_bakeoff
    from .engine.validation import load_canvas

    path = Path(args.canvas)
    report = load_canvas(read_canvas_file(path), load_catalog(), base_dir=path.parent)
    if report.canvas is None or report.errors:
        raise UserError("\n".join(f"{path}: {str(p).removeprefix(p.severity + ': ')}" for p in report.errors))
    try:
        built = build_bakeoff(report.canvas, load_catalog(), image=args.image, shot=args.shot,
                              entrants=args.entrant, takes=args.takes, duration_s=args.duration,
                              aspect_ratio=args.aspect, seed=args.seed, brief=args.brief,
                              axes=args.axis or None)
    except BakeOffError as error:
        raise UserError(f"bake-off: {error}") from error
    out = Path(args.out)
    out.write_text(json.dumps(built.canvas.to_json_data(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {len(built.created)} entrant node(s) added ({', '.join(built.created) or 'none'}), "
          f"{len(built.reused)} kept")
    for flag in built.flags:
        print(f"flag: {flag}")
    return 0


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"budget must be a number of US dollars, not {text!r}") from error
    if value < 0:
        raise argparse.ArgumentTypeError("budget must be zero or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m blender_canvas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    models = commands.add_parser("models", help="list every model, its variants, status, prices and routes")
    models.add_argument("--json", action="store_true", help="print the catalog as JSON")
    models.set_defaults(func=cmd_models)

    schema = commands.add_parser("schema", help="print the canvas document's JSON Schema")
    schema.set_defaults(func=cmd_schema)

    validate = commands.add_parser("validate", help="check a canvas file against the catalog")
    validate.add_argument("canvas", help="path to a canvas .json file")
    validate.set_defaults(func=cmd_validate)

    run = commands.add_parser("run", help="render a canvas headless into DIR (takes, ledger, manifest, .blend)")
    run.add_argument("canvas", help="path to a canvas .json file")
    run.add_argument("--out", required=True, metavar="DIR", help="project folder to write")
    run.add_argument("--online", action="store_true", help="allow requests to paid services (off by default)")
    run.add_argument("--draft", action="store_true", help="send every node to the offline preview backend")
    run.add_argument("--budget", type=_budget, metavar="USD", help="refuse the run if its estimate is higher")
    run.add_argument("--only", nargs="+", metavar="NODE", help="render only these nodes (and missing inputs)")
    run.add_argument("--new-take", action="store_true", help="make one more take of each selected node")
    run.add_argument("--resubmit-unknown", action="store_true",
                     help="send again every job cut off mid-submit (of the --only nodes, if named): only after "
                          "checking the vendor's dashboard, as the vendor may already bill the first one")
    run.set_defaults(func=cmd_run)

    estimate = commands.add_parser("estimate", help="print what a run would submit and cost")
    estimate.add_argument("canvas", help="path to a canvas .json file")
    estimate.add_argument("--out", metavar="DIR", help="project folder whose takes count as cached")
    estimate.add_argument("--draft", action="store_true", help="estimate a draft run (free)")
    estimate.set_defaults(func=cmd_estimate)

    check = commands.add_parser("check", help="test each backend's key with one cheap call that bills nothing")
    check.add_argument("backend", nargs="*", help="backends to test (default: every one with a key in the environment)")
    check.set_defaults(func=cmd_check)

    bake = commands.add_parser("bakeoff", help="wire a controlled bake-off (same image, shot, aspect, seed, length) "
                                               "into a canvas file")
    bake.add_argument("canvas", help="path to a canvas .json file with the still and the shot node")
    bake.add_argument("--image", required=True, metavar="NODE", help="the controlled still (reference or image node)")
    bake.add_argument("--shot", required=True, metavar="NODE", help="the shared shot node")
    bake.add_argument("--entrant", required=True, action="append", type=_entrant, metavar="MODEL[/VARIANT]",
                      help="a model / variant pair to enter; repeat for each (at least 2)")
    bake.add_argument("--takes", type=int, default=3, help="takes per entrant (default 3)")
    bake.add_argument("--duration", type=int, metavar="SECONDS", help="controlled length (default: the shot's)")
    bake.add_argument("--aspect", metavar="W:H", help="controlled aspect ratio (default: the shot's or canvas's)")
    bake.add_argument("--seed", type=int, help="controlled seed (default: the shot's or canvas's)")
    bake.add_argument("--brief", help="what the takes are judged against")
    bake.add_argument("--axis", action="append", metavar="NAME", help="a judging axis; repeat (default: six axes)")
    bake.add_argument("--out", required=True, metavar="FILE", help="canvas .json to write")
    bake.set_defaults(func=cmd_bakeoff)

    demo = commands.add_parser("demo", help="run the built-in bake-off on the offline preview backend")
    demo.add_argument("--out", required=True, metavar="DIR", help="folder to write the demo project into")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except UserError as error:
        for line in str(error).splitlines() or [""]:  # one line a problem, each with one "error: "
            print(f"error: {line.removeprefix('error: ')}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `models | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return 0
    return result


__all__ = ["describe_choices", "main"]

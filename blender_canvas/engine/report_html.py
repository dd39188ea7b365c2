"""The bake-off report for people: one self-contained HTML5 page (inline CSS, pictures as data: URIs, no script,
no request), and a plain-text summary.

Every piece of user text (brief, prompts, notes, labels, axis names) goes through ``html.escape``. Figures a script
may want to check carry machine-readable attributes: score cells ``data-take`` / ``data-axis`` / ``data-score``, cost
cells ``data-take`` / ``data-cost-usd``, the total ``data-total-usd``, each take's ``figure.contact-sheet[data-take]``.
``report_text`` is the plain-text summary for a terminal or an e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from .contact_sheet import ContactSheet
from .report import BakeOffReport, EntrantReport, TakeEntry

# The page may load nothing from anywhere: pictures are data: URIs, styles inline, no script at all.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STEP_NAMES = {"submitted_to_done_s": "submit to done", "fetch_s": "download", "total_s": "queue to landed"}

CSS = """
:root { --ink: #1c1e23; --muted: #686d77; --line: #dedad2; --paper: #faf8f4; --card: #ffffff;
  --accent: #a8461f; --win: #fff0b8; --win-line: #c99700; --flag: #fdf1e7; --flag-line: #c8641e;
  --sample: #5b3fc0; --sample-bg: #efeafd; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--paper); color: var(--ink);
  font: 15px/1.55 "Inter", "Helvetica Neue", "Segoe UI", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 40px 40px 64px; }
h1, h2, h3 { line-height: 1.2; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h1 { font-size: 34px; margin: 6px 0 14px; }
h2 { font-size: 22px; margin-bottom: 14px; }
h3 { font-size: 16px; }
section { margin-top: 40px; }
.kicker { text-transform: uppercase; letter-spacing: 0.14em; font-size: 12px; color: var(--accent); margin: 0;
  font-weight: 700; }
.brief { font-size: 18px; max-width: 72ch; white-space: pre-wrap; margin: 0 0 20px; }
.facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 0; }
.facts div { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 16px;
  min-width: 120px; }
.facts dt { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.08em; }
.facts dd { margin: 0; font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.facts .total { border-color: var(--ink); }
.generated { color: var(--muted); font-size: 13px; margin: 14px 0 0; }
.banner { margin-top: 24px; padding: 14px 18px; border-radius: 10px; background: var(--sample-bg);
  border: 2px solid var(--sample); color: #2c1f66; font-weight: 600; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: 0.06em; text-transform: uppercase;
  padding: 2px 8px; border-radius: 999px; vertical-align: middle; margin-left: 6px; }
.badge.sample { background: var(--sample-bg); color: var(--sample); border: 1px solid var(--sample); }
.badge.pinned { background: var(--ink); color: #fff; }
.badge.win { background: var(--win); color: #6b5000; border: 1px solid var(--win-line); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 20px; }
.controlled { display: grid; grid-template-columns: minmax(240px, 420px) 1fr; gap: 28px; align-items: start; }
figure { margin: 0; }
img { max-width: 100%; height: auto; display: block; border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 650; text-transform: uppercase; letter-spacing: 0.05em; }
.kv th { width: 130px; }
.kv td { font-size: 15px; }
.flags { margin-top: 18px; background: var(--flag); border-left: 4px solid var(--flag-line); padding: 12px 16px;
  border-radius: 0 8px 8px 0; }
.flags h3 { font-size: 14px; color: var(--flag-line); margin-bottom: 6px; }
.flags ul { margin: 0; padding-left: 18px; }
.ok { margin-top: 18px; color: #2f6b3a; font-weight: 600; }
.scores th.axis { text-transform: none; letter-spacing: 0; font-size: 12px; min-width: 84px; }
.scores td.score, .scores td.mean, .scores th.mean { text-align: center; }
.scores td.score { font-weight: 600; font-size: 16px; }
.scores td.s1 { background: #f7dfd9; } .scores td.s2 { background: #f9eadf; } .scores td.s3 { background: #f2f0ea; }
.scores td.s4 { background: #e2efe3; } .scores td.s5 { background: #cde6d1; }
.scores td.win { box-shadow: inset 0 0 0 2px var(--win-line); }
.scores td.win::before { content: "\\2605 "; color: var(--win-line); }
.scores td.cost, .scores td.take-cell { text-align: right; white-space: nowrap; }
.scores td.take-cell { text-align: left; }
.scores a { color: var(--ink); }
.scores tbody + tbody { border-top: 2px solid var(--ink); }
.scores .entrant-name { font-weight: 650; text-transform: none; letter-spacing: 0; color: var(--ink);
  font-size: 14px; }
.scores .entrant-name small { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
.scores tfoot td { font-size: 12px; color: var(--muted); text-align: center; }
.sample-mark { font-size: 9px; line-height: 1; color: var(--sample); background: var(--sample-bg); font-weight: 700;
  vertical-align: super; margin-left: 3px; padding: 1px 3px; border: 1px solid var(--sample); border-radius: 3px; }
.legend { color: var(--muted); font-size: 13px; margin: -6px 0 12px; }
.spend td.money, .spend th.money { text-align: right; white-space: nowrap; }
.spend tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
.problems { margin-top: 12px; font-size: 14px; }
.entrant-head { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap;
  border-bottom: 2px solid var(--ink); padding-bottom: 8px; margin-bottom: 16px; }
.entrant-head h2 { margin: 0; }
.entrant-head .meta { color: var(--muted); font-size: 14px; }
.take { margin: 18px 0 24px; break-inside: avoid; page-break-inside: avoid; background: var(--card);
  border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px; }
.take h3 { margin-bottom: 12px; font-size: 18px; }
.contact-sheet { background: #16181d; border-radius: 8px; padding: 6px; }
.contact-sheet[data-error] { background: #ece9e4; }
.contact-sheet figcaption { color: #c9ccd3; padding: 2px 6px; }
.details { margin-top: 14px; display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 28px; }
.details th { width: 110px; }
.prompt { margin: 0; font: 14px/1.5 "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  white-space: pre-wrap; word-break: break-word; background: var(--paper); padding: 8px 10px; border-radius: 6px; }
.note { white-space: pre-wrap; }
.muted { color: var(--muted); }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 12px; }
@media (max-width: 900px) { .controlled, .details { grid-template-columns: 1fr; } main { padding: 20px; } }
@media print {
  @page { margin: 14mm; }
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .card, .facts div { border-color: #bbb; }
  section { break-before: auto; }
  .entrant { break-before: page; }
  .scores, .controlled { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _usd(value: float) -> str:
    return repr(float(value))  # exact: a script compares it with the ledger's own figure


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _generated(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _img(sheet: ContactSheet, alt: str) -> str:
    return (f'<img src="{sheet.data_uri}" width="{sheet.width}" height="{sheet.height}" alt="{_e(alt)}"'
            ' decoding="async">')


def _rows(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"<tr><th scope=\"row\">{_e(name)}</th><td>{value}</td></tr>" for name, value in pairs)


def render_html(report: BakeOffReport) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="generator" content="Blender Canvas">',
        f"<title>{_e(report.title)}: bake-off report</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        "<main>", _header(report), _controlled(report), _scores(report), _spend(report),
        *(_entrant(report, entrant) for entrant in report.entrants),
        f'<footer>Made by Blender Canvas from the project\'s ledger on {_e(report.generated_at)}. Costs are actual '
        "where the vendor reported them, else the estimate; spend counts every job that reached a vendor.</footer>",
        "</main>", "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _header(report: BakeOffReport) -> str:
    takes = len(report.takes)
    facts = [("Entrants", str(len(report.entrants)), ""), ("Takes", str(takes), ""),
             ("Axes", str(len(report.axes)), "")]
    cells = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value, _ in facts)
    cells += (f'<div class="total"><dt>Total spend</dt><dd class="total-spend" '
              f'data-total-usd="{_usd(report.total_spend_usd)}">{_e(money(report.total_spend_usd))}</dd></div>')
    brief = f'<p class="brief">{_e(report.brief)}</p>' if report.brief else ""
    banner = ""
    if report.sample_scores:
        banner = ('<div class="banner sample-banner" role="note">Sample scores: the verdicts marked '
                  '<span class="badge sample">sample</span> were filled in by a script to show how the report '
                  "reads. They are not a person's judgement of these takes.</div>")
    return (f'<header><p class="kicker">Bake-off report</p><h1>{_e(report.title)}</h1>{brief}'
            f'<dl class="facts">{cells}</dl><p class="generated">Generated {_e(_generated(report.generated_at))}</p>'
            f"</header>{banner}")


def _controlled(report: BakeOffReport) -> str:
    c = report.controlled
    caption = f"Image &lsquo;{_e(c.image_label)}&rsquo;" + (f" &middot; {_e(c.image_file)}" if c.image_file else "")
    if c.image.error:
        caption += f' &middot; <span class="muted">{_e(c.image.error)}</span>'
    rows = [("Shot", _e(c.shot_node))]
    rows += [(name, _e(text)) for name, text in c.skeleton.items()]
    rows += [("Aspect ratio", _e(c.aspect_ratio or "-")), ("Seed", _e(c.seed if c.seed is not None else "-")),
             ("Duration", _e(f"{c.duration_s} s" if c.duration_s else "-"))]
    entrants = "".join(
        f"<tr><td>{_e(e.label)}</td><td>{_e(e.model_label)} &middot; {_e(e.variant)}</td>"
        f"<td>{_e(f'{e.duration_s} s' if e.duration_s else '-')}</td><td>{_e(e.aspect_ratio or '-')}</td>"
        f"<td>{_e(e.seed if e.seed is not None else 'none')}</td><td>{_e(e.prompt_style or '-')}</td></tr>"
        for e in report.entrants)
    flags = ("".join(f"<li>{_e(flag)}</li>" for flag in c.flags))
    flag_block = (f'<div class="flags"><h3>Departures from the controlled inputs</h3><ul>{flags}</ul></div>'
                  if c.flags else '<p class="ok">Every entrant runs the controlled inputs.</p>')
    return (f'<section id="controlled"><h2>Controlled inputs</h2><div class="card controlled">'
            f'<figure class="controlled-image">{_img(c.image, "The controlled image")}<figcaption>{caption}'
            f'</figcaption></figure><div><table class="kv">{_rows(rows)}</table>'
            f'<table class="entrants"><thead><tr><th>Entrant</th><th>Model</th><th>Duration</th><th>Aspect</th>'
            f"<th>Seed</th><th>Prompt grammar</th></tr></thead><tbody>{entrants}</tbody></table>{flag_block}"
            "</div></div></section>")


def _score_cell(take: TakeEntry, axis: str) -> str:
    score = take.scores.get(axis)
    classes = ["score"]
    if score is not None:
        classes.append(f"s{score}")
    if axis in take.won_axes:
        classes.append("win")
    if axis in take.pinned_axes:
        classes.append("pinned")
    if take.sample and score is not None:
        classes.append("sample")
    text = "&ndash;" if score is None else str(score)
    if take.sample and score is not None:
        text += '<span class="sample-mark" title="sample score, filled in by a script">S</span>'
    if axis in take.pinned_axes:
        text += ' <span class="badge pinned" title="pinned best on this axis">pin</span>'
    return (f'<td class="{" ".join(classes)}" data-take="{_e(take.take_id)}" data-axis="{_e(axis)}" '
            f'data-score="{"" if score is None else score}">{text}</td>')


def _scores(report: BakeOffReport) -> str:
    head = "".join(f'<th class="axis" scope="col">{_e(axis)}</th>' for axis in report.axes)
    bodies = []
    for entrant in report.entrants:
        rows = []
        for index, take in enumerate(entrant.takes):
            name = (f'<th class="entrant-name" scope="rowgroup" rowspan="{len(entrant.takes)}">{_e(entrant.label)}'
                    f"<small>{_e(entrant.node)}</small></th>") if index == 0 else ""
            badges = ' <span class="badge pinned">best</span>' if take.pinned_best else ""
            mean = "&ndash;" if take.mean_score is None else f"{take.mean_score:.2f}"
            mean_attr = "" if take.mean_score is None else repr(take.mean_score)
            rows.append(
                f'<tr data-take="{_e(take.take_id)}">{name}<td class="take-cell">'
                f'<a href="#take-{_e(take.take_id)}">Take '
                f"{take.number}</a>{badges}</td>{''.join(_score_cell(take, axis) for axis in report.axes)}"
                f'<td class="mean" data-take="{_e(take.take_id)}" data-mean="{mean_attr}">'
                f'{mean}</td><td class="cost" data-take="{_e(take.take_id)}" '
                f'data-cost-usd="{_usd(take.cost_usd)}">{_e(money(take.cost_usd))}</td></tr>')
        if not entrant.takes:
            rows.append(f'<tr><th class="entrant-name" scope="rowgroup">{_e(entrant.label)}<small>'
                        f'{_e(entrant.node)}</small></th><td colspan="{len(report.axes) + 3}" class="muted">'
                        "no takes</td></tr>")
        bodies.append(f'<tbody class="entrant-rows" data-node="{_e(entrant.node)}">{"".join(rows)}</tbody>')
    winners = "".join(
        f'<td data-axis="{_e(w.axis)}" data-winners="{_e(" ".join(w.take_ids))}">'
        f'{_e(", ".join(report.take_label(t) for t in w.take_ids) or "-")}'
        f'{" (pinned)" if w.pinned else ""}</td>' for w in report.winners)
    return (f'<section id="scores"><h2>Scores</h2><p class="legend">1 (poor) to 5 (best). &#9733; the best on the '
            'axis (every tied take); <span class="badge pinned">pin</span> a take pinned as the best on an axis '
            'overrides the scores; <span class="badge pinned">best</span> the take pinned as its model\'s best; '
            '<span class="sample-mark">S</span> a sample score, not a person\'s.</p>'
            '<div class="card"><table class="scores">'
            f'<thead><tr><th scope="col">Entrant</th><th scope="col">Take</th>{head}<th class="mean" scope="col">'
            f'Mean</th><th scope="col">Cost</th></tr></thead>{"".join(bodies)}<tfoot><tr><th colspan="2">Best on '
            f'the axis</th>{winners}<td colspan="2"></td></tr></tfoot></table></div></section>')


def _spend(report: BakeOffReport) -> str:
    rows = "".join(
        f'<tr data-node="{_e(e.node)}"><td>{_e(e.label)}</td><td>{len(e.takes)}</td>'
        f"<td>{e.failed_count}</td><td>{e.moderated_count}</td><td>{e.removed_takes}</td>"
        f'<td class="money" data-spend-usd="{_usd(e.spend_usd)}">{_e(money(e.spend_usd))}</td></tr>'
        for e in report.entrants)
    rows += (f'<tr class="total"><td colspan="5">Total spend of the bake-off</td><td class="money" '
             f'data-total-usd="{_usd(report.total_spend_usd)}">{_e(money(report.total_spend_usd))}</td></tr>')
    problems = [(e, p) for e in report.entrants for p in e.problems]
    listed = "".join(f"<li><strong>{_e(e.label)} take {p.number}</strong>: {_e(p.state)}"
                     + (f" &middot; {_e(p.message)}" if p.message else "")
                     + (f" &middot; counted {_e(money(p.counted_usd))}" if p.counted_usd else "") + "</li>"
                     for e, p in problems)
    block = f'<div class="problems"><h3>Jobs that left no take</h3><ul>{listed}</ul></div>' if problems else ""
    return ('<section id="spend"><h2>Spend</h2><div class="card"><table class="spend"><thead><tr><th>Entrant</th>'
            "<th>Takes</th><th>Failed</th><th>Moderated</th><th>Removed</th><th class=\"money\">Spend</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>{block}</div></section>")


def _timings(take: TakeEntry) -> str:
    t = take.timings
    parts = [f"queued {_e(_when(t.queued_at))}"]
    if t.submitted_at is not None:
        parts.append(f"submitted {_e(_when(t.submitted_at))}" + (f" ({t.wait_s:.2f} s later)" if t.wait_s else ""))
    if t.finished_at is not None:
        parts.append(f"finished {_e(_when(t.finished_at))}")
    steps = ", ".join(f"{_e(STEP_NAMES.get(k, k))} {v:.2f} s" for k, v in t.steps.items())
    return "<br>".join(parts) + (f'<br><span class="muted">{steps}</span>' if steps else "")


def _cost(take: TakeEntry) -> str:
    kind = "actual" if take.actual_usd is not None else "estimate"
    extra = (f' <span class="muted">(estimated {_e(money(take.estimated_usd))})</span>'
             if take.actual_usd is not None and abs(take.actual_usd - take.estimated_usd) > 1e-9 else "")
    return (f'<span class="take-cost" data-take="{_e(take.take_id)}" data-cost-usd="{_usd(take.cost_usd)}">'
            f"{_e(money(take.cost_usd))}</span> {kind}{extra}")


def _take(report: BakeOffReport, take: TakeEntry) -> str:
    sheet = take.contact_sheet
    times = ", ".join(sheet.labels) if sheet.labels else ("the still" if take.media == "image" else "")
    shape = ", ".join(filter(None, [_seconds(take.duration_s) if take.duration_s else "",
                                    f"{take.width} × {take.height}" if take.width and take.height else ""]))
    caption = (f"Take {take.number} &middot; {_e(sheet.error)}" if sheet.error else
               f"Take {take.number} &middot; {_e(take.variant_label)}" + (f" &middot; {_e(shape)}" if shape else ""))
    badges = "".join([
        ' <span class="badge pinned">pinned best</span>' if take.pinned_best else "",
        *(f' <span class="badge win">best: {_e(axis)}</span>' for axis in take.won_axes),
        ' <span class="badge sample">sample scores</span>' if take.sample else ""])
    scores = ", ".join(f"{_e(axis)} {take.scores[axis]}" for axis in report.axes if axis in take.scores)
    facts = [
        ("Model", f"{_e(take.model_label)} &middot; {_e(take.variant_label)}"),
        ("Route", _e(take.backend_label) + (f" ({_e(take.backend)})" if take.backend_label != take.backend else "")
                  + (f'<br><span class="muted">job {_e(take.remote_id)}</span>' if take.remote_id else "")),
        ("Seed", _e(take.seed if take.seed is not None else "none")),
        ("Duration", _e(_seconds(take.duration_s))),
        ("Size", _e(f"{take.width} × {take.height}" if take.width and take.height else "-")),
        ("Cost", _cost(take)),
        ("File", f'<span class="muted">{_e(take.file)}</span>'),
    ]
    judged = [
        ("Prompt sent", f'<pre class="prompt">{_e(take.prompt)}</pre>'),
        ("Scores", (scores + (' <span class="badge sample">sample</span>' if take.sample else "")) if scores
         else '<span class="muted">not scored yet</span>'),
    ]
    if take.mean_score is not None:
        judged.append(("Mean", f"{take.mean_score:.2f}"))
    if take.note:
        judged.append(("Note", f'<span class="note">{_e(take.note)}</span>'))
    if take.flags:
        judged.append(("Departures", "<br>".join(_e(f) for f in take.flags)))
    judged.append(("Timings", _timings(take)))
    error = f' data-error="{_e(sheet.error)}"' if sheet.error else ""
    return (f'<article class="take" id="take-{_e(take.take_id)}" data-take="{_e(take.take_id)}">'
            f"<h3>Take {take.number}{badges}</h3>"
            f'<figure class="contact-sheet" data-take="{_e(take.take_id)}"{error}>'
            f'{_img(sheet, f"Take {take.number}: frames at " + (times or "no times"))}'
            f"<figcaption>{caption}</figcaption></figure>"
            f'<div class="details"><table>{_rows(facts)}</table><table>{_rows(judged)}</table></div></article>')


def _entrant(report: BakeOffReport, entrant: EntrantReport) -> str:
    routes = sorted({f"{t.backend_label}" for t in entrant.takes})
    meta = " &middot; ".join(filter(None, [
        f"{_e(entrant.model_label)} &middot; {_e(entrant.variant_label or entrant.variant)}",
        f"via {_e(', '.join(routes))}" if routes else "",
        f'spend <span data-spend-usd="{_usd(entrant.spend_usd)}">{_e(money(entrant.spend_usd))}</span>']))
    flags = ("<div class=\"flags\"><ul>" + "".join(f"<li>{_e(f)}</li>" for f in entrant.flags) + "</ul></div>"
             if entrant.flags else "")
    takes = "".join(_take(report, take) for take in entrant.takes) or '<p class="muted">No takes yet.</p>'
    return (f'<section class="entrant" id="entrant-{_e(entrant.node)}" data-node="{_e(entrant.node)}">'
            f'<div class="entrant-head"><h2>{_e(entrant.label)}</h2><span class="meta">{meta}</span></div>'
            f"{flags}{takes}</section>")


# --- the plain-text summary ---------------------------------------------------------------------------------------
def money(value: float) -> str:
    return f"${value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"${value:.4f}"


def report_text(report: BakeOffReport) -> str:
    """A plain-text summary: the takes by the axes with their means, the winners per axis and the spend."""
    lines = [f"Bake-off report: {report.title}", f"Generated {report.generated_at}", ""]
    if report.brief:
        lines += ["Brief:", *(f"  {line}" for line in report.brief.splitlines()), ""]
    c = report.controlled
    skeleton = "; ".join(f"{k}: {v}" for k, v in c.skeleton.items()) or "(empty)"
    lines += [f"Controlled: image '{c.image_node}', shot '{c.shot_node}' ({skeleton}), aspect {c.aspect_ratio or '-'},"
              f" seed {c.seed if c.seed is not None else '-'}, duration {c.duration_s or '-'} s"]
    lines += [f"  ! {flag}" for flag in c.flags] or ["  every entrant runs the controlled inputs"]
    if report.sample_scores:
        lines += ["", "SAMPLE SCORES: verdicts marked (sample) were filled in by a script, not judged by a person."]
    lines += ["", "Scores, 1 (poor) to 5 (best); * wins the axis, ^ pinned on the axis, (sample) a sample score"]
    lines += [f"  A{i + 1} = {axis}" for i, axis in enumerate(report.axes)]
    header = ["entrant", "take", *(f"A{i + 1}" for i in range(len(report.axes))), "mean", "cost", "best"]
    rows = [header]
    for entrant in report.entrants:
        for take in entrant.takes:
            cells = [entrant.node, str(take.number)]
            for axis in report.axes:
                score = take.scores.get(axis)
                mark = ("*" if axis in take.won_axes else "") + ("^" if axis in take.pinned_axes else "")
                cells.append(f"{score}{mark}" if score is not None else ("-" + mark if mark else "-"))
            cells += [f"{take.mean_score:.2f}" if take.mean_score is not None else "-", money(take.cost_usd),
                      "pinned" + (" (sample)" if take.sample else "") if take.pinned_best else
                      ("(sample)" if take.sample else "")]
            rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += ["", "Winners per axis:"]
    for winner in report.winners:
        who = ", ".join(report.take_label(t) for t in winner.take_ids) or "no scores yet"
        detail = " (pinned)" if winner.pinned else (f" ({winner.score})" if winner.score is not None else "")
        lines.append(f"  {winner.axis}: {who}{detail}")
    lines += ["", "Spend (every job that reached a vendor):"]
    lines += [f"  {e.node}: {money(e.spend_usd)} for {len(e.takes)} take(s)"
              + (f", {len(e.problems)} job(s) without a take" if e.problems else "")
              + (f", {e.removed_takes} removed" if e.removed_takes else "") for e in report.entrants]
    lines.append(f"  total: {money(report.total_spend_usd)}")
    problems = [(e.node, p) for e in report.entrants for p in e.problems]
    if problems:
        lines += ["", "Jobs without a take:"]
        lines += [f"  {node} take {p.number}: {p.state}" + (f": {p.message}" if p.message else "")
                  for node, p in problems]
    return "\n".join(lines) + "\n"

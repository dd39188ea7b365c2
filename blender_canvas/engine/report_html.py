"""The bake-off report for people: one self-contained HTML5 page (inline CSS, pictures as data: URIs, no script,
no request). The plain-text twin is ``report_text`` (engine/report_text.py).

Every piece of user text (brief, prompts, notes, labels, axis names) goes through ``html.escape``. Figures a script
may want to check carry machine-readable attributes: score cells ``data-take`` / ``data-axis`` / ``data-score``, cost
cells ``data-take`` / ``data-cost-usd``, spend ``data-entrants-usd`` (the entrants' takes), ``data-image-usd`` (the
controlled image's takes) and ``data-total-usd`` (both), an entrant's spend ``data-spend-usd``; the entrant summary's
``data-node`` / ``data-axis`` / ``data-mean``, ``data-cost-per-take-usd`` and ``data-list-price-usd``; each
departure ``li[data-kind]``; each take's ``figure.contact-sheet[data-take]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from .contact_sheet import ContactSheet
from .report import BakeOffReport, EntrantReport, TakeEntry
from .report_style import CSS
from .report_summary import Departure, EntrantSummary
from .report_text import LIST_PRICE_LABEL, departures_heading, money, orphan_warning, report_text

__all__ = ["money", "render_html", "report_text"]

# The page may load nothing from anywhere: pictures are data: URIs, styles inline, no script at all.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STEP_NAMES = {"submitted_to_done_s": "submit to done", "fetch_s": "download", "total_s": "queue to landed"}



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
    facts = [("Entrants", str(len(report.entrants))), ("Takes", str(takes)), ("Axes", str(len(report.axes)))]
    cells = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    cells += (f'<div class="{"flagged" if report.departures else ""}"><dt>Departures</dt>'
              f'<dd class="departure-count">{len(report.departures)}</dd></div>')
    entrants = (f"<tr><th>Spend on the entrants' takes</th><td data-entrants-usd=\"{_usd(report.entrants_spend_usd)}\""
                + ("" if report.image_spend_usd is not None else f' data-total-usd="{_usd(report.total_spend_usd)}"')
                + f">{_e(money(report.entrants_spend_usd))}</td></tr>")
    image = _e(report.controlled.image_label)
    if report.image_spend_usd is None:  # a reference still costs nothing: the entrants' spend is the total
        rows = entrants + (f'<tr class="note"><td colspan="2">the image &lsquo;{image}&rsquo; is a reference '
                           "file</td></tr>")
    else:
        rows = (entrants + f"<tr><th>Spend on the image&rsquo;s takes (&lsquo;{image}&rsquo;)</th><td data-image-usd="
                f'"{_usd(report.image_spend_usd)}">{_e(money(report.image_spend_usd))}</td></tr>'
                f'<tr class="sum"><th>Total, entrants + image</th><td data-total-usd="{_usd(report.total_spend_usd)}">'
                f"{_e(money(report.total_spend_usd))}</td></tr>")
    cells += f'<div class="total spend-fact"><dt>Spend</dt><dd><table>{rows}</table></dd></div>'
    brief = f'<p class="brief">{_e(report.brief)}</p>' if report.brief else ""
    banners = [_departures(report)]
    if report.orphan_scores:
        banners.append(f'<div class="banner warn orphan-banner" role="note">{_e(orphan_warning(report))}</div>')
    if report.sample_scores:
        banners.append('<div class="banner sample-banner" role="note">Sample scores: the verdicts marked '
                       '<span class="badge sample">sample</span> were filled in by a script to show how the report '
                       "reads. They are not a person's judgement of these takes.</div>")
    return (f'<header><p class="kicker">Bake-off report</p><h1>{_e(report.title)}</h1>{brief}'
            f'<dl class="facts">{cells}</dl><p class="generated">Generated {_e(_generated(report.generated_at))}</p>'
            f"</header>{''.join(banners)}")


def _departures(report: BakeOffReport) -> str:
    if not report.departures:
        return ('<p class="ok departures-ok">Every take was made from the controlled inputs its entrant sends '
                "now.</p>")
    items = "".join(
        f'<li data-kind="{_e(d.kind)}" data-node="{_e(d.node)}" data-takes="{" ".join(map(str, d.takes))}">'
        + _departure_text(d) + "</li>" for d in report.departures)
    return (f'<div class="flags departures" id="departures"><h3>{_e(departures_heading(report))}</h3>'
            f"<ul>{items}</ul></div>")


def _departure_text(d: Departure) -> str:
    label = d.label or d.node
    if not d.takes and d.message.startswith(label + " "):  # "Kling 3.0 takes no seed": the label is the subject
        return f"<strong>{_e(label)}</strong>{_e(d.message[len(label):])}"
    takes = f" take{'s' if len(d.takes) > 1 else ''} {_e(_numbers(d.takes))}" if d.takes else ""
    return f"<strong>{_e(label)}</strong>{takes}: {_e(d.message)}"


def _numbers(numbers: list[int]) -> str:
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


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
    flag_block = (f'<p class="muted see-departures"><a href="#departures">{_e(departures_heading(report))}'
                  "</a>, listed at the top.</p>" if report.departures else
                  '<p class="ok">Every entrant runs the controlled inputs.</p>')
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
            if take.flags:
                badges += (f' <span class="departs" title="{_e("; ".join(_messages(take)))}">&#9873; '
                           "departs</span>")
            if take.orphan_scores:
                badges += (f' <span class="muted orphans" data-orphans="{len(take.orphan_scores)}">'
                           f"+{len(take.orphan_scores)} on old axes</span>")
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
    return (f'<section id="scores"><h2>Scores</h2>{_summary(report)}<h3 class="sub">By take</h3>'
            '<p class="legend">1 (poor) to 5 (best). &#9733; the best on the '
            'axis (every tied take); <span class="badge pinned">pin</span> a take pinned as the best on an axis '
            'overrides the scores; <span class="badge pinned">best</span> the take pinned as its model\'s best; '
            '<span class="sample-mark">S</span> a sample score, not a person\'s; &#9873; the take departs from '
            'what its entrant sends now.</p>'
            '<div class="card"><table class="scores">'
            f'<thead><tr><th scope="col">Entrant</th><th scope="col">Take</th>{head}<th class="mean" scope="col">'
            f'Mean</th><th scope="col">Cost</th></tr></thead>{"".join(bodies)}<tfoot><tr><th colspan="2">Best on '
            f'the axis</th>{winners}<td colspan="2"></td></tr></tfoot></table></div></section>')


def _summary(report: BakeOffReport) -> str:
    """The entrants side by side: mean per axis, overall mean and rank, spend, spend per take, and the list price
    of preview takes (an estimate, kept apart from the spend)."""
    leaders = {leader.axis: leader for leader in report.entrant_axis_winners}
    head = "".join(f'<th class="axis" scope="col">{_e(axis)}</th>' for axis in report.axes)
    rows = "".join(_summary_row(report, summary) for summary in report.entrant_summary)
    best = "".join(
        f'<td data-axis="{_e(axis)}" data-leaders="{_e(" ".join(leaders[axis].nodes))}">'
        f'{_e(", ".join(report.entrant_label(n) for n in leaders[axis].nodes) or "-")}</td>' for axis in report.axes)
    return ('<h3 class="sub">By entrant</h3><p class="legend">Each entrant&rsquo;s mean score per axis over its '
            "scored takes; overall is the mean of its axis means (every axis weighs the same) and sets the rank "
            "(= a tie). &#9733; the highest mean on the axis (every tied entrant). Spend per take is its spend "
            "(failed and removed jobs included) over the takes in its tray. The list price is what its preview "
            "takes would have cost on the paid route, from the catalog: an estimate, never part of the spend.</p>"
            '<div class="card"><table class="scores summary"><thead><tr><th scope="col">Rank</th>'
            f'<th scope="col">Entrant</th>{head}<th class="overall" scope="col">Overall</th>'
            '<th class="scored" scope="col">Scored</th><th class="money" scope="col">Spend</th>'
            '<th class="money" scope="col">Spend per take</th>'
            f'<th class="money list-price" scope="col">{_e(LIST_PRICE_LABEL)}</th></tr></thead><tbody>{rows}'
            f'</tbody><tfoot><tr><th colspan="2">Best entrant on the axis</th>{best}<td colspan="5"></td></tr>'
            "</tfoot></table></div>")


def _summary_row(report: BakeOffReport, s: EntrantSummary) -> str:
    cells = []
    for axis in report.axes:
        mean = s.axis_means.get(axis)
        classes = "axis-mean" + ("" if mean is None else f" s{min(5, max(1, round(mean)))}")
        classes += " lead" if axis in s.leads else ""
        count = s.axis_counts.get(axis, 0)
        title = f' title="over {count} take{"s" if count != 1 else ""}"' if count else ""
        cells.append(f'<td class="{classes}" data-node="{_e(s.node)}" data-axis="{_e(axis)}" '
                     f'data-mean="{"" if mean is None else repr(mean)}"{title}>'
                     f'{"&ndash;" if mean is None else f"{mean:.2f}"}</td>')
    rank = "&ndash;" if s.rank is None else f"{s.rank}{'=' if s.rank_tied else ''}"
    overall = "&ndash;" if s.overall_mean is None else f"{s.overall_mean:.2f}"
    sample = '<span class="sample-mark" title="sample scores, filled in by a script">S</span>' if s.sample else ""
    per_take = "&ndash;" if s.cost_per_take_usd is None else _e(money(s.cost_per_take_usd))
    per_take_usd = "" if s.cost_per_take_usd is None else _usd(s.cost_per_take_usd)
    return (f'<tr data-node="{_e(s.node)}"><td class="rank" data-rank="{s.rank or ""}">{rank}</td>'
            f'<th class="entrant-name" scope="row">{_e(s.label)}<small>{_e(s.node)}</small></th>{"".join(cells)}'
            f'<td class="overall" data-node="{_e(s.node)}" data-mean="'
            f'{"" if s.overall_mean is None else repr(s.overall_mean)}">{overall}{sample}</td>'
            f'<td class="scored">{s.scored_takes} of {s.takes}</td>'
            f'<td class="cost" data-entrant-spend-usd="{_usd(s.spend_usd)}">{_e(money(s.spend_usd))}</td>'
            f'<td class="cost" data-cost-per-take-usd="{per_take_usd}">{per_take}</td>{_list_price_cell(s)}</tr>')


def _list_price_cell(s: EntrantSummary) -> str:
    if not s.preview_takes:
        return '<td class="cost list-price muted">&ndash; <small>(paid takes)</small></td>'
    if s.list_price_usd is None or s.list_price_per_take_usd is None:
        return '<td class="cost list-price muted">no list price in the catalog</td>'
    return (f'<td class="cost list-price" data-list-price-usd="{_usd(s.list_price_usd)}">'
            f"{_e(money(s.list_price_usd))} est.<small>{_e(money(s.list_price_per_take_usd))} per take on "
            f"{_e(s.list_price_route or '')}"
            + (f" ({s.preview_takes} preview take{'s' if s.preview_takes != 1 else ''} of {s.takes})"
               if s.preview_takes != s.takes else "") + "</small></td>")


def _messages(take: TakeEntry) -> list[str]:
    """The take's departures without the "node take n:" each line starts with."""
    return [flag.split(": ", 1)[-1] for flag in take.flags]


def _spend(report: BakeOffReport) -> str:
    rows = "".join(
        f'<tr data-node="{_e(e.node)}"><td>{_e(e.label)}</td><td>{len(e.takes)}</td>'
        f"<td>{e.failed_count}</td><td>{e.moderated_count}</td><td>{e.removed_takes}</td>"
        f'<td class="money" data-spend-usd="{_usd(e.spend_usd)}">{_e(money(e.spend_usd))}</td></tr>'
        for e in report.entrants)
    image = report.controlled.image_label
    if report.image_spend_usd is None:
        rows += (f'<tr class="total"><td colspan="5">Spend on the entrants\' takes <span class="muted">(the '
                 f"controlled image &lsquo;{_e(image)}&rsquo; is a reference file: no spend)</span></td>"
                 f'<td class="money" data-entrants-usd="{_usd(report.entrants_spend_usd)}" data-total-usd='
                 f'"{_usd(report.total_spend_usd)}">{_e(money(report.entrants_spend_usd))}</td></tr>')
    else:
        rows += (f'<tr class="total"><td colspan="5">Spend on the entrants\' takes</td><td class="money" '
                 f'data-entrants-usd="{_usd(report.entrants_spend_usd)}">{_e(money(report.entrants_spend_usd))}'
                 f'</td></tr><tr class="image"><td colspan="5">Spend on the controlled image&rsquo;s takes '
                 f"(&lsquo;{_e(image)}&rsquo;, every take of it, not only the one shown)</td><td class=\"money\" "
                 f'data-image-usd="{_usd(report.image_spend_usd)}">{_e(money(report.image_spend_usd))}</td></tr>'
                 f'<tr class="total grand"><td colspan="5">Total, entrants + image</td><td class="money" '
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
        ' <span class="badge sample">sample scores</span>' if take.sample else "",
        f' <span class="badge flag">departs ({len(take.flags)})</span>' if take.flags else ""])
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
    if take.orphan_scores:
        judged.append(("Old axes", '<span class="muted">' + _e(", ".join(
            f"{axis} {score}" for axis, score in take.orphan_scores.items())) + " (on axes no longer in the "
            "bake-off; in no mean or winner)</span>"))
    if take.flags:
        judged.append(("Departures", '<ul class="take-flags">' + "".join(
            f"<li>{_e(m)}</li>" for m in _messages(take)) + "</ul>"))
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

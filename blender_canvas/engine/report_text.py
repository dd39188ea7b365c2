"""The bake-off report as plain text, for a terminal or an e-mail: departures and warnings first, then the entrant
summary, the takes by the axes with their means, the winners per axis and the spend."""

from __future__ import annotations

from .report import BakeOffReport
from .report_summary import EntrantSummary

LIST_PRICE_LABEL = "list price if rendered for real (est.)"


def money(value: float) -> str:
    return f"${value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"${value:.4f}"


def orphan_warning(report: BakeOffReport) -> str:
    """One sentence about the scores on axes the bake-off no longer has; "" when there are none."""
    counts = report.orphan_counts
    if not counts:
        return ""
    total = sum(counts.values())
    listed = ", ".join(f"'{axis}' ({count})" for axis, count in counts.items())
    return (f"{total} score{'s' if total != 1 else ''} on axes no longer in this bake-off: {listed}. They count in "
            "no mean, rank or winner; report.json keeps them under orphan_scores.")


def departures_heading(report: BakeOffReport) -> str:
    count, takes = len(report.departures), report.departure_takes
    return (f"{count} departure{'s' if count != 1 else ''} from the controlled inputs"
            + (f", in {takes} take{'s' if takes != 1 else ''}" if takes else ""))


def _table(rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if right and i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]


def report_text(report: BakeOffReport) -> str:
    lines = [f"Bake-off report: {report.title}", f"Generated {report.generated_at}", ""]
    if report.brief:
        lines += ["Brief:", *(f"  {line}" for line in report.brief.splitlines()), ""]
    if report.departures:
        lines += [departures_heading(report) + ":", *(f"  ! {d.text}" for d in report.departures), ""]
    else:
        lines += ["Every take was made from the controlled inputs its entrant sends now.", ""]
    if report.orphan_scores:
        lines += [f"! {orphan_warning(report)}", ""]
    if report.sample_scores:
        lines += ["SAMPLE SCORES: verdicts marked (sample) were filled in by a script, not judged by a person.", ""]
    c = report.controlled
    skeleton = "; ".join(f"{k}: {v}" for k, v in c.skeleton.items()) or "(empty)"
    lines += [f"Controlled: image '{c.image_node}', shot '{c.shot_node}' ({skeleton}), aspect {c.aspect_ratio or '-'},"
              f" seed {c.seed if c.seed is not None else '-'}, duration {c.duration_s or '-'} s", ""]
    lines += ["Axes: " + "; ".join(f"A{i + 1} = {axis}" for i, axis in enumerate(report.axes)), ""]
    lines += _summary(report)
    lines += ["", "Scores by take, 1 (poor) to 5 (best); * wins the axis, ^ pinned on the axis, (sample) a sample "
              "score"]
    header = ["entrant", "take", *(f"A{i + 1}" for i in range(len(report.axes))), "mean", "cost", "best"]
    rows = [header]
    for entrant in report.entrants:
        for take in entrant.takes:
            cells = [entrant.node, str(take.number) + ("!" if take.flags else "")]
            for axis in report.axes:
                score = take.scores.get(axis)
                mark = ("*" if axis in take.won_axes else "") + ("^" if axis in take.pinned_axes else "")
                cells.append(f"{score}{mark}" if score is not None else ("-" + mark if mark else "-"))
            cells += [f"{take.mean_score:.2f}" if take.mean_score is not None else "-", money(take.cost_usd),
                      "pinned" + (" (sample)" if take.sample else "") if take.pinned_best else
                      ("(sample)" if take.sample else "")]
            rows.append(cells)
    lines += _table(rows)
    if any(t.flags for t in report.takes):
        lines.append("  ! after a take number: it departs (see the list at the top)")
    lines += ["", "Winners per axis (takes):"]
    for winner in report.winners:
        who = ", ".join(report.take_label(t) for t in winner.take_ids) or "no scores yet"
        detail = " (pinned)" if winner.pinned else (f" ({winner.score})" if winner.score is not None else "")
        lines.append(f"  {winner.axis}: {who}{detail}")
    lines += ["", "Spend (every job that reached a vendor):"]
    lines += [f"  {e.node}: {money(e.spend_usd)} for {len(e.takes)} take(s)"
              + (f", {len(e.problems)} job(s) without a take" if e.problems else "")
              + (f", {e.removed_takes} removed" if e.removed_takes else "") for e in report.entrants]
    lines.append(f"  spend on the entrants' takes: {money(report.entrants_spend_usd)}")
    if report.image_spend_usd is not None:
        lines.append(f"  spend on the controlled image's takes ('{c.image_node}'): {money(report.image_spend_usd)}")
        lines.append(f"  total, entrants and image: {money(report.total_spend_usd)}")
    problems = [(e.node, p) for e in report.entrants for p in e.problems]
    if problems:
        lines += ["", "Jobs without a take:"]
        lines += [f"  {node} take {p.number}: {p.state}" + (f": {p.message}" if p.message else "")
                  for node, p in problems]
    return "\n".join(lines) + "\n"


def _summary(report: BakeOffReport) -> list[str]:
    lines = ["By entrant: mean per axis over its scored takes; overall = the mean of its axis means; * leads the axis"]
    header = ["rank", "entrant", *(f"A{i + 1}" for i in range(len(report.axes))), "overall", "takes", "spend",
              "per take", LIST_PRICE_LABEL]
    rows = [header]
    for s in report.entrant_summary:
        cells = [f"{s.rank}{'=' if s.rank_tied else ''}" if s.rank is not None else "-", s.node]
        for axis in report.axes:
            mean = s.axis_means.get(axis)
            cells.append("-" if mean is None else f"{mean:.2f}" + ("*" if axis in s.leads else ""))
        cells += [f"{s.overall_mean:.2f}" if s.overall_mean is not None else "-",
                  f"{s.scored_takes}/{s.takes}" + (" (sample)" if s.sample else ""), money(s.spend_usd),
                  money(s.cost_per_take_usd) if s.cost_per_take_usd is not None else "-", _list_price(s)]
        rows.append(cells)
    lines += _table(rows)
    lines.append("  (takes: scored / in the tray; the list price is what the preview takes would have cost on the "
                 "paid route, never part of the spend)")
    lines += ["", "Best entrant per axis (highest mean, ties listed):"]
    for leader in report.entrant_axis_winners:
        who = ", ".join(report.entrant_label(n) for n in leader.nodes) or "no scores yet"
        lines.append(f"  {leader.axis}: {who}" + (f" ({leader.mean:.2f})" if leader.mean is not None else ""))
    return lines


def _list_price(summary: EntrantSummary) -> str:
    if not summary.preview_takes:
        return "-"
    if summary.list_price_usd is None or summary.list_price_per_take_usd is None:
        return "no list price"
    return (f"{money(summary.list_price_usd)} ({money(summary.list_price_per_take_usd)}/take on "
            f"{summary.list_price_route})")

"""The bake-off report page's one style sheet, inlined into report.html (the page loads nothing)."""

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
.spend-fact table { width: auto; margin-top: 2px; }
.spend-fact th, .spend-fact td { border: 0; padding: 1px 0; font-size: 14px; vertical-align: baseline; }
.spend-fact th { text-transform: none; letter-spacing: 0; color: var(--ink); font-weight: 500; padding-right: 18px; }
.spend-fact td { text-align: right; font-weight: 650; font-size: 17px; }
.spend-fact tr.sum th, .spend-fact tr.sum td { border-top: 1px solid var(--ink); font-weight: 700; padding-top: 3px; }
.spend-fact tr.note td { font-size: 12px; color: var(--muted); font-weight: 400; text-align: left; }
.generated { color: var(--muted); font-size: 13px; margin: 14px 0 0; }
.banner { margin-top: 24px; padding: 14px 18px; border-radius: 10px; background: var(--sample-bg);
  border: 2px solid var(--sample); color: #2c1f66; font-weight: 600; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: 0.06em; text-transform: uppercase;
  padding: 2px 8px; border-radius: 999px; vertical-align: middle; margin-left: 6px; }
.badge.sample { background: var(--sample-bg); color: var(--sample); border: 1px solid var(--sample); }
.badge.pinned { background: var(--ink); color: #fff; }
.badge.win { background: var(--win); color: #6b5000; border: 1px solid var(--win-line); }
.badge.flag { background: var(--flag); color: var(--flag-line); border: 1px solid var(--flag-line); }
.banner.warn { background: var(--flag); border-color: var(--flag-line); color: #6e2f07; }
.facts .flagged { border-color: var(--flag-line); background: var(--flag); }
.facts .flagged dd { color: var(--flag-line); }
.departures { margin-top: 24px; }
.departures li { margin: 2px 0; }
.departs { color: var(--flag-line); font-size: 12px; font-weight: 650; white-space: nowrap; }
.orphans { font-size: 12px; white-space: nowrap; }
h3.sub { font-size: 15px; margin: 18px 0 8px; color: var(--ink); }
.summary td.rank { font-weight: 700; font-size: 18px; text-align: center; }
.summary td.overall, .summary td.scored, .summary th.overall, .summary th.scored { text-align: center; }
.summary td.overall { font-weight: 700; font-size: 16px; }
.scores.summary td.list-price { color: var(--muted); font-style: italic; white-space: normal; min-width: 130px;
  max-width: 190px; }
.summary td.list-price small, .summary td.cost small { display: block; font-size: 11px; font-style: normal; }
.summary th.list-price { text-transform: none; letter-spacing: 0; max-width: 190px; text-align: right; }
.spend tr.image td { color: var(--muted); }
.spend tr.grand td { border-top: 1px solid var(--ink); }
.take-flags { margin: 0; padding-left: 18px; color: var(--flag-line); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 20px; overflow-x: auto; }
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
.scores td.win, .scores td.lead { box-shadow: inset 0 0 0 2px var(--win-line); }
.scores td.win::before, .scores td.lead::before { content: "\\2605 "; color: var(--win-line); }
.summary td.axis-mean { text-align: center; font-weight: 600; font-size: 16px; }
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

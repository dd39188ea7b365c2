"""The bake-off report: a real bake-off run through a Session (offline preview, and a scripted paid vendor), then the
report's contact sheets, scores, costs, winners and total checked against the ledger, in the HTML and its JSON twin.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from blender_canvas.engine.bakeoff import Entrant, build_bakeoff
from blender_canvas.engine.contact_sheet import contact_sheet, grab_frames, sheet_times, still_sheet
from blender_canvas.engine.cost import Budget, estimate_usd
from blender_canvas.engine.document import Canvas, Prompt
from blender_canvas.engine.ledger import LANDED, Ledger
from blender_canvas.engine.report import BakeOffReport, ReportError, bakeoff_report, write_report
from blender_canvas.engine.session import LEDGER_NAME, Session
from blender_canvas.providers.backend import Artifact, JobRequest, JobState, JobStatus, RemoteJob
from blender_canvas.providers.catalog import Catalog

ENTRANTS = [Entrant(model="kling-3", variant="3.0"), Entrant(model="veo-3.1"), Entrant(model="seedance-2"),
            Entrant(model="runway-gen-4.5")]
PAID_ENTRANTS = [Entrant(model="kling-3", variant="3.0"), Entrant(model="seedance-2"),
                 Entrant(model="veo-3.1", variant="fast")]
BRIEF = "Which model keeps the barista's face and hands steady through a slow push-in?"


# --- helpers ---------------------------------------------------------------------------------------------------
def make_clip(path: Path, frames: int, fps: int = 24, size: tuple[int, int] = (64, 36), step: int = 3) -> Path:
    """An H.264 clip with B-frames and a keyframe every 12 frames; frame i is a flat grey of 10 + step * i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"qp": "0", "bf": "2"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 12
        for index in range(frames):
            grey = np.full((size[1], size[0], 3), 10 + step * index, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_index(image: Image.Image, step: int = 3) -> int:
    return round((float(np.asarray(image.convert("L")).mean()) - 10) / step)


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def select(self, tag: str | None = None, cls: str | None = None, attr: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.found if (tag is None or t == tag) and (cls is None or cls in a.get("class", "")
                .split()) and (attr is None or attr in a)]


@dataclass
class Project:
    base_dir: Path
    canvas: Canvas
    ledger: Ledger

    @property
    def entrants(self) -> list[str]:
        assert self.canvas.bakeoff is not None
        return list(self.canvas.bakeoff.entrants)

    @property
    def axes(self) -> list[str]:
        assert self.canvas.bakeoff is not None
        return list(self.canvas.bakeoff.axes)

    def takes(self, node: str | None = None) -> list:
        nodes = [node] if node else self.entrants
        return [t for n in nodes for t in self.ledger.takes(n)]

    def report(self, catalog: Catalog) -> BakeOffReport:
        return bakeoff_report(self.canvas, catalog, self.ledger, self.base_dir)

    def write(self, catalog: Catalog, out: Path) -> tuple[BakeOffReport, str, dict, str]:
        report = self.report(catalog)
        files = write_report(report, out)
        return (report, files.html.read_text(encoding="utf-8"), json.loads(files.json_path.read_text("utf-8")),
                files.text_path.read_text("utf-8"))


def bakeoff_canvas(catalog: Catalog, *, image: dict, entrants: list[Entrant], title: str = "Barista bake-off",
                   brief: str = BRIEF, subject: str = "the barista", axes: list[str] | None = None,
                   extra: list[dict] | None = None) -> Canvas:
    canvas = Canvas.model_validate({"version": 1, "title": title, "nodes": [
        image,
        {"id": "shot", "kind": "shot", "subject": subject, "action": "lifts the cup and smiles",
         "camera": "slow push in", "lighting": "morning sun"},
        *(extra or [])]})
    return build_bakeoff(canvas, catalog, image=image["id"], shot="shot", entrants=entrants, takes=2, duration_s=5,
                         brief=brief, axes=axes).canvas


def render(session: Session, canvas: Canvas, base_dir: Path, *, draft: bool) -> None:
    plan = session.plan(canvas, base_dir, draft=draft)
    session.check(plan, online=not draft, budget=Budget())
    session.start(plan, canvas, base_dir)
    assert session.runner.wait(timeout=180)
    session.runner.drain()


class PaidBackend:
    """Stands in for fal: every job lands on its first poll (a 1 s H.264 clip, or a PNG still) unless listed to be
    moderated. The planner prices its jobs from the catalog, so the ledger holds real non-zero estimates."""

    poll_interval_s = 0.001

    def __init__(self, moderate: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.id = "fal"
        self.moderate = moderate
        self.requests: dict[str, JobRequest] = {}
        self._lock = threading.Lock()

    def submit(self, request: JobRequest) -> RemoteJob:
        with self._lock:
            self.requests[f"r-{request.job_id}"] = request
        return RemoteJob(backend=self.id, remote_id=f"r-{request.job_id}")

    def poll(self, job: RemoteJob) -> JobStatus:
        request = self.requests[job.remote_id]
        if (request.node_id, request.take_index) in self.moderate:
            return JobStatus(state=JobState.MODERATED, message="the vendor's filter flagged the output")
        suffix = ".mp4" if request.media == "video" else ".png"
        return JobStatus(state=JobState.SUCCEEDED,
                         artifacts=[Artifact(media=request.media, url=f"mem://{job.remote_id}{suffix}")])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        if artifact.media == "video":
            return make_clip(dest, frames=24)
        Image.new("RGB", (64, 36), (200, 120, 40)).save(dest, format="PNG")
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        return True


@pytest.fixture(scope="module")
def draft_template(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> tuple[Path, Canvas]:
    """One bake-off of four models, two takes each, rendered once on the offline preview backend."""
    root = tmp_path_factory.mktemp("draft")
    canvas = bakeoff_canvas(catalog, entrants=ENTRANTS, image={
        "id": "ref", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a barista in a cafe"}})
    session = Session(root / "project")
    try:
        render(session, canvas, root, draft=True)
        assert len([t for n in canvas.bakeoff.entrants for t in session.ledger.takes(n)]) == 8
    finally:
        session.close()
    return root, canvas


@pytest.fixture
def draft(draft_template: tuple[Path, Canvas], tmp_path: Path) -> Iterator[Project]:
    """A private copy of the rendered project, so each test scores and pins its own ledger."""
    root, canvas = draft_template
    shutil.copytree(root, tmp_path / "draft")
    ledger = Ledger(tmp_path / "draft" / "project" / LEDGER_NAME)
    yield Project(tmp_path / "draft", canvas, ledger)
    ledger.close()


def paid_project(root: Path, catalog: Catalog, *, moderate: frozenset[tuple[str, int]] = frozenset(),
                 **text: str) -> tuple[Project, Session]:
    """Three paid entrants on a scripted fal, from a reference still, plus a paid node outside the bake-off."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stills").mkdir(exist_ok=True)
    Image.new("RGB", (320, 180), (30, 90, 160)).save(root / "stills" / "barista.png")
    axes = [text.pop("axis"), "hand articulation"] if "axis" in text else None
    canvas = bakeoff_canvas(catalog, entrants=PAID_ENTRANTS, axes=axes,
                            image={"id": "still", "kind": "reference", "path": "stills/barista.png"},
                            extra=[{"id": "poster", "kind": "image", "model": "nano-banana-2",
                                    "prompt": {"subject": "a poster"}}], **text)
    session = Session(root / "project", keys={"FAL_KEY": "fal-test-key"})
    session._backends["fal"] = PaidBackend(moderate)
    render(session, canvas, root, draft=False)
    return Project(root, canvas, session.ledger), session


@pytest.fixture
def paid(tmp_path: Path, catalog: Catalog) -> Iterator[Project]:
    project, session = paid_project(tmp_path / "paid", catalog, moderate=frozenset({("kling-3-3.0", 1)}))
    yield project
    session.close()


def score_cells(page: Elements) -> dict[tuple[str, str], str]:
    cells = page.select("td", cls="score")
    pairs = {(c["data-take"], c["data-axis"]): c["data-score"] for c in cells}
    assert len(pairs) == len(cells), "a take / axis pair has two score cells"
    return pairs


def cost_cells(page: Elements) -> dict[str, set[float]]:
    costs: dict[str, set[float]] = {}
    for element in page.select(attr="data-cost-usd"):
        costs.setdefault(element["data-take"], set()).add(float(element["data-cost-usd"]))
    return costs


def expected_cost(take: object) -> float:
    actual = getattr(take, "actual_usd")  # noqa: B009
    return actual if actual is not None else getattr(take, "estimated_usd")  # noqa: B009


# --- contact sheets -------------------------------------------------------------------------------------------
def test_frames_are_taken_at_the_fixed_times_from_h264_with_b_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=72)  # 3 s at 24 fps
    frames = grab_frames(clip, sheet_times(4))  # 0, 1, 2, 3 s; 3 s is past the clip's last frame (2.958 s)
    assert [frame_index(image) for _, image, _ in frames] == [0, 24, 48, 71, 71]
    assert [last for _, _, last in frames] == [False, False, False, False, True]
    assert frames[-1][0] == pytest.approx(71 / 24, abs=1e-3)
    short = grab_frames(make_clip(tmp_path / "short.mp4", frames=3, fps=12), sheet_times(5))
    assert [frame_index(image) for _, image, _ in short] == [0, 2, 2, 2, 2]


def test_a_sheet_is_one_labelled_jpeg_strip_a_still_or_a_placeholder(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=48)
    sheet = contact_sheet(clip, "video", sheet_times(2))
    with Image.open(io.BytesIO(sheet.image)) as image:
        assert image.format == "JPEG" and image.size == (sheet.width, sheet.height)
    assert sheet.error is None and len(sheet.frame_times_s) == 5 and sheet.labels[-1].startswith("last")
    assert sheet.width == 8 * 2 + 5 * 240 + 4 * 4
    Image.new("RGB", (1920, 1080), "white").save(tmp_path / "still.png")
    still = contact_sheet(tmp_path / "still.png", "image", sheet_times(2))
    assert still.error is None and max(still.width, still.height) == 480 and still.frame_times_s == []
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 50)
    for path, media, reason in ((tmp_path / "gone.mp4", "video", "missing"), (tmp_path / "bad.mp4", "video",
                                "cannot decode"), (tmp_path / "gone.png", "image", "missing"),
                                (clip, "audio", "no pictures")):
        placeholder = contact_sheet(path, media, sheet_times(2))
        assert placeholder.error and reason in placeholder.error
        assert Image.open(io.BytesIO(placeholder.image)).format == "JPEG"
    assert still_sheet(tmp_path / "bad.mp4").error


# --- the preview bake-off -------------------------------------------------------------------------------------
def test_one_contact_sheet_per_take_at_the_bakeoffs_fixed_times(draft: Project, catalog: Catalog,
                                                                 tmp_path: Path) -> None:
    removed = draft.takes(draft.entrants[3])[0]
    draft.ledger.mark_removed(removed.take_id, removed.file)
    report, html, data, _ = draft.write(catalog, tmp_path / "out")
    takes = draft.takes()
    assert removed.take_id not in {t.take_id for t in takes} and len(takes) == 7
    page = Elements(html)
    figures = page.select("figure", cls="contact-sheet")
    assert sorted(f["data-take"] for f in figures) == sorted(t.take_id for t in takes)
    assert not any("data-error" in f for f in figures)
    assert report.contact_sheet_times_s == [0.0, 1.25, 2.5, 3.75] == data["contact_sheet_times_s"]
    for entry in report.takes:
        sheet = entry.contact_sheet
        assert len(sheet.frame_times_s) == 5 and sheet.labels[-1].startswith("last")
        assert sheet.frame_times_s[:4] == pytest.approx([min(t, sheet.frame_times_s[-1]) for t in
                                                         report.contact_sheet_times_s], abs=0.05)
        assert sheet.frame_times_s[-1] == pytest.approx(entry.duration_s - 1 / 24, abs=0.05)
    veo = next(e for e in report.entrants if e.model == "veo-3.1")
    assert veo.duration_s == 4 and any("cannot run 5 s" in f for f in report.controlled.flags)
    assert next(e for e in report.entrants if e.node == draft.entrants[3]).removed_takes == 1
    images = page.select("img")
    assert len(images) == 8 and all(i["src"].startswith("data:image/jpeg;base64,") for i in images)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "<script" not in html.lower()
    assert "base64" not in json.dumps(data)


def test_scores_costs_and_total_equal_the_ledger_and_the_json_twin(draft: Project, catalog: Catalog,
                                                                   tmp_path: Path) -> None:
    axes = draft.axes
    for index, take in enumerate(draft.takes()[:5]):
        scores = {axis: (index + a) % 5 + 1 for a, axis in enumerate(axes) if (index + a) % 4}
        if index == 0:
            scores["an axis the bake-off does not have"] = 5
        draft.ledger.set_verdict(take.take_id, scores, note=f"note {index}", sample=index % 2 == 1)
    report, html, data, text = draft.write(catalog, tmp_path / "out")
    page = Elements(html)
    cells = score_cells(page)
    assert set(cells) == {(t.take_id, axis) for t in draft.takes() for axis in axes}
    for (take_id, axis), shown in cells.items():
        verdict = draft.ledger.verdict(take_id)
        expected = verdict.scores.get(axis) if verdict else None
        assert shown == ("" if expected is None else str(expected)), (take_id, axis)
    assert "an axis the bake-off does not have" not in {c["data-axis"] for c in page.select(attr="data-axis")}
    costs = cost_cells(page)
    assert costs == {t.take_id: {expected_cost(t)} for t in draft.takes()}
    entrants = {float(e["data-entrants-usd"]) for e in page.select(attr="data-entrants-usd")}
    assert entrants == {draft.ledger.spent_usd(draft.entrants)} == {report.entrants_spend_usd}
    assert report.entrants_spend_usd == pytest.approx(sum(expected_cost(t) for t in draft.takes()))
    totals = {float(e["data-total-usd"]) for e in page.select(attr="data-total-usd")}
    assert totals == {draft.ledger.spent_usd([*draft.entrants, "ref"])} == {report.total_spend_usd}
    json_takes = {t["take_id"]: t for e in data["entrants"] for t in e["takes"]}
    assert set(json_takes) == {t.take_id for t in draft.takes()}
    for (take_id, axis), shown in cells.items():
        assert str(json_takes[take_id]["scores"].get(axis, "")) == shown
    for take_id, shown_costs in costs.items():
        assert {json_takes[take_id]["cost_usd"]} == shown_costs
        assert "image" not in json_takes[take_id]["contact_sheet"]
        assert len(json_takes[take_id]["contact_sheet"]["frame_times_s"]) == 5
    assert data["total_spend_usd"] == report.total_spend_usd
    assert data["entrants_spend_usd"] == report.entrants_spend_usd
    assert BakeOffReport.model_validate(data).takes_cost_usd == report.takes_cost_usd
    means = {e["data-take"]: e["data-mean"] for e in page.select("td", cls="mean")}
    for take in report.takes:
        assert means[take.take_id] == ("" if take.mean_score is None else repr(take.mean_score))
        assert json_takes[take.take_id]["mean_score"] == take.mean_score
    first = draft.takes()[0]
    assert report.take(first.take_id).mean_score == pytest.approx(
        sum(v for k, v in draft.ledger.verdict(first.take_id).scores.items() if k in axes)
        / sum(1 for k in draft.ledger.verdict(first.take_id).scores if k in axes), abs=0.01)
    assert "mean" in text and f"spend on the entrants' takes: ${report.entrants_spend_usd:,.2f}" in text


def test_sample_scores_are_labelled_with_a_banner_and_on_every_score(draft: Project, catalog: Catalog,
                                                                   tmp_path: Path) -> None:
    takes = draft.takes()
    draft.ledger.set_verdict(takes[0].take_id, {draft.axes[0]: 4}, note="a person's view")
    _, html, data, text = draft.write(catalog, tmp_path / "person")
    assert "sample-banner" not in html and not data["sample_scores"] and "SAMPLE SCORES" not in text
    draft.ledger.set_verdict(takes[1].take_id, {draft.axes[0]: 3, draft.axes[1]: 5}, sample=True)
    _, html, data, text = draft.write(catalog, tmp_path / "sample")
    page = Elements(html)
    assert len(page.select("div", cls="sample-banner")) == 1 and data["sample_scores"] and "SAMPLE SCORES" in text
    for cell in page.select("td", cls="score"):
        is_sample = cell["data-take"] == takes[1].take_id and cell["data-score"] != ""
        assert ("sample" in cell["class"].split()) == is_sample, cell
    markers = re.findall(r'data-take="([0-9a-f]+)" data-axis="[^"]*" data-score="\d">\d<span class="sample-mark"',
                         html)
    assert markers == [takes[1].take_id] * 2


def test_winners_per_axis_with_ties_and_a_pinned_override(draft: Project, catalog: Catalog, tmp_path: Path) -> None:
    a, b, c, d = draft.axes[:4]
    t = [take.take_id for take in draft.takes()]
    draft.ledger.set_verdict(t[0], {a: 5, b: 2, c: 3})
    draft.ledger.set_verdict(t[2], {a: 5, b: 4})  # ties t[0] on a
    draft.ledger.set_verdict(t[4], {a: 1, b: 5, c: 3})  # ties t[0] on c
    draft.ledger.pin("axis", b, t[2])  # a person overrides b's top score
    draft.ledger.pin("axis", "not an axis", t[4])
    draft.ledger.pin("node", draft.takes()[2].node_id, t[3])
    report, html, data, text = draft.write(catalog, tmp_path / "out")
    winners = {w.axis: (w.take_ids, w.pinned, w.score) for w in report.winners}
    assert winners[a] == ([t[0], t[2]], False, 5)
    assert winners[b] == ([t[2]], True, 4)
    assert winners[c] == ([t[0], t[4]], False, 3)
    assert winners[d] == ([], False, None)
    page = Elements(html)
    won = {(cell["data-take"], cell["data-axis"]) for cell in page.select("td", cls="win")}
    assert won == {(t[0], a), (t[2], a), (t[2], b), (t[0], c), (t[4], c)}
    assert {(cell["data-take"], cell["data-axis"]) for cell in page.select("td", cls="pinned")} == {(t[2], b)}
    footer = {e["data-axis"]: e["data-winners"].split() for e in page.select(attr="data-winners")}
    assert footer[a] == [t[0], t[2]] and footer[b] == [t[2]] and footer[d] == []
    assert [w["take_ids"] for w in data["winners"]] == [w.take_ids for w in report.winners]
    assert report.take(t[3]).pinned_best and not report.take(t[2]).pinned_best
    assert f"{b}: " in text and "(pinned)" in text


def test_a_missing_or_broken_take_file_gives_a_placeholder_not_a_crash(draft: Project, catalog: Catalog,
                                                                      tmp_path: Path) -> None:
    gone, broken = draft.takes()[0], draft.takes()[3]
    (draft.base_dir / "project" / gone.file).unlink()
    (draft.base_dir / "project" / broken.file).write_bytes(b"\x00" * 4096)
    _, html, data, _ = draft.write(catalog, tmp_path / "out")
    figures = {f["data-take"]: f for f in Elements(html).select("figure", cls="contact-sheet")}
    assert len(figures) == len(draft.takes())
    assert "missing" in figures[gone.take_id]["data-error"]
    assert "cannot decode" in figures[broken.take_id]["data-error"]
    assert sum("data-error" in f for f in figures.values()) == 2
    errors = {t["take_id"]: t["contact_sheet"]["error"] for e in data["entrants"] for t in e["takes"]}
    assert errors[gone.take_id] and errors[broken.take_id]


# --- a paid bake-off (scripted vendor) -----------------------------------------------------------------------
def test_costs_are_the_ledgers_actual_else_estimate_and_the_total_counts_every_billed_job(
        paid: Project, catalog: Catalog, tmp_path: Path) -> None:
    kling = paid.takes("kling-3-3.0")
    assert len(kling) == 1  # take 2 was moderated
    seedance = paid.takes("seedance-2-pro")
    with sqlite3.connect(paid.ledger.path) as db:  # the vendor reported what it really charged for one take
        db.execute("UPDATE takes SET actual_usd = 0.55 WHERE take_id = ?", (seedance[0].take_id,))
        db.execute("UPDATE takes SET actual_usd = NULL WHERE take_id = ?", (seedance[1].take_id,))
    paid.ledger.set_state(seedance[0].take_id, LANDED, actual_usd=0.55)
    job = paid.ledger.job(seedance[0].take_id)
    assert job is not None
    for job_id, state, remote_id in (("f1", "failed", None), ("f2", "failed", "r-f2"), ("w1", "waiting", None)):
        paid.ledger.add_job(job.model_copy(update={"job_id": job_id, "take_index": 5, "state": state,
                                                   "remote_id": remote_id, "actual_usd": None,
                                                   "error_message": f"{job_id}: the vendor said no"}))
    report, html, data, text = paid.write(catalog, tmp_path / "out")
    takes = paid.takes()
    assert all(t.estimated_usd > 0 for t in takes)
    page = Elements(html)
    assert cost_cells(page) == {t.take_id: {expected_cost(t)} for t in takes}
    assert report.take(seedance[0].take_id).cost_usd == 0.55
    assert report.take(seedance[1].take_id).cost_usd == seedance[1].estimated_usd
    total = paid.ledger.spent_usd(paid.entrants)
    assert {float(e["data-total-usd"]) for e in page.select(attr="data-total-usd")} == {total}
    assert {float(e["data-entrants-usd"]) for e in page.select(attr="data-entrants-usd")} == {total}
    assert data["total_spend_usd"] == total == report.total_spend_usd == report.entrants_spend_usd
    assert report.image_spend_usd is None and not page.select(attr="data-image-usd")  # a reference still: no spend
    assert "Spend on the entrants' takes" in html and "is a reference file: no spend" in html
    assert paid.ledger.spent_usd() > total  # the poster outside the bake-off is not its spend
    kling_entrant = next(e for e in report.entrants if e.node == "kling-3-3.0")
    assert kling_entrant.moderated_count == 1 and kling_entrant.problems[0].number == 2
    assert kling_entrant.failed_count == 0
    seedance_entrant = next(e for e in report.entrants if e.node == "seedance-2-pro")
    assert seedance_entrant.failed_count == 2 and seedance_entrant.moderated_count == 0
    assert {p.job_id: p.counted_usd > 0 for p in seedance_entrant.problems} == {"f1": False, "f2": True, "w1": False}
    assert next(p for p in seedance_entrant.problems if p.job_id == "w1").state == "pending (waiting)"
    billed = sum(p.counted_usd for e in report.entrants for p in e.problems)
    assert billed > 0 and total == pytest.approx(report.takes_cost_usd + billed)
    for entrant in report.entrants:
        assert entrant.spend_usd == paid.ledger.spent_usd([entrant.node])
    spends = [float(e["data-spend-usd"]) for e in page.select("td", attr="data-spend-usd")]
    assert spends == [paid.ledger.spent_usd([node]) for node in paid.entrants]
    assert "vendor&#x27;s filter flagged the output" in html and "moderated" in text
    assert report.controlled.image_file == "stills/barista.png" and report.controlled.image.error is None
    seeds = {(t.node, t.number): t.seed for t in report.takes}
    assert seeds[("seedance-2-pro", 1)] == 42  # the controlled seed on take 1, plus one per take after it
    assert not [d for d in report.departures if d.kind in ("seed", "prompt")]
    for take in report.takes:
        assert take.prompt == paid.ledger.take(take.take_id).prompt
        assert take.backend == "fal" and take.remote_id == f"r-{take.take_id}"
        assert take.timings.queued_at and take.timings.submitted_at and take.timings.finished_at
        assert take.contact_sheet.error is None and take.contact_sheet.frame_times_s[-1] < 1.0  # clamped to 1 s


def test_user_text_is_escaped(tmp_path: Path, catalog: Catalog) -> None:
    evil = '<script>alert("x")</script>'
    project, session = paid_project(tmp_path / "evil", catalog, title=f"Title {evil}", brief=f"Brief {evil}",
                                    subject=f"the barista {evil}", axis=f'faces <b>"&{evil}')
    try:
        take = project.takes()[0]
        project.ledger.set_verdict(take.take_id, {project.axes[0]: 4}, note='<img src=x onerror="alert(1)">')
        _, html, data, text = project.write(catalog, tmp_path / "out")
    finally:
        session.close()
    assert "<script" not in html.lower() and "<img src=x" not in html and "<b>" not in html
    assert html.count("&lt;script&gt;") >= 4  # title, brief, the prompt sent, the axis
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert data["title"] == f"Title {evil}" and evil in text
    cells = [c for c in Elements(html).select("td", cls="score") if c["data-score"]]
    assert [c["data-axis"] for c in cells] == [project.axes[0]]


def test_write_report_writes_three_files_whole_and_refuses_a_canvas_without_a_bakeoff(
        paid: Project, catalog: Catalog, tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = write_report(paid.report(catalog), out)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.txt"]
    assert files.html.read_text("utf-8").startswith("<!DOCTYPE html>")
    again = write_report(paid.report(catalog), out)  # replaced in place, no temporary left behind
    assert again == files and sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.txt"]
    assert "Content-Security-Policy" in files.html.read_text("utf-8")
    with pytest.raises(ReportError, match="no bake-off"):
        bakeoff_report(paid.canvas.model_copy(update={"bakeoff": None}), catalog, paid.ledger, paid.base_dir)


# --- departures, orphan scores, the entrant summary and the spend split ---------------------------------------
def set_seeds(ledger: Ledger, seeds: dict[str, int | None]) -> None:
    with sqlite3.connect(ledger.path) as db:
        for take_id, seed in seeds.items():
            db.execute("UPDATE takes SET seed = ? WHERE take_id = ?", (seed, take_id))


def with_node(canvas: Canvas, node_id: str, **update: object) -> Canvas:
    return canvas.model_copy(update={"nodes": [n.model_copy(update=update) if n.id == node_id else n
                                               for n in canvas.nodes]})


def test_takes_not_made_from_what_the_entrant_sends_now_are_flagged_and_listed_at_the_top(
        draft: Project, catalog: Catalog, tmp_path: Path) -> None:
    # every take's seed as the planner asks it now: seed + (take - 1) where the model takes one, else none
    seeded = {n: catalog.model(draft.canvas.node(n).model).variant(draft.canvas.node(n).variant).seed
              for n in draft.entrants}
    assert any(seeded.values()) and not all(seeded.values())
    expected = {t.take_id: 42 + draft.ledger.take_number(t.take_id) - 1 if seeded[t.node_id] else None
                for t in draft.takes()}
    set_seeds(draft.ledger, expected)
    report, html, data, text = draft.write(catalog, tmp_path / "clean")
    assert not [d for d in report.departures if d.kind in ("prompt", "seed", "takes")]
    assert not any(t.flags for t in report.takes) and not Elements(html).select("span", cls="departs")

    # the action changed after the takes were made; one entrant sets its own camera; two seeds are off
    kling, veo = draft.entrants[0], draft.entrants[1]
    assert not seeded[kling] and seeded[veo]
    canvas = with_node(draft.canvas, "shot", action="pours the milk")
    canvas = with_node(canvas, draft.entrants[2], prompt=Prompt(camera="locked-off wide"))
    veo_takes = sorted(draft.takes(veo), key=lambda t: draft.ledger.take_number(t.take_id))  # takes 1 and 2
    set_seeds(draft.ledger, {veo_takes[1].take_id: 42, draft.takes(kling)[0].take_id: 9})
    removed = draft.takes(draft.entrants[3])[1]
    draft.ledger.mark_removed(removed.take_id, removed.file)
    report = bakeoff_report(canvas, catalog, draft.ledger, draft.base_dir)
    files = write_report(report, tmp_path / "changed")
    html, data, text = (files.html.read_text("utf-8"), json.loads(files.json_path.read_text("utf-8")),
                        files.text_path.read_text("utf-8"))
    lines = {(d.node, d.kind): d for d in report.departures}
    for node in (kling, veo, draft.entrants[3]):
        line = lines[(node, "prompt")]
        assert line.message == "made from an earlier shot prompt (the action changed)"
        assert line.takes == [t.number for t in report.takes if t.node == node]  # one line for all its takes
    assert lines[(draft.entrants[2], "prompt")].message == ("made from an earlier prompt (the shot's action "
                                                            "changed; its own camera changed)")
    assert "ran seed 42; take 2 would run seed 43 now" in report.take(veo_takes[1].take_id).flags[-1]
    assert report.take(veo_takes[0].take_id).flags == [f"{veo} take 1: made from an earlier shot prompt (the "
                                                       "action changed)"]
    assert any("ran seed 9; the entrant runs without a seed now" in f
               for f in report.take(draft.takes(kling)[0].take_id).flags)
    assert lines[(draft.entrants[3], "takes")].message == ("has 1 take in its tray; the bake-off compares 2 per "
                                                           "entrant")
    # shown at the top, counted, on the take and in both twins
    page = Elements(html)
    items = page.select("li", attr="data-kind")
    assert len(items) == len(report.departures) and {i["data-kind"] for i in items} >= {"prompt", "seed", "takes"}
    assert html.index('id="departures"') < html.index('id="controlled"')
    assert f"{len(report.departures)} departures from the controlled inputs, in 7 takes" in html
    assert html.count('class="badge flag"') == sum(1 for t in report.takes if t.flags) == 7
    assert [d["message"] for d in data["departures"]] == [d.message for d in report.departures]
    assert data["controlled"]["flags"] == [d.text for d in report.departures]
    assert f"{kling} takes 1 and 2: made from an earlier shot prompt (the action changed)" in text


def test_scores_on_axes_no_longer_in_the_bakeoff_are_counted_and_kept(draft: Project, catalog: Catalog,
                                                                     tmp_path: Path) -> None:
    a, b = draft.axes[:2]
    takes = draft.takes()
    draft.ledger.set_verdict(takes[0].take_id, {a: 4, b: 2, "hands": 5})
    draft.ledger.set_verdict(takes[1].take_id, {a: 3, "hands": 1, "motion": 2})
    draft.ledger.set_verdict(takes[2].take_id, {b: 5})
    assert draft.canvas.bakeoff is not None  # the user renames axis a after scoring
    renamed = draft.canvas.bakeoff.model_copy(update={"axes": ["face realism", *draft.axes[1:]]})
    canvas = draft.canvas.model_copy(update={"bakeoff": renamed})
    report = bakeoff_report(canvas, catalog, draft.ledger, draft.base_dir)
    files = write_report(report, tmp_path / "out")
    html, data, text = (files.html.read_text("utf-8"), json.loads(files.json_path.read_text("utf-8")),
                        files.text_path.read_text("utf-8"))
    assert report.orphan_counts == {a: 2, "hands": 2, "motion": 1}
    assert report.take(takes[0].take_id).orphan_scores == {a: 4, "hands": 5}
    assert report.take(takes[0].take_id).scores == {b: 2} and report.take(takes[0].take_id).mean_score == 2.0
    assert len(data["orphan_scores"]) == 5
    assert {(o["take_id"], o["axis"], o["score"]) for o in data["orphan_scores"]} == {
        (takes[0].take_id, a, 4), (takes[0].take_id, "hands", 5), (takes[1].take_id, a, 3),
        (takes[1].take_id, "hands", 1), (takes[1].take_id, "motion", 2)}
    assert list(report.orphan_counts) == [*sorted([a, "hands"]), "motion"]  # the most scored first, then by name
    listed = ", ".join(f"'{axis}' ({count})" for axis, count in report.orphan_counts.items())
    warning = f"5 scores on axes no longer in this bake-off: {listed}."
    assert warning in text
    page = Elements(html)
    assert len(page.select("div", cls="orphan-banner")) == 1 and warning.replace("'", "&#x27;") in html
    assert {e["data-orphans"] for e in page.select(attr="data-orphans")} == {"2", "3"}
    assert html.index("orphan-banner") < html.index('id="scores"')
    assert "face realism" not in {w.axis for w in report.winners if w.take_ids}  # nobody scored the new name


def test_entrant_summary_means_ranks_leaders_spend_and_list_price(draft: Project, catalog: Catalog,
                                                                  tmp_path: Path) -> None:
    a, b, c = draft.axes[:3]
    e = draft.entrants
    scores = {  # entrant -> its two takes' verdicts
        e[0]: ({a: 5, b: 2}, {a: 3, b: 4}),  # a 4.0, b 3.0 -> overall 3.5
        e[1]: ({a: 4, b: 3, c: 2}, {a: 4, b: 3, c: 4}),  # a 4, b 3, c 3 -> 3.333
        e[2]: ({a: 2, b: 5}, {}),  # a 2, b 5 -> 3.5 (ties e[0])
    }
    for node, verdicts in scores.items():
        for take, verdict in zip(draft.takes(node), verdicts, strict=True):
            if verdict:
                draft.ledger.set_verdict(take.take_id, verdict, sample=node == e[2])
    report, html, data, text = draft.write(catalog, tmp_path / "out")
    summary = {s.node: s for s in report.entrant_summary}
    assert summary[e[0]].axis_means == {a: 4.0, b: 3.0} and summary[e[0]].overall_mean == 3.5
    assert summary[e[1]].axis_means == {a: 4.0, b: 3.0, c: 3.0} and summary[e[1]].overall_mean == pytest.approx(10 / 3)
    assert summary[e[2]].axis_means == {a: 2.0, b: 5.0} and summary[e[2]].axis_counts == {a: 1, b: 1}
    assert [(summary[n].rank, summary[n].rank_tied) for n in e] == [(1, True), (3, False), (1, True), (None, False)]
    assert summary[e[2]].scored_takes == 1 and summary[e[2]].sample and not summary[e[0]].sample
    leaders = {x.axis: (x.nodes, x.mean) for x in report.entrant_axis_winners}
    assert leaders[a] == ([e[0], e[1]], 4.0) and leaders[b] == ([e[2]], 5.0) and leaders[c] == ([e[1]], 3.0)
    assert summary[e[0]].leads == [a] and summary[e[1]].leads == [a, c]
    for node in e:  # spend is the ledger's; the list price stands apart from it
        s = summary[node]
        assert s.spend_usd == draft.ledger.spent_usd([node]) == 0.0
        assert s.cost_per_take_usd == s.spend_usd / len(draft.takes(node))
        node_obj = draft.canvas.node(node)
        variant = catalog.model(node_obj.model).variant(node_obj.variant)
        route = next(r for r in variant.live_routes if r.price is not None)
        expected = 0.0
        for take in draft.takes(node):
            params = json.loads(draft.ledger.job(take.take_id).request_json)["params"]
            expected += estimate_usd(route.price, seconds=params["duration_s"], resolution=params["resolution"],
                                     audio=bool(params.get("audio")))
        assert s.preview_takes == 2 and s.list_price_usd == pytest.approx(expected) and expected > 0
        assert s.list_price_route == catalog.backend(route.backend).label
    assert report.entrants_spend_usd == 0.0  # never mixed into the spend
    page = Elements(html)
    cells = {(x["data-node"], x["data-axis"]): x["data-mean"] for x in page.select("td", cls="axis-mean")}
    assert cells[(e[0], a)] == "4.0" and cells[(e[1], c)] == "3.0" and cells[(e[3], a)] == ""
    assert {x["data-node"] for x in page.select("td", cls="lead") if x["data-axis"] == a} == {e[0], e[1]}
    ranked = [e[0], e[2], e[1], e[3]]  # the table reads in rank order: ties and the unscored in entrant order
    assert [x["data-rank"] for x in page.select("td", cls="rank")] == ["1", "1", "3", ""]
    prices = [float(x["data-list-price-usd"]) for x in page.select(attr="data-list-price-usd")]
    assert prices == [summary[n].list_price_usd for n in ranked]
    assert html.index('class="scores summary"') < html.index('class="scores"><thead>')  # above the per-take table
    assert "list price if rendered for real (est.)" in html and "list price if rendered for real (est.)" in text
    assert [x["node"] for x in data["entrant_summary"]] == ranked and data["entrant_summary"][0]["rank"] == 1
    assert [x["rank"] for x in data["entrant_summary"]] == [1, 1, 3, None]
    rows = [line.split()[:2] for line in text.splitlines() if line.split()[:2] in (["1=", n] for n in e)
            or line.split()[:2] in (["3", n] for n in e) or line.split()[:2] == ["-", e[3]]]
    assert [row[1] for row in rows] == ranked, rows
    assert f"1=    {e[0]}" in text and f"{b}: {report.entrant_label(e[2])} (5.00)" in text


def test_the_controlled_image_nodes_spend_is_shown_apart_and_added_to_the_total(
        draft: Project, catalog: Catalog, tmp_path: Path) -> None:
    image_take = draft.ledger.takes("ref")[0]
    job = draft.ledger.job(image_take.take_id)
    assert job is not None
    draft.ledger.add_job(job.model_copy(update={"job_id": "ref-paid", "remote_id": "r-ref", "state": LANDED,
                                                "estimated_usd": 0.039, "take_index": 1}))
    draft.ledger.add_job(job.model_copy(update={"job_id": "entrant-paid", "node_id": draft.entrants[1],
                                                "remote_id": "r-e", "state": "failed", "estimated_usd": 0.4,
                                                "take_index": 7}))
    report, html, data, text = draft.write(catalog, tmp_path / "out")
    assert report.image_spend_usd == draft.ledger.spent_usd(["ref"]) == 0.039
    assert report.entrants_spend_usd == draft.ledger.spent_usd(draft.entrants) == 0.4
    assert report.total_spend_usd == pytest.approx(0.439)
    page = Elements(html)
    assert {float(x["data-image-usd"]) for x in page.select(attr="data-image-usd")} == {0.039}
    assert {float(x["data-entrants-usd"]) for x in page.select(attr="data-entrants-usd")} == {0.4}
    assert {float(x["data-total-usd"]) for x in page.select(attr="data-total-usd")} == {report.total_spend_usd}
    assert "Spend on the entrants' takes" in html and "Total, entrants + image" in html
    assert (data["entrants_spend_usd"], data["image_spend_usd"]) == (0.4, 0.039)
    assert "spend on the entrants' takes: $0.40" in text
    assert "spend on the controlled image's takes ('ref'): $0.04" in text
    assert "total, entrants and image: $0.44" in text


def test_a_written_report_names_its_files_relative_to_its_own_folder(draft: Project, catalog: Catalog,
                                                                     tmp_path: Path) -> None:
    """report.json and the page name each take (and the controlled image) from where the report lies, so the
    report opens its files wherever it is written (in the project, in its report/ folder, elsewhere)."""
    project = draft.base_dir / "project"
    for out in (project, project / "report", tmp_path / "elsewhere"):
        report, html, data, _ = draft.write(catalog, out)
        files = [t["file"] for e in data["entrants"] for t in e["takes"]]
        assert files and all(not Path(f).is_absolute() and (out / f).is_file() for f in files), (out, files)
        image = data["controlled"]["image_file"]
        assert image and not Path(image).is_absolute() and (out / image).is_file(), image
        assert all(f in html for f in files)
        assert {t.file for t in report.takes} == {t.file for t in draft.ledger.takes()
                                                  if t.node_id in draft.entrants}  # the model is unchanged
    assert data["entrants"][0]["takes"][0]["file"].startswith("../draft/project/takes/")  # back into the project

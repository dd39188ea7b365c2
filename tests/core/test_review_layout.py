"""The review layout (bpy-free): canvas size, cells, fit scales, offsets, frame range, and the count errors."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from blender_canvas.engine.review_layout import (
    CHAR_WIDTH,
    MAX_HEIGHT,
    MAX_WIDTH,
    ReviewLayout,
    ReviewLayoutError,
    ReviewTake,
    check_take_count,
    grid_shape,
    plan_review,
)


def take(width: int = 640, height: int = 360, seconds: float = 4.0, label: str = "") -> ReviewTake:
    return ReviewTake(label=label, width=width, height=height, duration_s=seconds)


def assert_sound(plan: ReviewLayout) -> None:
    """Every picture inside its cell and the frame; no two cells (or pictures) overlap, except in a wipe."""
    assert plan.width % 2 == 0 and plan.height % 2 == 0
    assert plan.width <= MAX_WIDTH and plan.height <= MAX_HEIGHT
    for placed in plan.cells:
        cell, picture = placed.cell, placed.picture
        assert cell.x >= 0 and cell.right <= plan.width and cell.y >= 0 and cell.top <= plan.height
        assert cell.x - 1e-6 <= picture.x and picture.right <= cell.right + 1e-6
        assert cell.y - 1e-6 <= picture.y and picture.top <= cell.top + 1e-6
        assert 0 <= placed.label_x <= 1 and 0 <= placed.label_y <= 1
    if plan.layout != "wipe":
        for a, b in itertools.combinations(plan.cells, 2):
            assert not a.cell.overlaps(b.cell) and not a.picture.overlaps(b.picture)


def test_side_by_side_two_takes_of_one_size_sit_left_and_right_at_full_size() -> None:
    plan = plan_review([take(label="A"), take(label="B")], "side_by_side", fps=24)
    assert (plan.width, plan.height, plan.cols, plan.rows, plan.label_band) == (1280, 360 + 36, 2, 1, 36)
    left, right = plan.cells
    assert (left.cell.x, left.cell.y, left.cell.width, left.cell.height, right.cell.x) == (0, 36, 640, 360, 640)
    assert left.scale == right.scale == 1.0
    # offsets are from the frame centre (where fit_method ORIGINAL puts a picture) to the cell centre
    assert (left.offset_x, left.offset_y, right.offset_x, right.offset_y) == (-320, 18, 320, 18)
    assert 0 < left.label_y * plan.height < 36 and left.label_anchor == "CENTER"  # in the band, under the picture
    assert (plan.frame_start, plan.frame_end) == (1, 96)
    assert left.label_x == pytest.approx(0.25) and right.label_x == pytest.approx(0.75)
    assert_sound(plan)


def test_a_portrait_take_is_fitted_inside_a_landscape_cell_with_its_aspect_kept() -> None:
    plan = plan_review([take(), take(360, 640)], "side_by_side")
    tall = plan.cells[1]
    assert tall.scale == pytest.approx(360 / 640)
    assert (tall.picture.width, tall.picture.height) == pytest.approx((360 * 360 / 640, 360))
    assert tall.picture.width / tall.picture.height == pytest.approx(360 / 640)
    assert tall.picture.x + tall.picture.width / 2 == pytest.approx(960)  # centred in the right cell
    assert_sound(plan)


def test_cells_take_the_largest_takes_size_and_smaller_takes_scale_up_to_fill() -> None:
    plan = plan_review([take(1280, 720), take(640, 360), take(854, 480)], "side_by_side")
    assert (plan.width, plan.height) == (3 * 1280, 720 + 72)
    assert [round(c.scale, 4) for c in plan.cells] == [1.0, 2.0, round(min(1280 / 854, 720 / 480), 4)]
    assert_sound(plan)


def test_the_frame_is_shrunk_to_uhd_and_kept_even() -> None:
    plan = plan_review([take(1920, 1080)] * 4, "side_by_side")
    assert (plan.width, plan.height) == (3840, 540 + 54)  # 4 x 960x540, and the label band
    assert all(c.scale == 0.5 for c in plan.cells)
    odd = plan_review([take(1921, 1081)] * 3, "side_by_side")
    assert odd.width % 2 == 0 and odd.height % 2 == 0 and odd.width <= MAX_WIDTH
    big = plan_review([take(3840, 2160)] * 16, "grid")
    assert (big.cols, big.rows) == (4, 4) and big.width <= 3840 and 2100 < big.height <= 2160
    for plan in (odd, big):
        assert_sound(plan)


@pytest.mark.parametrize(("count", "shape"), [(2, (2, 1)), (3, (2, 2)), (4, (2, 2)), (5, (3, 2)), (9, (3, 3)),
                                              (10, (4, 3)), (16, (4, 4))])
def test_grid_has_ceil_sqrt_columns_filled_from_the_top_left(count: int, shape: tuple[int, int]) -> None:
    assert grid_shape("grid", count) == shape
    plan = plan_review([take(label=str(i)) for i in range(count)], "grid")
    cols, rows = shape
    assert (plan.width, plan.height) == (cols * 640, rows * (360 + 36))
    first, last = plan.cells[0], plan.cells[-1]
    assert (first.cell.x, first.cell.top) == (0, plan.height)  # top-left (Blender's y goes up)
    assert last.cell.y == plan.label_band  # the last take is on the bottom row, above its labels
    assert first.offset_x == pytest.approx(320 - plan.width / 2)
    assert first.offset_y == pytest.approx(plan.height / 2 - 180)
    assert_sound(plan)


def test_wipe_fills_the_frame_with_both_takes_and_runs_while_both_play() -> None:
    plan = plan_review([take(seconds=4, label="A"), take(360, 640, seconds=5, label="B")], "wipe", fps=24)
    assert (plan.width, plan.height, plan.cols, plan.rows) == (640, 396, 1, 1)
    a, b = plan.cells
    assert a.cell == b.cell and a.offset_x == b.offset_x == 0 and a.offset_y == b.offset_y == 18
    assert a.scale == 1.0 and b.scale == pytest.approx(360 / 640)
    assert (plan.frame_end, plan.wipe_frames) == (120, 96)
    assert a.label_x < 0.5 < b.label_x  # A's label on A's side of the wipe
    assert (a.label_anchor, b.label_anchor) == ("LEFT", "RIGHT")


def test_labels_shrink_to_fit_their_cell_or_their_half_of_a_wipe() -> None:
    long = "talk · kling-avatar std · take 1"
    plan = plan_review([take(label=long), take(label=long)], "wipe")
    assert plan.font_size * CHAR_WIDTH * len(long) <= plan.width / 2
    assert plan.font_size < plan_review([take(label="a"), take(label="b")], "wipe").font_size
    roomy = plan_review([take(label=long), take(label=long)], "side_by_side")
    assert roomy.font_size == int(roomy.label_band * 0.55)  # room enough: as big as the band allows
    assert_sound(plan)


def test_the_frame_range_follows_the_longest_take_at_the_review_rate() -> None:
    plan = plan_review([take(seconds=2), take(seconds=5.5), ReviewTake(width=640, height=360, frames=30)],
                       "grid", fps=30)
    assert [c.frames for c in plan.cells] == [60, 165, 30]
    assert (plan.frame_start, plan.frame_end) == (1, 165)


@pytest.mark.parametrize(("layout", "count", "message"), [
    ("wipe", 3, r"takes: a wipe compares exactly 2 takes, got 3"),
    ("wipe", 1, r"exactly 2 takes, got 1"),
    ("side_by_side", 5, r"takes: side_by_side shows 2 to 4 takes, got 5 \(use grid for up to 16\)"),
    ("side_by_side", 1, r"2 to 4 takes, got 1"),
    ("grid", 17, r"takes: grid shows 2 to 16 takes, got 17"),
    ("grid", 0, r"got 0"),
    ("mosaic", 2, r"layout: 'mosaic' is not a review layout; use one of side_by_side, grid, wipe"),
])
def test_a_wrong_take_count_or_layout_names_the_field_and_what_is_allowed(layout: str, count: int,
                                                                          message: str) -> None:
    with pytest.raises(ReviewLayoutError, match=message):
        check_take_count(layout, count)
    with pytest.raises(ValueError, match=message):
        plan_review([take()] * count, layout)


def test_bad_takes_are_refused_by_field() -> None:
    with pytest.raises(ValidationError, match="width"):
        ReviewTake(width=0, height=360, duration_s=1)
    with pytest.raises(ValidationError, match="duration_s or frames"):
        ReviewTake(width=640, height=360)
    with pytest.raises(ReviewLayoutError, match="fps"):
        plan_review([take(), take()], "grid", fps=0)

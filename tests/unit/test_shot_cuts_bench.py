"""The shot-cut bench's scoring: found cuts matched one to one with labelled ones
within a tolerance, ignored frames and gradual transitions neither true nor false."""

from __future__ import annotations

from bench.shot_cuts import Match, Truth, match


def test_a_cut_found_one_frame_late_is_true_at_one_frame_and_two_late_only_at_three() -> None:
    truth = Truth(cuts=[30, 100], ignore=[], gradual=[])
    assert match(truth, [31, 102], 1) == Match(
        true=1, false=1, missed=1, gradual=0, gradual_total=0
    )
    assert match(truth, [31, 102], 3) == Match(
        true=2, false=0, missed=0, gradual=0, gradual_total=0
    )


def test_two_cuts_found_near_one_label_count_one_true_and_one_false() -> None:
    """One to one: the nearer of the two takes the label; the other is false even
    though it is within the tolerance too."""
    truth = Truth(cuts=[50], ignore=[], gradual=[])
    assert match(truth, [49, 50], 1) == Match(true=1, false=1, missed=0, gradual=0, gradual_total=0)


def test_as_many_pairs_as_can_be_made_are_made() -> None:
    """Labels 10 and 11, cuts found at 11 and 12: pairing the exact 11-11 first would
    leave 12 (two from 10) unmatched; 11-10 and 12-11 match both."""
    truth = Truth(cuts=[10, 11], ignore=[], gradual=[])
    assert match(truth, [11, 12], 1) == Match(true=2, false=0, missed=0, gradual=0, gradual_total=0)
    assert match(truth, [11, 12], 0).true == 1


def test_a_cut_at_an_ignored_frame_or_inside_a_dissolve_is_not_false() -> None:
    truth = Truth(cuts=[98], ignore=[1], gradual=[(40, 50)])
    scored = match(truth, [2, 45, 53, 98], 3)
    assert scored == Match(true=1, false=0, missed=0, gradual=1, gradual_total=1)
    # beyond the tolerance of the ignored frame and of the widened span: false
    assert match(truth, [5, 54, 98], 3) == Match(
        true=1, false=2, missed=0, gradual=0, gradual_total=1
    )


def test_precision_recall_and_f1_of_summed_counts() -> None:
    total = Match(3, 1, 0, 0, 0) + Match(1, 0, 4, 1, 2)
    assert total == Match(4, 1, 4, 1, 2)
    assert (total.precision, total.recall) == (0.8, 0.5)
    assert abs(total.f1 - 2 * 0.8 * 0.5 / 1.3) < 1e-12

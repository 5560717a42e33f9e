"""The automatic moment finder against moments labelled by hand on real footage with sound.

Each ``bench/data/moments/<clip>.json`` names a clip that an installed package
ships (a Debian package's file, or a file inside a Python package), the rule it
was labelled by and its moments, each the time of its peak (``peak_s``). A clip
whose package is not installed is skipped with a line saying what to install.

For each clip, :func:`~pipeline.detect.moments.find_moments` runs with
``moment_s`` 3 and enough ``max_moments`` for every peak of the score. Then:

- a labelled moment is recalled when a found moment's span, widened by
  ``SLACK_S`` each side, holds its peak;
- a found moment is false when no labelled peak lies within its span widened
  by ``SLACK_S`` each side.

On clips this short that slack is generous (a 3 s moment widened by 2 s each
side covers 7 s), so two more figures say what the match is worth: the recall
with no slack (the peak inside the found span itself), and the chance recall:
the share of all ``moment_s`` spans placed anywhere in the clip whose widened
span holds a label, averaged over the labels (what one moment placed blindly
would recall).

Reported per clip and overall: labelled, found, recall (all labels and the
``clear`` ones), precision, false moments per minute of footage, and the
finder's cost (best of ``--runs`` wall times of ``find_moments`` over the
clip's length, in seconds per clip-minute). The goal is recall >= 0.8 with at
most one false moment per minute.

Usage (from the repository root): python -m bench.moments_quality [--runs 3] [--moment-s 3]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bench.follow_truth import Source
from pipeline.detect.moments import FoundMoment, MomentOptions, find_moments
from pipeline.media.probe import probe

DATA = Path(__file__).parent / "data" / "moments"
SLACK_S = 2.0
MAX_MOMENTS = 100  # more than the score of a short clip has peaks
GOAL_RECALL = 0.8
GOAL_FALSE_PER_MIN = 1.0


class Label(BaseModel):
    """One moment labelled by hand: the time of its peak and what happens."""

    model_config = ConfigDict(extra="forbid")

    peak_s: float
    confidence: str  # "clear" or "weak"
    what: str


class Labels(BaseModel):
    """A clip's hand labels (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    clip: str
    source: Source
    duration_s: float
    what_it_is: str
    labelling_rule: str
    labeller: str
    sound_level: str
    moments: list[Label]


@dataclass(frozen=True)
class Score:
    """One clip's (or all clips') counts."""

    labelled: int
    clear: int
    found: int
    recalled: int
    clear_recalled: int
    strict_recalled: int
    chance: float  # the labels' chance recall, summed over them
    false: int
    minutes: float
    finder_s: float

    def __add__(self, other: Score) -> Score:
        return Score(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


def near(peak_s: float, moment: FoundMoment, slack_s: float = SLACK_S) -> bool:
    return moment.start_s - slack_s <= peak_s <= moment.end_s + slack_s


def chance(peak_s: float, duration_s: float, moment_s: float) -> float:
    """The share of ``moment_s`` spans starting anywhere in the clip whose widened span
    holds ``peak_s``."""
    length = min(moment_s, duration_s)
    last = duration_s - length
    if last <= 0:
        return 1.0 if -SLACK_S <= peak_s <= duration_s + SLACK_S else 0.0
    low, high = max(0.0, peak_s - length - SLACK_S), min(last, peak_s + SLACK_S)
    return max(0.0, high - low) / last


def score(
    labels: Labels,
    found: list[FoundMoment],
    minutes: float,
    finder_s: float,
    moment_s: float,
) -> Score:
    recalled = [m for m in labels.moments if any(near(m.peak_s, f) for f in found)]
    false = [f for f in found if not any(near(m.peak_s, f) for m in labels.moments)]
    return Score(
        labelled=len(labels.moments),
        clear=sum(m.confidence == "clear" for m in labels.moments),
        found=len(found),
        recalled=len(recalled),
        clear_recalled=sum(m.confidence == "clear" for m in recalled),
        strict_recalled=sum(any(near(m.peak_s, f, 0.0) for f in found) for m in labels.moments),
        chance=sum(chance(m.peak_s, minutes * 60.0, moment_s) for m in labels.moments),
        false=len(false),
        minutes=minutes,
        finder_s=finder_s,
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def table_row(name: str, s: Score) -> str:
    cells = [
        name,
        str(s.labelled),
        str(s.found),
        f"{_ratio(s.recalled, s.labelled)} ({s.recalled}/{s.labelled})",
        f"{_ratio(s.clear_recalled, s.clear)} ({s.clear_recalled}/{s.clear})",
        f"{_ratio(s.strict_recalled, s.labelled)} ({s.strict_recalled}/{s.labelled})",
        _ratio(s.chance, s.labelled),
        f"{_ratio(s.found - s.false, s.found)} ({s.found - s.false}/{s.found})",
        _ratio(s.false, s.minutes),
        _ratio(s.finder_s, s.minutes),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| clip | labelled | found | recall | recall (clear) | recall, no slack "
    "| chance recall | precision | false / min | finder s / clip-min |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def measure_clip(clip: Path, options: MomentOptions, runs: int) -> tuple[list[FoundMoment], float]:
    """The finder's moments and its best wall time over ``runs``."""
    info = probe(clip)
    best, found = float("inf"), []
    for _ in range(runs):
        start = time.perf_counter()
        found = find_moments(clip, info, options)
        best = min(best, time.perf_counter() - start)
    return found, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--moment-s", type=float, default=3.0)
    args = parser.parse_args()
    options = MomentOptions(moment_s=args.moment_s, max_moments=MAX_MOMENTS)

    rows, total = [], None
    for path in sorted(DATA.glob("*.json")):
        labels = Labels.model_validate(json.loads(path.read_text()))
        clip = labels.source.locate()
        if clip is None:
            print(f"skipped {labels.clip}: install {labels.source.package()}")
            continue
        info = probe(clip)
        found, best_s = measure_clip(clip, options, args.runs)
        s = score(labels, found, info.duration_s / 60.0, best_s, args.moment_s)
        total = s if total is None else total + s
        rows.append(table_row(labels.clip, s))
        print(f"{labels.clip} ({info.duration_s:.2f} s):")
        for m in labels.moments:
            hit = any(near(m.peak_s, f) for f in found)
            inside = any(near(m.peak_s, f, 0.0) for f in found)
            verdict = ("recalled" if hit else "MISSED") + (", inside a span" if inside else "")
            print(f"  label {m.peak_s:5.2f} s {m.confidence:5} {verdict}")
        for f in found:
            ok = any(near(m.peak_s, f) for m in labels.moments)
            print(
                f"  found {f.start_s:5.2f}-{f.end_s:5.2f} s score {f.score:5.2f} "
                f"{'+'.join(f.reasons) or '-'}{'' if ok else '  FALSE'}"
            )
    if total is None:
        print("no labelled clip is installed")
        return
    print()
    print(
        f"moment_s {args.moment_s:g}, a label recalled / a found moment true within "
        f"{SLACK_S:g} s of its span; finder time best of {args.runs}"
    )
    print(HEADER)
    print("\n".join(rows))
    print(table_row("all", total))
    recall = total.recalled / total.labelled if total.labelled else 0.0
    false_per_min = total.false / total.minutes
    met = recall >= GOAL_RECALL and false_per_min <= GOAL_FALSE_PER_MIN
    print(
        f"goal recall >= {GOAL_RECALL} and <= {GOAL_FALSE_PER_MIN:g} false/min: "
        f"{'met' if met else 'NOT met'} (recall {recall:.2f}, {false_per_min:.1f} false/min, "
        f"over {total.minutes:.2f} min of footage)"
    )


if __name__ == "__main__":
    main()

"""Figure 3: accuracy and following rate against input length, smoothed by a moving average.

Examples are sorted by input length (characters; ties by id) and a window of `window` consecutive examples
slides one example at a time; each point is (mean input length, mean accuracy, mean following) of one window.
A run with fewer examples than the window gives one point over all of them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqtune.records import atomic_write


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Mean of every run of `window` consecutive values (len - window + 1 means; one mean if too few values)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if not values:
        return []
    window = min(window, len(values))
    running = sum(values[:window])
    means = [running / window]
    for i in range(window, len(values)):
        running += values[i] - values[i - window]
        means.append(running / window)
    return means


@dataclass
class LengthCurve:
    arm: str
    lengths: list[float]
    accuracy: list[float]
    following: list[float]


def length_curve(arm: str, scores: list[dict], window: int) -> LengthCurve | None:
    """The smoothed curve of one arm; None when an example lacks a numeric `input_length`."""
    if not scores or not all(_is_number(s.get("input_length")) for s in scores):
        return None
    ordered = sorted(scores, key=lambda s: (s["input_length"], str(s.get("id", ""))))
    return LengthCurve(
        arm,
        moving_average([float(s["input_length"]) for s in ordered], window),
        moving_average([float(bool(s.get("correct"))) for s in ordered], window),
        moving_average([float(bool(s.get("followed"))) for s in ordered], window),
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def curves_csv(curves: list[LengthCurve]) -> str:
    """The plotted points, so the figure's numbers can be checked and compared as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "input_length", "accuracy", "following_rate"])
    for curve in curves:
        for length, acc, fol in zip(curve.lengths, curve.accuracy, curve.following, strict=True):
            writer.writerow([curve.arm, f"{length:.1f}", f"{100 * acc:.2f}", f"{100 * fol:.2f}"])
    return buffer.getvalue()


def draw_length_figure(curves: list[LengthCurve], path: Path, title: str, window: int) -> None:
    """Two panels (accuracy, following rate) with one line per arm, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, name, attribute in (
        (axes[0], "Accuracy (%)", "accuracy"),
        (axes[1], "Following rate (%)", "following"),
    ):
        for curve in curves:
            axis.plot(
                curve.lengths, [100 * v for v in getattr(curve, attribute)], marker=".", label=curve.arm
            )
        axis.set_xlabel(f"Input length (characters, mean of a {window}-example window)")
        axis.set_ylabel(name)
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    try:
        with atomic_write(path, binary=True) as handle:
            # no Software/date metadata, so equal curves give equal bytes
            figure.savefig(handle, format="png", dpi=120, metadata={"Software": None})
    finally:
        plt.close(figure)

"""The report's figures: row-normalized confusion matrices as in the paper's Figure 4, and accuracy by
quartile of reading time, a line per cohort.

Figures are reproducible: the SVG's element ids come from a fixed hash salt and no file carries a date,
so the same report draws the same files.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.report_content import Confusion, ReadingTimeRow  # noqa: E402

SVG_HASH_SALT = "protein-localization-report"
NO_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def confusion_figure(confusion: Confusion, class_names: tuple[str, ...]) -> plt.Figure:
    """Rows the true class, columns the answer, each cell the fraction of the row's samples."""
    values = np.nan_to_num(confusion.row_normalized, nan=0.0)
    size = 2.5 + 0.42 * len(class_names)
    figure, axes = plt.subplots(figsize=(size + 1.2, size))
    # Fixed margins that fit the longest class names: a layout engine would double the drawing time.
    figure.subplots_adjust(left=0.26, right=0.93, bottom=0.26, top=0.95)
    image = axes.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90, fontsize=7)
    axes.set_yticks(ticks, class_names, fontsize=7)
    axes.set_xlabel("Answer")
    axes.set_ylabel("True class")
    axes.set_title(confusion.reader, fontsize=10)
    if len(class_names) <= 15:
        for (row, column), value in np.ndenumerate(values):
            if value > 0:
                axes.text(
                    column, row, f"{value:.2g}", ha="center", va="center", fontsize=6,
                    color="white" if value > 0.6 else "black",
                )
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.02)
    return figure


def reading_time_figure(rows: tuple[ReadingTimeRow, ...]) -> plt.Figure:
    """Accuracy of each quarter of a cohort's answers by time (1: the fastest), a line per cohort."""
    figure, axes = plt.subplots(figsize=(5.6, 3.8))
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.15, top=0.9)
    for row in rows:
        if row.quartiles:
            label = row.cohort + (" (simulated)" if row.simulated else "")
            axes.plot(
                [q.quartile for q in row.quartiles], [q.accuracy for q in row.quartiles], marker="o", label=label
            )
    axes.set_xticks([1, 2, 3, 4], ["1 (fastest)", "2", "3", "4 (slowest)"])
    axes.set_xlim(0.7, 4.3)
    axes.set_ylim(-0.04, 1.04)  # markers at 0 and 1 whole
    axes.set_xlabel("Quarter of the cohort's answers by active seconds")
    axes.set_ylabel("Accuracy")
    axes.set_title("Accuracy by reading time", fontsize=10)
    axes.grid(axis="y", color="#d5dbe0", linewidth=0.6)
    axes.legend(fontsize=8, loc="lower left")
    return figure


def render(figure: plt.Figure, file_formats: tuple[str, ...] = ("png", "svg")) -> dict[str, bytes]:
    """The figure in each format (PNG, SVG) without date or software metadata; the figure is closed."""
    files = {}
    with plt.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        for file_format in file_formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=file_format, dpi=100, metadata=NO_METADATA[file_format])
            files[file_format] = buffer.getvalue()
    plt.close(figure)
    return files

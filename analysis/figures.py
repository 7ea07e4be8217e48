"""The report's figures: row-normalized confusion matrices as in the paper's Figure 4, every reader's
accuracy by cohort beside the model and the ensembles, the model against the population of readers as
a forest plot, accuracy by quartile of reading time, and each reader's accuracy alone and with the
machine's suggestion as a slope plot.

Figures are drawn at the size the page shows them (100 dots per inch, 600 px wide or less), so that
their labels read at that size. They are reproducible: the SVG's element ids come from a fixed hash
salt and no file carries a date, so the same report draws the same files.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.mrmc import FIXED_READERS_RANDOM_CASES  # noqa: E402
from analysis.report_content import (  # noqa: E402
    Confusion,
    MRMCRow,
    ReaderChangeRow,
    ReaderRow,
    ReadingTimeRow,
    Table2Row,
)
from analysis.report_words import FOM_WORDS, plural  # noqa: E402

SVG_HASH_SALT = "protein-localization-report"
NO_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}
GRID = "#d5dbe0"
# Colours by cohort in the readers' plot, then the ensembles' and models' lines.
COHORT_COLOURS = ("#1f6feb", "#b35c00", "#137333", "#8250df", "#6e7781")
MODEL_COLOUR = "#1d232a"
# The first model (Table 3's) solid, the others dotted and dash-dotted.
MODEL_STYLES = ("-", ":", "-.")
# Above this many readers in a cohort, its readers' intervals would hide each other: dots only.
MAX_INTERVALS_PER_COHORT = 200


def confusion_figure(confusion: Confusion, class_names: tuple[str, ...]) -> plt.Figure:
    """Rows the true class, columns the answer, each cell the fraction of the row's samples."""
    values = np.nan_to_num(confusion.row_normalized, nan=0.0)
    many = len(class_names) > 15
    figure, axes = plt.subplots(figsize=(6.0, 5.6) if not many else (8.0, 7.6))
    # Fixed margins that fit the longest class names: a layout engine would double the drawing time.
    figure.subplots_adjust(left=0.3, right=0.97, bottom=0.3, top=0.94)
    axes.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(class_names))
    label_size = 7 if many else 8.5
    axes.set_xticks(ticks, class_names, rotation=90, fontsize=label_size)
    axes.set_yticks(ticks, class_names, fontsize=label_size)
    axes.set_xlabel("Answer", fontsize=9)
    axes.set_ylabel("True class", fontsize=9)
    axes.set_title(f"{confusion.reader} ({confusion.cohort})", fontsize=10)
    if not many:
        for (row, column), value in np.ndenumerate(values):
            if value > 0:
                axes.text(
                    column, row, f"{value:.2f}"[1:] if value < 1 else "1", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 else "black",
                )
    return figure


def readers_accuracy_figure(readers: tuple[ReaderRow, ...], table2: tuple[Table2Row, ...]) -> plt.Figure:
    """Each person's accuracy with its 95% interval as a dot, a band per cohort (experts on top), readers
    sorted by accuracy within it; each model as a solid line, each ensemble as a dashed line."""
    cohorts = list(dict.fromkeys(row.cohort for row in readers if row.accuracy is not None))
    height = 1.6 + 0.9 * max(len(cohorts), 1)
    figure, axes = plt.subplots(figsize=(6.0, height))
    # Fixed space in inches for the title above and the axis label and legend below, whatever the height.
    bottom, top = 1.0 / height, 1 - 0.3 / height
    figure.subplots_adjust(left=0.2, right=0.97, bottom=bottom, top=top)
    for band, cohort in enumerate(cohorts):
        rows = sorted((r for r in readers if r.cohort == cohort and r.accuracy is not None), key=lambda r: r.accuracy)
        y = len(cohorts) - 1 - band + (np.linspace(-0.3, 0.3, len(rows)) if len(rows) > 1 else np.zeros(1))
        x = np.array([r.accuracy for r in rows])
        colour = COHORT_COLOURS[band % len(COHORT_COLOURS)]
        if len(rows) <= MAX_INTERVALS_PER_COHORT:
            low = np.array([r.accuracy_ci_low for r in rows], dtype=float)
            high = np.array([r.accuracy_ci_high for r in rows], dtype=float)
            axes.hlines(y, low, high, color=colour, linewidth=1.2, alpha=0.6)
        axes.plot(x, y, "o", color=colour, markersize=4 if len(rows) <= MAX_INTERVALS_PER_COHORT else 2)
    models = [row for row in table2 if row.kind == "model"]
    for number, row in enumerate(models):
        axes.axvline(row.accuracy, linestyle=MODEL_STYLES[number % len(MODEL_STYLES)], color=MODEL_COLOUR,
                     linewidth=1.4, label=f"{row.reader} {row.accuracy:.2f}")
    for row in table2:
        if row.kind == "ensemble" and row.cohort in cohorts:
            colour = COHORT_COLOURS[cohorts.index(row.cohort) % len(COHORT_COLOURS)]
            axes.axvline(row.accuracy, linestyle="--", color=colour, linewidth=1.3,
                         label=f"{row.reader} {row.accuracy:.2f}")
    axes.set_yticks(range(len(cohorts)), [plural(c) for c in reversed(cohorts)], fontsize=9)
    axes.set_ylim(-0.6, len(cohorts) - 0.4)
    axes.set_xlim(0, 1)
    axes.set_xlabel("Accuracy (each reader with a 95% interval)", fontsize=9)
    axes.set_title("Readers' accuracy, model and ensembles", fontsize=10)
    axes.grid(axis="x", color=GRID, linewidth=0.6)
    axes.tick_params(axis="x", labelsize=8)
    if axes.get_legend_handles_labels()[0]:
        below = -0.55 / (height * (top - bottom))
        axes.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.45, below), ncol=3, frameon=False)
    return figure


def forest_figure(rows: tuple[MRMCRow, ...], margin: float | None) -> plt.Figure:
    """Each model's difference from the mean of a cohort's readers with its interval, a line per model,
    cohort and figure of merit; random readers filled, fixed readers open; zero and the non-inferiority
    margin marked."""
    lines = list(dict.fromkeys((row.model, row.cohort, row.fom) for row in rows))
    height = 1.6 + 0.42 * max(len(lines), 1)
    figure, axes = plt.subplots(figsize=(6.0, height))
    bottom, top = 1.05 / height, 1 - 0.35 / height
    figure.subplots_adjust(left=0.36, right=0.97, bottom=bottom, top=top)
    for row in rows:
        line = lines.index((row.model, row.cohort, row.fom))
        fixed = row.variant == FIXED_READERS_RANDOM_CASES
        y = len(lines) - 1 - line + (-0.15 if fixed else 0.15)
        axes.hlines(y, row.ci_low, row.ci_high, color=MODEL_COLOUR, linewidth=1.3)
        axes.plot(row.effect, y, "o", color=MODEL_COLOUR, markerfacecolor="white" if fixed else MODEL_COLOUR,
                  markersize=5.5, label="fixed readers" if fixed else "random readers")
    axes.axvline(0.0, color="#6e7781", linewidth=1)
    if margin is not None:
        axes.axvline(-margin, color="#b42318", linestyle="--", linewidth=1, label=f"non-inferiority margin −{margin:g}")
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes.legend(unique.values(), unique.keys(), fontsize=7.5, loc="upper center", bbox_to_anchor=(0.35, -0.62 / (height * (top - bottom))),
                ncol=3, frameon=False)
    names = [f"{model} vs {plural(cohort)}, {FOM_WORDS.get(fom, fom)}" for model, cohort, fom in lines]
    axes.set_yticks(range(len(lines)), list(reversed(names)), fontsize=8.5)
    axes.set_ylim(-0.6, len(lines) - 0.4)
    axes.set_xlabel("Model minus the mean of the readers, with its 95% interval", fontsize=8.5)
    axes.set_title("Model against the population of readers", fontsize=10)
    axes.grid(axis="x", color=GRID, linewidth=0.6)
    axes.tick_params(axis="x", labelsize=8)
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
    axes.grid(axis="y", color=GRID, linewidth=0.6)
    axes.legend(fontsize=8, loc="lower left")
    return figure


HARMED_COLOUR = "#b42318"


def assistance_readers_figure(rows: tuple[ReaderChangeRow, ...], model: str | None, model_accuracy: float | None) -> plt.Figure:
    """A line per reader from their accuracy alone (left) to with the suggestion (right), coloured by
    cohort; a reader whose change's interval lies below 0 (harmed) red and bold; the model alone dotted."""
    figure, axes = plt.subplots(figsize=(4.8, 4.6))
    figure.subplots_adjust(left=0.16, right=0.7, bottom=0.1, top=0.9)
    cohorts = list(dict.fromkeys(row.cohort for row in rows))
    shown = [row for row in rows if row.unaided_accuracy is not None and row.aided_accuracy is not None]
    for row in shown:
        harmed = row.verdict == "harmed"
        colour = HARMED_COLOUR if harmed else COHORT_COLOURS[cohorts.index(row.cohort) % len(COHORT_COLOURS)]
        axes.plot([0, 1], [row.unaided_accuracy, row.aided_accuracy], marker="o", markersize=3.5, color=colour,
                  linewidth=2.2 if harmed else 1.0, alpha=0.95 if harmed else 0.6)
    for number, cohort in enumerate(cohorts):
        axes.plot([], [], color=COHORT_COLOURS[number % len(COHORT_COLOURS)], label=plural(cohort))
    if any(row.verdict == "harmed" for row in shown):
        axes.plot([], [], color=HARMED_COLOUR, linewidth=2.2, label="harmed")
    if model_accuracy is not None:
        axes.axhline(model_accuracy, linestyle=":", color=MODEL_COLOUR, linewidth=1.3,
                     label=f"{model} alone {model_accuracy:.2f}")
    axes.set_xticks([0, 1], ["alone", "with the suggestion"])
    axes.set_xlim(-0.15, 1.15)
    axes.set_ylim(-0.04, 1.04)
    axes.set_ylabel("Accuracy")
    axes.set_title("Each reader alone and with the suggestion", fontsize=10)
    axes.grid(axis="y", color=GRID, linewidth=0.6)
    axes.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
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

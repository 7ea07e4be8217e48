"""The report's figures: row-normalized confusion matrices as in the paper's Figure 4.

Figures are reproducible: the SVG's element ids come from a fixed hash salt and no file carries a date,
so the same report draws the same files.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.report_content import Confusion  # noqa: E402

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

"""One look for every publication figure: sizes, fonts, colour-blind palette, reproducible files.

Every figure module draws with :func:`figure` (a fixed one- or two-column width) and saves with
:func:`save`, which writes a vector PDF (TrueType fonts embedded, ``pdf.fonttype 42``) and a
PNG, both byte-identical for identical inputs: no creation date, no software stamp, a fixed
SVG hash salt, and matplotlib's bundled DejaVu Sans so a figure does not depend on the
machine's fonts. The notebooks call :func:`apply` too, so what a researcher explores looks
like what is published.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..io import atomic_write  # noqa: E402

ONE_COLUMN_IN = 3.35
"""Width of a one-column figure (inches): most journals' single column."""
TWO_COLUMN_IN = 7.0
"""Width of a two-column (full-page-width) figure (inches)."""
PNG_DPI = 300
FONT_PT = 8.0

PALETTE = sns.color_palette("colorblind")
"""seaborn's colour-blind palette (Okabe-Ito-like); every colour below comes from it."""

STATE_COLOURS = {
    "unaware": "#bbbbbb",
    "reading": to_hex(PALETTE[0]),  # blue
    "replied": to_hex(PALETTE[3]),  # vermillion
    "muted": to_hex(PALETTE[2]),  # green
}
"""One colour per ABM state (``model/states.py``), shared by figures and notebooks."""

STATE_LABELS = {
    "unaware": "unaware (read nothing yet)",
    "reading": "reading",
    "replied": "replied all",
    "muted": "muted the thread",
}

REMOVE_COLOUR = PALETTE[0]
COMPLAIN_COLOUR = PALETTE[1]
RECEIVED_COLOUR = PALETTE[2]
FIT_COLOUR = "0.15"
OBSERVED_COLOUR = PALETTE[3]
CUTOFF_COLOUR = "0.35"

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: same glyphs everywhere
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT - 1,
    "ytick.labelsize": FONT_PT - 1,
    "legend.fontsize": FONT_PT - 1,
    "legend.title_fontsize": FONT_PT - 1,
    "figure.titlesize": FONT_PT + 1,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "pdf.fonttype": 42,  # TrueType, editable text in the PDF
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "replyall-storm",
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": "standard",  # fixed size: never let "tight" change the page
    "figure.dpi": 100,
    "path.simplify": True,
    "axes.unicode_minus": False,
}


def apply() -> None:
    """Set the seaborn theme and the rc parameters of the house style (idempotent)."""
    sns.set_theme(context="paper", style="ticks", palette=PALETTE, rc=RC)


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """The house style inside a ``with`` block; the caller's rc settings come back after."""
    with matplotlib.rc_context():
        apply()
        yield


def figure(width: str = "two", height_in: float = 3.0) -> Figure:
    """An empty figure ``width`` = "one" (3.35 in) or "two" (7.0 in) columns wide.

    Its layout is ``constrained``, so labels never overlap; add axes with ``fig.subplots``
    or ``fig.subplot_mosaic``.
    """
    inches = {"one": ONE_COLUMN_IN, "two": TWO_COLUMN_IN}[width]
    fig = plt.figure(figsize=(inches, height_in), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.03, h_pad=0.03, wspace=0.03, hspace=0.03)
    return fig


def panel_label(ax, letter: str) -> None:
    """Bold panel letter (a, b, ...) at the top left, outside the axes."""
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, fontweight="bold",
            fontsize=FONT_PT + 1, ha="right", va="bottom")


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` into ``out_dir`` reproducibly; close the figure."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.pdf", out_dir / f"{stem}.png"]
    try:
        atomic_write(paths[0], lambda tmp: fig.savefig(
            tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None,
                                         "Producer": None, "Creator": None}))
        atomic_write(paths[1], lambda tmp: fig.savefig(
            tmp, format="png", dpi=PNG_DPI, metadata={"Software": None}))
    finally:
        plt.close(fig)
    return paths

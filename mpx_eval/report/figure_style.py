"""How the report's figures look and where they are drawn: the plotting style, the
colour-blind-safe series styles, the Agg canvas and its PNG bytes, and the conventions every
figure's axes keep (whole epochs, accuracy ending at 1).

matplotlib is imported inside the functions, so importing the report does not load it.
"""

from __future__ import annotations

import io
import textwrap
import warnings
from contextlib import contextmanager

#: Resolution of the saved PNGs: sharp enough on screen and paper, small enough to inline.
DPI = 100

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    # Names from the data (classes, models, files) are drawn as written: "$" is not math.
    "text.parse_math": False,
    "text.usetex": False,
}

#: Okabe & Ito's colour-blind-safe palette (2008), in the order series take it; its yellow
#: comes last, being faint on white. No figure relies on colour alone: every series also
#: has a marker or a line style of its own, so that no caption needs to name a colour.
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",
    "#F0E442",  # yellow
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Line styles of series; the dotted line is kept for references (chance, a baseline).
LINESTYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))
REFERENCE = {"color": "0.45", "linestyle": ":", "linewidth": 1.0}


def series_style(i: int) -> dict:
    """Colour, marker and line style of the ``i``-th series of a figure: distinct for the
    first 32, so that series differ in shape as well as colour."""
    return {
        "color": PALETTE[i % len(PALETTE)],
        "marker": MARKERS[i % len(MARKERS)],
        "linestyle": LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)],
    }


#: How the three parts of the data a unit sees are drawn.
ROLE_STYLES = {
    "train": {"color": PALETTE[0], "linestyle": "-", "marker": "o"},
    "val": {"color": PALETTE[1], "linestyle": "--", "marker": "s"},
    "test": {"color": PALETTE[2], "linestyle": "-.", "marker": "^"},
}
ROLE_NAMES = {"train": "training", "val": "validation", "test": "test fold"}
#: The kept epoch's vertical line.
KEPT_EPOCH = {"color": "0.2", "linestyle": ":", "linewidth": 1.2}


def markevery_for(n: int) -> int:
    """A marker every few points, about eight along a curve of ``n`` points."""
    return max(1, -(-n // 8))


#: matplotlib's warning for a character its fonts cannot draw (a class named 猴痘): the
#: figure shows a box for it, the page beside it has the name, and one warning per character
#: and figure would flood the terminal (and ``--quiet``).
MISSING_GLYPH = r"Glyph \d+ (.* )?missing from (current )?font"


@contextmanager
def style():
    """The report's plotting style, applied only while drawing (and saving), which also
    keeps matplotlib's missing-glyph warnings to itself."""
    import matplotlib

    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MISSING_GLYPH, category=UserWarning)
        yield


def new_figure(width: float, height: float):
    """A figure on the Agg canvas (the report never opens a window)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG, without the software tag, so equal inputs give equal bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()


def axes_or_new(ax, width: float, height: float):
    """``ax``, or the axes of a new figure of ``width`` by ``height`` inches."""
    if ax is not None:
        return ax
    return new_figure(width, height).add_subplot()


def wrap_label(text: str, width: int = 16) -> str:
    """``text`` broken into lines of at most ``width`` characters (a long tick label)."""
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=True)) or str(text)


def integer_epochs(ax) -> None:
    """Epochs are whole numbers: no tick at 1.5."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def cap_accuracy(ax, axis: str = "y") -> None:
    """An accuracy axis ends at 1.0: the margin matplotlib adds above a curve that reaches
    1 would show values no accuracy can take."""
    get, put = (ax.get_ylim, ax.set_ylim) if axis == "y" else (ax.get_xlim, ax.set_xlim)
    low, high = get()
    put(max(low, -0.02), min(high, 1.0))


def role_line(ax, x, y, role: str) -> None:
    """One curve of a part of the data a unit sees (``train``, ``val``, ``test``)."""
    # not clipped: a marker at an accuracy of 1 sits on the axis's end, whole
    ax.plot(
        x, y, **ROLE_STYLES[role], markersize=3.5, markevery=markevery_for(len(x)),
        label=ROLE_NAMES[role], clip_on=False,
    )  # fmt: skip

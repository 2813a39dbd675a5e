"""Drawing helpers: arrays as grids of cells with their values written in them.

Every figure of ``course.viz`` that shows numbers is made of these pieces. The
coordinates are those of the array: cell ``(row, col)`` is the unit square
with its top-left corner at ``x = col, y = row`` (the y axis points down, as
in an image), so a rectangle drawn around cells can be read back from its
``xy``. Every artist gets a ``gid`` (a name), so a test, or a curious student,
can find the cells, texts and highlights again::

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(2, 2))
    >>> grid_axes(ax, 2, 2)
    >>> cells = draw_grid(ax, [[1, 2], [3, 4]], gid="x")
    >>> box = outline_cells(ax, 0, 1, 2, 1, gid="column")   # top, left, height, width
    >>> box.get_xy()
    (1, 0)
    >>> [text.get_text() for text in ax.texts if text.get_gid() == "x:text"]     # row by row
    ['1', '2', '3', '4']
    >>> [patch.get_gid() for patch in ax.patches]
    ['column']
    >>> plt.close(fig)

The functions draw into an existing ``Axes`` and return what they drew; the
figure functions of ``course.viz`` create the axes and call
:func:`grid_axes` once per panel to fix the limits and hide the frame.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, SupportsFloat

import matplotlib.colors as mcolors
import numpy as np
import torch
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType, LineStyleType
    from numpy.typing import ArrayLike

__all__ = [
    "as_array", "format_value", "grid_axes", "draw_cells", "draw_grid", "draw_padding", "highlight_cells",
    "outline_cells", "check_position", "cell_fontsize", "root_figure",
]

# Colours shared by the figures (light fills, so black text stays readable).
INPUT_COLOR = "#cfe2f3"      # input cells: light blue
OUTPUT_COLOR = "#d9ead3"     # output cells: light green
PADDING_COLOR = "white"      # padding cells: white, dashed edges
KERNEL_COLOR = "#1f77b4"     # the kernel window: blue
SELECT_COLOR = "#2ca02c"     # the selected output cell: green
STAMP_COLOR = "#d62728"      # the stamp of a transposed convolution: red


def as_array(name: str, value: torch.Tensor | ArrayLike, *, ndim: int = 2) -> np.ndarray:
    """``value`` (tensor, array or nested list) as a float numpy array with ``ndim`` dimensions.

    Raises ``TypeError`` / ``ValueError`` naming ``name``, like the rest of the library.
    """
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a tensor, an array or a nested list of numbers, "
                f"got {type(value).__name__} {value!r}"
            ) from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D tensor, got shape {tuple(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(array.shape)}")
    return array


def format_value(value: SupportsFloat) -> str:
    """A short label for a number: ``3`` rather than ``3.0``, at most 3 significant digits.

    >>> format_value(3.0), format_value(-0.0), format_value(0.3333), format_value(12345.0)
    ('3', '0', '0.333', '1.23e+04')
    """
    value = float(value)
    if value == 0:
        return "0"  # also for -0.0
    return f"{value:.3g}"


def grid_axes(ax: Axes, rows: int, cols: int, *, top: float = 0, left: float = 0,
              frame: tuple[int, int] | None = None, title: str | None = None, margin: float = 0.08) -> None:
    """Prepare ``ax`` for a ``rows x cols`` grid whose top-left corner is ``(top, left)``.

    Square cells, y pointing down, no frame or ticks. ``frame=(R, C)`` makes
    the panel as large as an ``R x C`` grid, with this grid in its centre
    (so that panels of different grids share one cell size).
    """
    R, C = (rows, cols) if frame is None else (max(frame[0], rows), max(frame[1], cols))
    dy, dx = (R - rows) / 2, (C - cols) / 2
    ax.set_xlim(left - dx - margin, left + cols + dx + margin)
    ax.set_ylim(top + rows + dy + margin, top - dy - margin)  # inverted: row 0 at the top
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize=9)


def cell_fontsize(ax: Axes, rows: int, cols: int, longest: int = 2) -> float:
    """A font size (points) so that ``longest`` characters fit into one cell of ``ax``.

    Computed from the size of the axes in the figure, so call it after the
    axes are placed (``plt.subplots`` places them at once).
    """
    box = ax.get_position()
    width, height = root_figure(ax).get_size_inches()
    cell_points = 72 * min(box.width * width / max(cols, 1), box.height * height / max(rows, 1))
    size = min(0.45 * cell_points, 0.85 * cell_points / (0.62 * max(longest, 1)))
    return float(np.clip(size, 4, 12))


def draw_cells(ax: Axes, cells: Iterable[tuple[int, int]], *, facecolor: ColorType | np.ndarray = INPUT_COLOR,
               edgecolor: ColorType = "0.35", linestyle: LineStyleType = "-", gid: str = "grid") -> PolyCollection:
    """Draw unit squares at the ``(row, col)`` positions ``cells`` as one collection named ``gid``.

    ``facecolor`` is one colour or one per cell. (One collection of polygons
    built from an array draws much faster than a patch per cell.)
    """
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)       # (x, y) of a unit square
    origins = np.array([(col, row) for row, col in cells], dtype=float).reshape(-1, 1, 2)
    collection = PolyCollection(origins + corners, closed=True, facecolors=facecolor, edgecolors=edgecolor,
                                linewidths=0.8, linestyles=linestyle, gid=gid)
    ax.add_collection(collection, autolim=False)
    return collection


def draw_grid(ax: Axes, values: torch.Tensor | ArrayLike | None = None, *, shape: Sequence[int] | None = None,
              top: int = 0, left: int = 0, labels: Sequence[Sequence[object]] | Literal[False] | None = None,
              facecolor: ColorType | np.ndarray = INPUT_COLOR, cmap: str | mcolors.Colormap | None = None,
              vmin: float | None = None, vmax: float | None = None, edgecolor: ColorType = "0.35",
              linestyle: LineStyleType = "-", fontsize: float | None = None, gid: str = "grid") -> PolyCollection:
    """Draw a 2-D array as a grid of cells, each with its value written in it.

    Args:
        ax: the axes to draw into (see :func:`grid_axes`).
        values: 2-D tensor / array / nested list, or ``None`` for empty cells
            (then pass ``shape``).
        shape: ``(rows, cols)`` of a grid without values.
        top: the row where cell ``(0, 0)`` goes (to draw a grid inside a larger one).
        left: the column where cell ``(0, 0)`` goes.
        labels: optional 2-D array of strings to write instead of the values
            (``""`` or ``None`` leaves a cell blank; ``labels=False`` writes nothing).
        facecolor: one fill colour for every cell, or an array ``(rows, cols, 3 or 4)``
            of colours; or, with ``cmap``, the values are coloured through
            ``cmap`` between ``vmin`` and ``vmax``.
        cmap: a matplotlib colormap or its name; colours the cells by value.
        vmin: the value at the bottom of ``cmap``; default the smallest value.
        vmax: the value at the top of ``cmap``; default the largest value.
        edgecolor: colour of the cell borders.
        linestyle: ``"--"`` draws dashed cells (the figures use it for padding).
        fontsize: of the values; default the largest that fits a cell.
        gid: name given to the cells (a ``PolyCollection``) and to the texts
            (``gid + ":text"``), so they can be found again.

    Returns the collection of cells, row by row.
    """
    if values is not None:
        array = as_array("values", values)
        rows, cols = array.shape
    elif shape is not None:
        rows, cols = int(shape[0]), int(shape[1])
        array = None
    else:
        raise ValueError("draw_grid needs values or shape, got neither")

    texts: list[list[str]] | None = None      # what each cell says
    if labels is None and array is not None:
        texts = [[format_value(v) for v in row] for row in array]
    elif labels is not None and labels is not False:
        texts = [["" if text is None else str(text) for text in row] for row in labels]
        if (len(texts), len(texts[0]) if texts else 0) != (rows, cols):
            raise ValueError(f"labels must have the shape of the grid ({rows}, {cols})")
    if fontsize is None:
        longest = max((len(t) for row in texts for t in row), default=1) if texts else 1
        fontsize = cell_fontsize(ax, *_grid_extent(ax, rows, cols), longest=longest)

    if cmap is not None and array is not None:
        norm = mcolors.Normalize(vmin=array.min() if vmin is None else vmin,
                                 vmax=array.max() if vmax is None else vmax)
        facecolor = _get_cmap(cmap)(norm(array))
    colours = None
    if not (isinstance(facecolor, str) or np.ndim(facecolor) == 1):  # one colour per cell
        colours = np.asarray(facecolor, dtype=float)
        if colours.shape[:2] != (rows, cols):
            raise ValueError(f"facecolor must be one colour or one per cell ({rows}, {cols}, 3 or 4), "
                             f"got shape {colours.shape}")
        facecolor = colours.reshape(rows * cols, -1)

    positions = [(top + r, left + c) for r in range(rows) for c in range(cols)]
    collection = draw_cells(ax, positions, facecolor=facecolor, edgecolor=edgecolor, linestyle=linestyle, gid=gid)
    if texts is not None:
        for r in range(rows):
            for c in range(cols):
                if texts[r][c]:
                    dark = colours is not None and _is_dark(colours[r, c])
                    ax.text(left + c + 0.5, top + r + 0.5, texts[r][c], ha="center", va="center",
                            fontsize=fontsize, color="white" if dark else "black", gid=f"{gid}:text")
    return collection


def draw_padding(ax: Axes, rows: int, cols: int, padding: tuple[int, int], *,
                 gid: str = "padding") -> PolyCollection | None:
    """Dashed white cells around the border of a ``rows x cols`` grid, ``padding = (pH, pW)`` deep.

    ``rows`` and ``cols`` count the padding; the inner cells are left alone.
    Returns the collection, or None when there is no padding.
    """
    pH, pW = padding
    ring = [(r, c) for r in range(rows) for c in range(cols)
            if not (pH <= r < rows - pH and pW <= c < cols - pW)]
    if not ring:
        return None
    return draw_cells(ax, ring, facecolor=PADDING_COLOR, edgecolor="0.55", linestyle="--", gid=gid)


def highlight_cells(ax: Axes, cells: Iterable[tuple[int, int]], *, color: ColorType = KERNEL_COLOR,
                    alpha: float = 0.45, gid: str = "highlight") -> list[Rectangle]:
    """Fill each ``(row, col)`` of ``cells`` with a translucent colour; returns the rectangles.

    The cells need not touch: a dilated kernel window is a set of separate cells.
    """
    patches = []
    for row, col in cells:
        patch = Rectangle((col, row), 1, 1, facecolor=color, alpha=alpha, edgecolor="none",
                          gid=gid, zorder=2)
        ax.add_patch(patch)
        patches.append(patch)
    return patches


def outline_cells(ax: Axes, top: int, left: int, height: int = 1, width: int = 1, *,
                  color: ColorType = KERNEL_COLOR, linewidth: float = 2.5, linestyle: LineStyleType = "-",
                  gid: str = "outline") -> Rectangle:
    """Draw a coloured frame around the ``height x width`` block of cells starting at ``(top, left)``."""
    frame = Rectangle((left, top), width, height, fill=False, edgecolor=color, linewidth=linewidth,
                      linestyle=linestyle, gid=gid, zorder=3)
    ax.add_patch(frame)
    return frame


def check_position(name: str, position: object, shape: Sequence[int]) -> tuple[int, int]:
    """``position`` as a ``(row, col)`` inside a grid of ``shape``, or raise naming ``name``."""
    if (not isinstance(position, (tuple, list)) or len(position) != 2
            or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in position)):
        raise TypeError(f"{name} must be a pair of ints (row, col), got {position!r}")
    row, col = int(position[0]), int(position[1])
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(
            f"{name} must be a (row, col) inside the {shape[0]}x{shape[1]} output, "
            f"0 <= row < {shape[0]} and 0 <= col < {shape[1]}, got {tuple(position)}"
        )
    return row, col


def root_figure(ax: Axes) -> Figure:
    """The ``Figure`` that ``ax`` is drawn in (the whole figure, also for axes in a subfigure).

    >>> import matplotlib.pyplot as plt
    >>> fig = plt.figure()
    >>> ax = fig.subfigures(1, 2)[0].subplots()                 # axes in the left half
    >>> root_figure(ax) is fig, ax.figure is fig                # ax.figure is the subfigure
    (True, False)
    >>> plt.close(fig)
    """
    figure = ax.get_figure(root=True)
    if figure is None:
        raise ValueError("ax must be an Axes placed in a figure (from plt.subplots or fig.add_subplot)")
    return figure


# --------------------------------------------------------------------------- private

def _grid_extent(ax: Axes, rows: int, cols: int) -> tuple[int, int]:
    """The rows and columns the axes will show (at least this grid), for the font size."""
    x0, x1 = ax.get_xlim()
    y1, y0 = ax.get_ylim()
    if ax.get_autoscale_on():  # limits not fixed yet: assume the axes shows just this grid
        return rows, cols
    return max(rows, round(abs(y1 - y0))), max(cols, round(abs(x1 - x0)))


def _get_cmap(cmap: str | mcolors.Colormap) -> mcolors.Colormap:
    import matplotlib

    return matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap


def _is_dark(rgba: Sequence[float] | np.ndarray) -> bool:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5

"""Reading figures of course.viz back in tests (imported as `figure_helpers`).

The figures name their artists with gids (see course.viz.grids): the cells
of a grid are a ``PolyCollection`` named ``gid``, the numbers written in
them texts named ``gid + ":text"``, highlights and frames patches named as
the figure's docstring says. These helpers find them again by name.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch


def grid_texts(ax: Axes, gid: str = "grid") -> dict[tuple[int, int], str]:
    """The texts ``draw_grid`` wrote with this ``gid``, as ``{(row, col): text}``.

    Positions are in the axes' cell coordinates (a grid drawn at
    ``top=1, left=1`` starts at ``(1, 1)``).
    """
    texts = {}
    for text in ax.texts:
        if text.get_gid() == f"{gid}:text":
            x, y = text.get_position()
            texts[(int(np.floor(y)), int(np.floor(x)))] = text.get_text()
    return texts


def patches_with_gid(ax: Axes, gid: str) -> list[Patch]:
    """The patches of ``ax`` named ``gid`` (highlights and outlines)."""
    return [patch for patch in ax.patches if patch.get_gid() == gid]


def cell_positions(ax: Axes, gid: str = "grid") -> list[tuple[int, int]]:
    """The ``(row, col)`` of every cell drawn by ``draw_cells`` / ``draw_grid`` with this ``gid``."""
    positions = []
    for collection in ax.collections:
        if collection.get_gid() == gid:
            for path in collection.get_paths():
                x, y = np.asarray(path.vertices).min(axis=0)
                positions.append((int(round(y)), int(round(x))))
    return positions

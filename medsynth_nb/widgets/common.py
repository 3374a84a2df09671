"""Pieces every widget uses: a figure shown inside an ``Output``, a picture as PNG bytes for
an ``ipywidgets.Image``, the live training plot, and ``PatchGrid`` (an image as a grid of
clickable patches)."""
from __future__ import annotations

import io

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import clear_output, display
from PIL import Image  # Pillow comes with matplotlib

from medsynth_nb import viz


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 grey or RGB picture as PNG bytes (``W.Image.value``). Fast compression over small
    files: pictures in widgets are redrawn often."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def show_figure(out: W.Output, fig) -> None:
    with out:
        clear_output(wait=True)
        display(fig)
    plt.close(fig)


class LivePlot:
    """``on_update`` hook for ``engine.train``: redraws loss and validation curves."""

    def __init__(self, baseline: dict | None = None):
        self.baseline = baseline
        self.out = W.Output()
        self._shown = False

    def __call__(self, history) -> None:
        if not self._shown:
            display(self.out)
            self._shown = True
        show_figure(self.out, viz.plot_history(history, self.baseline))


class PatchGrid(W.GridBox):
    """An image cut into a grid of patches, one button per patch tinted with its mean
    brightness, so the grid looks like the image; clicking one selects it and calls
    ``on_select(row, col)``. Buttons rather than clicks on a picture: core ipywidgets only,
    so it works in JupyterLab, Notebook and Colab alike. CSS classes carry ``name``:
    ``medsynth-<name>-grid``, ``-patch-<row>-<col>`` and ``-selected`` on the chosen one."""

    def __init__(self, image: np.ndarray, grid: tuple[int, int], patch_px: int, on_select, name: str):
        self.grid, self.name, self.on_select = grid, name, on_select
        gh, gw = grid
        means = image[:gh * patch_px, :gw * patch_px].reshape(gh, patch_px, gw, patch_px).mean((1, 3)).flatten()
        span = (means.max() - means.min()) or 1.0
        self.tints = [f"#{g:02x}{g:02x}{g:02x}" for g in (255 * (means - means.min()) / span).astype(int)]
        self.buttons = [self._button(r, c) for r in range(gh) for c in range(gw)]
        side = max(12, min(40, 320 // gw))  # about 320 px wide, whatever the grid
        super().__init__(self.buttons, layout=W.Layout(grid_template_columns=f"repeat({gw}, {side}px)",
                                                       grid_auto_rows=f"{side}px", grid_gap="1px"))
        self.add_class(f"medsynth-{name}-grid")
        self.selected = 0

    def _button(self, row: int, col: int) -> W.Button:
        button = W.Button(tooltip=f"patch row {row + 1}, column {col + 1}",
                          layout=W.Layout(width="100%", height="100%", padding="0", margin="0"))
        button.style.button_color = self.tints[row * self.grid[1] + col]
        button.add_class(f"medsynth-{self.name}-patch")
        button.add_class(f"medsynth-{self.name}-patch-{row}-{col}")
        button.on_click(lambda _: self.select(row, col))
        return button

    def select(self, row: int, col: int) -> None:
        """Highlight patch (row, col) (0-based) and call ``on_select`` with it."""
        gh, gw = self.grid
        if not (0 <= row < gh and 0 <= col < gw):
            raise ValueError(f"patch ({row}, {col}) is outside the {gh} x {gw} grid (rows 0..{gh - 1}, "
                             f"columns 0..{gw - 1}).")
        previous, self.selected = self.selected, row * gw + col
        self.buttons[previous].style.button_color = self.tints[previous]
        self.buttons[previous].remove_class(f"medsynth-{self.name}-selected")
        self.buttons[self.selected].style.button_color = viz.QUERY_COLOR
        self.buttons[self.selected].add_class(f"medsynth-{self.name}-selected")
        self.on_select(row, col)

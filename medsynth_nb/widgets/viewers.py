"""Viewers: ``SliceViewer`` (modality buttons, slice slider, window/level, label overlay),
``TaskPicker`` (sources and target of a task), ``ForwardProcessViewer`` (a slider over the
diffusion step t, chapter 03)."""
from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from medsynth_nb import viz
from medsynth_nb.orientation import axial
from medsynth_nb.widgets import common


class SliceViewer(W.VBox):
    """Browse 3-D volumes (``[x, y, z]``, axial slices) of several modalities.

    ``volumes``: {modality: volume}; ``labels``: optional {"tumor": ..., "tissue": ...}
    label volumes to overlay; ``physical``: volumes are in HU / scanner units (True) or
    normalised to [0, 1] (False).
    """

    def __init__(self, volumes: dict[str, np.ndarray], labels: dict[str, np.ndarray] | None = None, *,
                 physical: bool = True, start_slice: int | None = None, size: float = 4.5):
        shapes = {v.shape for v in volumes.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"SliceViewer needs 3-D volumes of one shape, got shapes {sorted(shapes)}.")
        self.volumes, self.labels, self.physical, self.size = volumes, labels or {}, physical, size
        depth = next(iter(shapes))[2]
        self.modality = W.ToggleButtons(options=[(viz.MODALITY_TITLES.get(m, m), m) for m in volumes],
                                        description="contrast", style={"button_width": "76px"})
        self.slice = W.IntSlider(value=depth // 2 if start_slice is None else start_slice, min=0, max=depth - 1,
                                 description="axial slice", continuous_update=False)
        self.slice.add_class("medsynth-slice-slider")
        self.window = W.FloatRangeSlider(description="window", continuous_update=False, readout_format=".3g")
        self.overlay = W.Dropdown(options=["none", *self.labels], value="none", description="overlay")
        self.image = W.Output()
        self.image.add_class("medsynth-slice-image")
        super().__init__([self.modality, W.HBox([self.slice, self.overlay]), self.window, self.image])
        self.add_class("medsynth-slice-viewer")
        self._reset_window()
        self.modality.observe(lambda _: (self._reset_window(), self.draw()), "value")
        for control in (self.slice, self.window, self.overlay):
            control.observe(lambda _: self.draw(), "value")
        self.draw()

    @classmethod
    def from_subject(cls, subject, **kwargs) -> "SliceViewer":
        return cls(subject.images, {"tumor": subject.tumor, "tissue": subject.tissue}, **kwargs)

    def _reset_window(self) -> None:
        volume = self.volumes[self.modality.value]
        lo, hi = float(volume.min()), float(volume.max())
        default = viz.window(self.modality.value, volume, self.physical)
        with self.window.hold_trait_notifications():
            self.window.min, self.window.max = min(lo, default[0]), max(hi, default[1], lo + 1e-6)
            self.window.step = (self.window.max - self.window.min) / 200
            self.window.value = default

    def draw(self) -> None:
        m, k = self.modality.value, self.slice.value
        fig, ax = plt.subplots(figsize=(self.size, self.size))
        lo, hi = self.window.value
        ax.imshow(axial(self.volumes[m], k), cmap="gray", vmin=lo, vmax=hi)
        if self.overlay.value != "none":
            viz.overlay(ax, axial(self.labels[self.overlay.value], k), self.overlay.value)
        ax.set_title(f"{viz.MODALITY_TITLES.get(m, m)}  slice {k}")
        ax.axis("off")
        fig.tight_layout()
        common.show_figure(self.image, fig)


class ForwardProcessViewer(W.VBox):
    """A slider over the diffusion step t: the image noised to t under each schedule
    ({name: MONAI scheduler}) and where t sits on each schedule's SNR curve."""

    def __init__(self, image: np.ndarray, schedulers: dict, seed: int = 0):
        self.image, self.schedulers, self.seed = image, schedulers, seed
        last = min(s.num_train_timesteps for s in schedulers.values()) - 1
        self.step = W.IntSlider(value=last // 4, min=0, max=last, description="step t", continuous_update=False)
        self.step.add_class("medsynth-forward-slider")
        self.figure = W.Output()
        super().__init__([self.step, self.figure])
        self.step.observe(lambda _: self.draw(), "value")
        self.draw()

    def draw(self) -> None:
        common.show_figure(self.figure, viz.forward_process(self.image, self.schedulers, [self.step.value], self.seed))


class TaskPicker(W.HBox):
    """Pick the synthesis task: one or more source contrasts and a target.

    ``picker.task`` is the task string (``"t1,t2:flair"``) the next cells read; change
    the selection, then re-run the cells below it.
    """

    def __init__(self, sources=("t1",), target: str = "t2", modalities=("t1", "t2", "pd", "flair", "t1ce", "ct", "pet")):
        self.sources = W.SelectMultiple(options=[(viz.MODALITY_TITLES[m], m) for m in modalities], value=tuple(sources),
                                        description="from", rows=len(modalities))
        self.target = W.Dropdown(options=[(viz.MODALITY_TITLES[m], m) for m in modalities], value=target,
                                 description="to")
        self.status = W.HTML()
        super().__init__([self.sources, self.target, self.status])
        self.add_class("medsynth-task-picker")
        for control in (self.sources, self.target):
            control.observe(lambda _: self._update(), "value")
        self._update()

    @property
    def task(self) -> str:
        chosen = [m for m in self.sources.value if m != self.target.value]
        if not chosen:
            raise ValueError("Pick at least one source contrast different from the target.")
        return f"{','.join(chosen)}:{self.target.value}"

    def _update(self) -> None:
        try:
            self.status.value = f"task: <b>{self.task}</b> (re-run the cells below to use it)"
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{err}</span>"

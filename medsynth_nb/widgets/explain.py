"""``ExplainImage`` (chapter 05): a model's output, error, uncertainty and attributions for
a clicked region, with plain-language captions."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from medsynth_nb import metrics, viz
from medsynth_nb.widgets import common
from medsynth_nb.widgets.common import PatchGrid


class ExplainImage(W.VBox):
    """"Explain this image": pick a model and an image, click a region of the synthetic output;
    see the inputs, the output, the truth and error (where a truth exists), the model's
    uncertainty and which input pixels and sequences the clicked region came from. Every
    panel has a plain-language caption; nothing needs code.

    ``methods``: {label: ``uncertainty.UncertaintyMethod``} — each gives the synthetic image
    and its uncertainty; its ``model`` (None for diffusion sampling) is what the attribution
    explains. ``images``: {label: (source 1 x C x H x W, truth H x W or None)}, e.g. from
    ``images_from_slices``; ``add_image`` adds one later (a loaded NIfTI). ``task``: the
    methods' task (sources -> target). Results are cached per (model, image) and per region,
    so going back is instant; anything slow says so in the status line first.
    """

    def __init__(self, methods: dict, images: dict, task, *, grid: int = 8, attribution: str = "integrated_gradients"):
        from medsynth_nb.analysis import attribution as explain
        from medsynth_nb.tasks import parse_task

        if not methods or not images:
            raise ValueError("ExplainImage needs at least one method and one image.")
        self.methods, self.images, self.task = dict(methods), dict(images), parse_task(task)
        self.grid_size = grid
        self._estimates: dict = {}
        self._attributions: dict = {}
        self.model = W.Dropdown(options=list(self.methods), description="model")
        self.image = W.Dropdown(options=list(self.images), description="image")
        self.method = W.Dropdown(options=[(m.replace("_", " "), m) for m in explain.METHODS], value=attribution,
                                 description="attribution")
        for control, name in ((self.model, "model"), (self.image, "image"), (self.method, "method")):
            control.add_class(f"medsynth-explain-{name}")
        self.status = W.HTML()
        self.status.add_class("medsynth-explain-status")
        self.figure = W.Output()
        self.figure.add_class("medsynth-explain-image")
        self.grid_box = W.Box()
        help_text = W.HTML("<b>Click a square</b> of the image grid to ask which input pixels and which sequences "
                           "produced that part of the synthetic image.")
        controls = W.VBox([self.model, self.image, self.method, self.status], layout=W.Layout(margin="0 0 0 12px"))
        super().__init__([help_text, W.HBox([self.grid_box, controls]), self.figure])
        self.add_class("medsynth-explain")
        self.model.observe(lambda _: self.draw(), "value")
        self.method.observe(lambda _: self.draw(), "value")
        self.image.observe(lambda _: self._new_grid(), "value")
        self._new_grid()

    def add_image(self, label: str, source, truth=None) -> None:
        """Add an image (source 1 x C x H x W in the methods' input order, normalised to
        [0, 1]; truth H x W or None) and show it."""
        import torch

        source = torch.as_tensor(source, dtype=torch.float32)
        expected = (1, len(self.task.sources), *next(iter(self.images.values()))[0].shape[-2:])
        if tuple(source.shape) != expected:
            raise ValueError(f"image {label!r}: source shape {tuple(source.shape)}, expected {expected} "
                             f"(1 x one channel per source {list(self.task.sources)} x H x W).")
        self.images[label] = (source, truth)
        self.image.options = list(self.images)
        self.image.value = label

    @property
    def region(self) -> tuple[int, int, int, int]:
        """The clicked box (r0, r1, c0, c1) in pixels."""
        row, col = divmod(self.patches.selected, self.grid_size)
        return row * self.patch_px, (row + 1) * self.patch_px, col * self.patch_px, (col + 1) * self.patch_px

    def select(self, row: int, col: int) -> None:
        """Click the grid square (row, col) in code."""
        self.patches.select(row, col)

    def _new_grid(self) -> None:
        source, _ = self.images[self.image.value]
        size = source.shape[-1]
        self.patch_px = size // self.grid_size
        center = self.grid_size // 2
        self.patches = PatchGrid(np.asarray(source[0, 0]), (self.grid_size,) * 2, self.patch_px,
                                 lambda *_: self.draw(), "explain")
        self.grid_box.children = [self.patches]
        self.patches.select(center, center)

    def _say(self, text: str) -> None:
        self.status.value = text

    def _estimate(self):
        key = (self.model.value, self.image.value)
        if key not in self._estimates:
            method = self.methods[self.model.value]
            self._say(f"computing the synthetic image and its uncertainty ({method.cost()}) …")
            source = self.images[self.image.value][0]
            estimate = method(source)
            self._estimates[key] = (estimate.mean[0, 0].cpu().numpy(), estimate.std[0, 0].cpu().numpy())
        return self._estimates[key]

    def _attribution(self):
        from medsynth_nb.analysis import attribution as explain

        model = self.methods[self.model.value].model
        if model is None:
            return None, None
        key = (self.model.value, self.image.value, self.method.value, self.region)
        if key not in self._attributions:
            self._say(f"computing the {self.method.value.replace('_', ' ')} attribution of the box …")
            source = self.images[self.image.value][0].to(next(model.parameters()).device)
            r0, r1, c0, c1 = self.region
            mask = explain.region_mask(source.shape[-2:], box=(r0, r1, c0, c1))
            values = explain.attribute(model, source, mask, self.method.value)
            shares = explain.modality_shares(values, list(self.task.sources)) if values.shape[1] > 1 else None
            self._attributions[key] = (values[0].detach().cpu().numpy(), shares)
        return self._attributions[key]

    def captions(self, output, uncertainty, truth, shares) -> dict[str, str]:
        """Plain-language captions for the panels, with this image's numbers."""
        target = viz.MODALITY_TITLES.get(self.task.target, self.task.target)
        names = ", ".join(viz.MODALITY_TITLES.get(m, m) for m in self.task.sources)
        head = output > 0.02 if truth is None else truth > 0.02
        text = {"inputs": f"What the scanner gave ({names}): the model's only information.",
                "output": f"{target} made by {self.model.value}: a prediction, not a measurement.",
                "uncertainty": f"Bright = the model is less sure. Mean in the head {uncertainty[head].mean():.3f}."}
        if truth is not None:
            error = np.abs(output - truth)
            rho = metrics.rank_correlation(uncertainty, error, head)
            text["truth"] = f"The {target} actually acquired: what the model should have made."
            text["error"] = (f"Where the synthetic image is wrong (bright). Mean in the head {error[head].mean():.3f}; "
                             f"rank correlation with the uncertainty {rho:+.2f}.")
        if self.methods[self.model.value].model is None:
            text["attribution"] = ("Not available for diffusion sampling: its output is many random denoising steps, "
                                   "not one pass of a network.")
        else:
            text["attribution"] = "Which input pixels changed the boxed region most (bright = more)."
            if shares is not None:
                text["attribution"] += " " + ", ".join(f"{viz.MODALITY_TITLES.get(m, m)} {v:.0%}"
                                                       for m, v in shares.items()) + "."
        return text

    def draw(self) -> None:
        import time

        start = time.perf_counter()
        try:
            output, uncertainty = self._estimate()
            attribution, shares = self._attribution()
        except Exception as err:  # shown in the widget: a clinician never sees a silent failure
            self._say(f"<span style='color:#b00'>Could not compute: {err}</span>")
            raise
        source, truth = self.images[self.image.value]
        inputs = {m: source[0, i].cpu().numpy() for i, m in enumerate(self.task.sources)}
        fig = viz.explain_panel(inputs, output, uncertainty, truth=truth, attribution=attribution, region=self.region,
                                shares=shares, captions=self.captions(output, uncertainty, truth, shares),
                                title=f"{self.model.value} — {self.image.value}", target=self.task.target)
        common.show_figure(self.figure, fig)
        self._say(f"done in {time.perf_counter() - start:.1f} s; box rows {self.region[0]}–{self.region[1]}, "
                  f"columns {self.region[2]}–{self.region[3]}")


def images_from_slices(slices, task, index) -> dict:
    """{label: (source 1 x C x H x W, truth H x W)} for slices ``index`` of a SliceSet, labelled
    by subject and tumour content: the images ``ExplainImage`` offers."""
    labels = {}
    for i in index:
        batch = slices.batch(task, [int(i)])
        lesion = "tumor" if slices.tumor[i].any() else "no tumour"
        labels[f"{slices.subject_ids[i]} slice {int(i)} ({lesion})"] = (batch["source"], batch["target"][0, 0].numpy())
    return labels

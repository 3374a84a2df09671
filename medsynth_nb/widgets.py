"""Interactive pieces of the chapters (ipywidgets + matplotlib).

- ``SliceViewer``: modality buttons, slice slider, window/level, label overlay.
- ``LivePlot``: a training-curve figure that redraws as the engine reports.
- ``ForwardProcessViewer``: a slider over the diffusion step t (chapter 03).
- ``PatchGrid``: an image as a grid of clickable patches (the two explorers below use it).
- ``AttentionExplorer``: click a patch, see where a transformer attends (chapter 04).
- ``ExplainImage``: a model's output, error, uncertainty and attributions for a clicked
  region, with plain-language captions (chapter 05).
- ``view_3d``: itkwidgets' 3-D viewer when installed (it loads its viewer code from the
  internet, so it cannot work offline), else orthogonal slices.
Only this module, ``lesion_painter`` (chapter 06) and notebooks import ipywidgets/IPython.
"""
from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import clear_output, display

from . import metrics, viz


def _show(out: W.Output, fig) -> None:
    with out:
        clear_output(wait=True)
        display(fig)
    plt.close(fig)


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
        ax.imshow(viz.axial(self.volumes[m], k), cmap="gray", vmin=lo, vmax=hi)
        if self.overlay.value != "none":
            viz.overlay(ax, viz.axial(self.labels[self.overlay.value], k), self.overlay.value)
        ax.set_title(f"{viz.MODALITY_TITLES.get(m, m)}  slice {k}")
        ax.axis("off")
        fig.tight_layout()
        _show(self.image, fig)


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
        _show(self.out, viz.plot_history(history, self.baseline))


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
        _show(self.figure, viz.forward_process(self.image, self.schedulers, [self.step.value], self.seed))


def view_3d(volume: np.ndarray, labels: np.ndarray | None = None):
    """3-D view: itkwidgets if it is installed (needs internet to load its viewer),
    otherwise three orthogonal slices through the centre, with a note why."""
    try:
        import itkwidgets
    except ImportError:
        print("3-D viewer: itkwidgets is not installed (pip install 'medsynth-nb[itk]'; it also needs "
              "internet to load its viewer). Showing three orthogonal slices instead.")
        cx, cy, cz = (s // 2 for s in volume.shape)
        planes = {"axial": volume[:, ::-1, cz].T, "coronal": volume[:, cy, ::-1].T, "sagittal": volume[cx, :, ::-1].T}
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
        for ax, (name, plane) in zip(axes, planes.items()):
            ax.imshow(plane, cmap="gray", vmin=0, vmax=np.percentile(volume, 99.5))
            ax.set_title(name)
            ax.axis("off")
        fig.tight_layout()
        return fig
    return itkwidgets.view(volume, label_image=labels)


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


class AttentionExplorer(W.VBox):
    """Click a patch of the image, see where the transformer looks from it.

    The left grid is the image cut into the model's patches (a ``PatchGrid``, one button per
    token); clicking one makes it the query. Dropdowns pick the layer and head. The picture
    is ``viz.attention_panel``: the query's attention in each chosen layer and the rollout
    through all of them.

    ``model``: a ResViT (anything with ``attention_maps``, ``token_grid``, ``patch_pixels``);
    ``image_or_source``: one H x W image or the model's input (B x C x H x W, the first image
    is used). The attention is computed once, here; redraws only re-plot. ``explorer.query``
    is the query's token index; ``explorer.select(row, col)`` picks a patch in code.
    """

    def __init__(self, model, image_or_source, *, query: tuple[int, int] | None = None,
                 layer: int | None = None, head: int | str | None = "mean"):
        import torch

        source = torch.as_tensor(image_or_source, dtype=torch.float32).cpu()
        source = source.reshape(1, 1, *source.shape) if source.ndim == 2 else source[:1]
        if source.ndim != 4:
            raise ValueError(f"Give one H x W image or a B x C x H x W source; got shape {tuple(source.shape)}.")
        device = next(model.parameters()).device
        self.maps = [m.cpu() for m in model.attention_maps(source.to(device))]
        self.image = source[0, 0].numpy()
        self.token_grid, self.patch_px = model.token_grid, model.patch_pixels
        gh, gw = self.token_grid
        n_heads = self.maps[0].shape[1]

        # Dropdown values cannot be None (None means "nothing selected"): "every" stands for it.
        self.layer = W.Dropdown(options=[("every layer", "every")]
                                + [(f"layer {i + 1}", i) for i in range(len(self.maps))],
                                value="every" if layer is None else layer, description="layer")
        self.head = W.Dropdown(options=[("mean of heads", "mean"), ("every head", "every")]
                               + [(f"head {i + 1}", i) for i in range(n_heads)],
                               value="every" if head is None else head, description="head")
        self.layer.add_class("medsynth-attention-layer")
        self.head.add_class("medsynth-attention-head")
        self.status = W.HTML()
        self.figure = W.Output()
        self.figure.add_class("medsynth-attention-image")
        self.patches = PatchGrid(self.image, self.token_grid, self.patch_px, self._queried, "attention")
        help_text = W.HTML("<b>Click a patch</b> to see where the model looks from it "
                           f"(the {gh} x {gw} patches the transformer works on).")
        controls = W.VBox([self.layer, self.head, self.status], layout=W.Layout(margin="0 0 0 12px"))
        super().__init__([help_text, W.HBox([self.patches, controls]), self.figure])
        self.add_class("medsynth-attention-explorer")

        for control in (self.layer, self.head):
            control.observe(lambda _: self.draw(), "value")
        self.select(*(query if query is not None else (gh // 2, gw // 2)))

    @property
    def query(self) -> int:
        """The query patch's token index (row * columns + col)."""
        return self.patches.selected

    def select(self, row: int, col: int) -> None:
        """Make patch (row, col) of the token grid (0-based) the query and redraw."""
        self.patches.select(row, col)

    def _queried(self, row: int, col: int) -> None:
        self.status.value = f"query: patch row {row + 1}, column {col + 1} ({viz.QUERY_COLOR})"
        self.draw()

    def draw(self) -> None:
        layer = None if self.layer.value == "every" else self.layer.value
        head = None if self.head.value == "every" else self.head.value
        _show(self.figure, viz.attention_panel(self.image, self.maps, self.token_grid, self.patch_px, self.query,
                                               layer=layer, head=head))


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
        from . import explain
        from .data.datasets import parse_task

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
        centre = self.grid_size // 2
        self.patches = PatchGrid(np.asarray(source[0, 0]), (self.grid_size,) * 2, self.patch_px,
                                 lambda *_: self.draw(), "explain")
        self.grid_box.children = [self.patches]
        self.patches.select(centre, centre)

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
        from . import explain

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
            rho = metrics.uncertainty_vs_error(uncertainty, error, head)
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
        _show(self.figure, fig)
        self._say(f"done in {time.perf_counter() - start:.1f} s; box rows {self.region[0]}–{self.region[1]}, "
                  f"columns {self.region[2]}–{self.region[3]}")


def images_from_slices(slices, task, index) -> dict:
    """{label: (source 1 x C x H x W, truth H x W)} for slices ``index`` of a SliceSet, labelled
    by subject and tumour content: the images ``ExplainImage`` offers."""
    labels = {}
    for i in index:
        batch = slices.batch(task, [int(i)])
        lesion = "tumour" if slices.tumor[i].any() else "no tumour"
        labels[f"{slices.subject_ids[i]} slice {int(i)} ({lesion})"] = (batch["source"], batch["target"][0, 0].numpy())
    return labels

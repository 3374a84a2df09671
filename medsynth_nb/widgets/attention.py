"""``AttentionExplorer`` (chapter 04): click a patch, see where a transformer attends."""
from __future__ import annotations

import ipywidgets as W

from medsynth_nb import viz
from medsynth_nb.widgets import common
from medsynth_nb.widgets.common import PatchGrid


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
        common.show_figure(self.figure, viz.attention_panel(self.image, self.maps, self.token_grid, self.patch_px, self.query,
                                               layer=layer, head=head))

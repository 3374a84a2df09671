"""Widgets as a static page can show them: what the run left on screen, without a kernel.

An executed notebook keeps its widgets' last state in its metadata (nbclient saves it). A
static page has no kernel, and the widget JavaScript would come from a CDN, so each widget
output is replaced by plain outputs made from that state:

- an ``Output`` widget by the outputs it holds (the live training curves: their last figure);
- an ``Image`` by its picture;
- a row of text and progress bars (tqdm's bar) by one line of HTML, the bar as ``<progress>``;
- a control (slider, menu, buttons) by its label and value, and a note that it is
  interactive in Jupyter. Buttons (the explain grid's squares) and anywidget views (the 3-D
  viewer) have no static form; the note stands for them.
"""
from __future__ import annotations

import html

import nbformat

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
INTERACTIVE_NOTE = ("<p><em>Interactive in Jupyter: run the chapter (Colab, Binder or <code>make lab</code>) "
                    "to use it. Shown here as the run left it.</em></p>")
_CONTROLS = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
             "FloatRangeSliderModel", "DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "SelectModel",
             "SelectMultipleModel", "SelectionSliderModel", "CheckboxModel", "ToggleButtonModel", "TextModel",
             "BoundedIntTextModel", "BoundedFloatTextModel", "IntTextModel", "FloatTextModel"}
_WITHOUT_VALUE = {"ButtonModel", "FileUploadModel", "EventModel", "AnyModel"}  # interactive, nothing to show
LINE_STYLE = "font-family: monospace; font-size: 0.8em"  # a progress line as small as a log line
_BOXES = {"HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"}


def _html(text: str) -> dict:
    return nbformat.v4.new_output("display_data", data={"text/html": text})


def _control(state: dict) -> str:
    """A control's label and value as inline HTML."""
    labels = state.get("_options_labels")
    if labels is not None:
        index = state.get("index")
        indices = index if isinstance(index, (list, tuple)) else [index]
        value = ", ".join(str(labels[i]) for i in indices if i is not None and 0 <= i < len(labels))
    else:
        value = state.get("value")
        value = "–".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    label = state.get("description") or ""
    return f"<b>{html.escape(label)}</b> {html.escape(value)}" if label else html.escape(value)


class _Page:
    """Walks one widget's tree in the saved state, collecting outputs and inline pieces."""

    def __init__(self, models: dict):
        self.models, self.outputs, self.line, self.interactive = models, [], [], False

    def flush(self) -> None:
        if self.line:
            self.outputs.append(_html(f'<div class="medsynth-static-widget" style="{LINE_STYLE}">'
                                      f'{" ".join(self.line)}</div>'))
            self.line = []

    def walk(self, model_id: str) -> None:
        model = self.models.get(model_id.removeprefix("IPY_MODEL_"))
        if model is None:
            return
        name, state = model["model_name"], model["state"]
        if name == "OutputModel":
            self.flush()
            self.outputs += static_outputs(state.get("outputs", []), self.models)
        elif name == "ImageModel":
            self.flush()
            buffer = next((b for b in model.get("buffers", []) if b.get("path") == ["value"]), None)
            if buffer is not None and state.get("format", "png") in ("png", "jpeg"):
                mime = f"image/{state.get('format', 'png')}"
                self.outputs.append(nbformat.v4.new_output("display_data", data={mime: buffer["data"]}))
        elif name in _BOXES:
            for child in state.get("children", []):
                self.walk(child)
            if name != "HBoxModel":  # a row stays one line; a column or grid starts a new one per box
                self.flush()
        elif name in ("HTMLModel", "HTMLMathModel"):
            self.line.append(str(state.get("value", "")))
        elif name == "LabelModel":
            self.line.append(html.escape(str(state.get("value", ""))))
        elif name in ("FloatProgressModel", "IntProgressModel"):
            self.line.append(f'<progress value="{state.get("value", 0)}" max="{state.get("max", 100)}"></progress>')
        elif name in _CONTROLS:
            self.interactive = True
            self.line.append(_control(state))
        elif name in _WITHOUT_VALUE:
            self.interactive = True


def static_outputs(outputs: list, models: dict) -> list:
    """``outputs`` with every widget view whose state ``models`` holds replaced by its static
    form (see the module's docstring); other outputs as they are."""
    result = []
    for output in outputs:
        view = output.get("data", {}).get(VIEW)
        if view is None or view.get("model_id") not in models:
            result.append(output)
            continue
        page = _Page(models)
        page.walk(view["model_id"])
        page.flush()
        result += page.outputs + ([_html(INTERACTIVE_NOTE)] if page.interactive else [])
    return result


def freeze_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the executed notebook ``nb`` whose widget outputs are static outputs, and
    without the widget state (a page without widgets loads no widget JavaScript)."""
    page = nbformat.from_dict(nb)
    models = page.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    for cell in page.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in static_outputs(cell.outputs, models)]
    page.metadata.pop("widgets", None)
    return page

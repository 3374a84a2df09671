"""The site shows widgets as the run left them: an Output widget's figure, an image, a
progress line, a control's value, and a note where the page cannot be interactive."""
from __future__ import annotations

import re

import nbformat

from medsynth_nb.course import site
from medsynth_nb.course.notebook_runner import execute_notebook
from medsynth_nb.course.static_widgets import INTERACTIVE_NOTE, VIEW, freeze_widgets, static_outputs

PNG = "iVBORw0KGgo="  # stands for a picture's base64: only its place in the outputs is checked


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def _view(model_id: str) -> dict:
    return nbformat.v4.new_output("display_data", data={VIEW: {"model_id": model_id, "version_major": 2,
                                                               "version_minor": 0},
                                                        "text/plain": "Output()"})


def test_a_progress_row_becomes_one_line_with_the_bar():
    models = {"row": _model("HBoxModel", children=["IPY_MODEL_a", "IPY_MODEL_bar", "IPY_MODEL_b"]),
              "a": _model("HTMLModel", value="train: 100%"),
              "bar": _model("FloatProgressModel", value=400.0, max=400.0),
              "b": _model("HTMLModel", value=" 400/400 [02:21&lt;00:00]")}
    [line] = static_outputs([_view("row")], models)
    text = line["data"]["text/html"]
    assert "train: 100%" in text and "400/400 [02:21&lt;00:00]" in text
    assert '<progress value="400.0" max="400.0"></progress>' in text
    assert INTERACTIVE_NOTE not in text


def test_a_viewer_shows_its_control_its_picture_and_says_it_is_interactive():
    models = {"viewer": _model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_menu", "IPY_MODEL_out"]),
              "slider": _model("IntSliderModel", description="step t", value=249),
              "menu": _model("DropdownModel", description="image", _options_labels=["first", "second"], index=1),
              "out": _model("OutputModel", outputs=[{"output_type": "display_data", "metadata": {},
                                                     "data": {"image/png": PNG, "text/plain": "<Figure>"}}])}
    outputs = static_outputs([_view("viewer")], models)
    assert [list(o["data"]) for o in outputs] == [["text/html"], ["image/png", "text/plain"], ["text/html"]]
    controls = outputs[0]["data"]["text/html"]
    assert "<b>step t</b> 249" in controls and "<b>image</b> second" in controls
    assert outputs[1]["data"]["image/png"] == PNG
    assert outputs[2]["data"]["text/html"] == INTERACTIVE_NOTE


def test_an_image_widget_shows_its_picture_and_unknown_views_keep_their_text():
    models = {"img": {**_model("ImageModel", format="png"), "buffers": [{"path": ["value"], "data": PNG,
                                                                         "encoding": "base64"}]}}
    [picture] = static_outputs([_view("img")], models)
    assert picture["data"] == {"image/png": PNG}
    lost = _view("not-in-the-state")
    assert static_outputs([lost], models) == [lost], "a view without saved state keeps its text form"


def test_an_executed_chapter_page_shows_the_live_plot_and_the_bar_without_widget_code(tmp_path):
    chapters = tmp_path / "notebooks"
    chapters.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Chapter 00 — widgets\n\n**Learning goals.** After this chapter you can\n"
                                      "1. watch a bar;\n2. watch a curve;\n3. read both later.\n"),
        nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='training'):\n    pass"),
        # What LivePlot does: a figure drawn into an Output widget shown before it is drawn.
        nbformat.v4.new_code_cell("import ipywidgets as W, matplotlib.pyplot as plt\nfrom IPython.display import "
                                  "display\nout = W.Output()\ndisplay(out)\nwith out:\n    plt.plot([3, 1, 2])\n"
                                  "    plt.show()"),
    ]
    chapter = chapters / "00_widgets.ipynb"
    nbformat.write(nb, chapter)
    executed = nbformat.read(chapter, as_version=4)
    execute_notebook(executed, chapters, timeout=120)
    frozen = freeze_widgets(executed)
    assert "widgets" not in frozen.metadata
    assert not any(VIEW in o.get("data", {}) for c in frozen.cells[1:] for o in c.outputs)
    assert any("image/png" in o.get("data", {}) for o in frozen.cells[2].outputs), "the Output widget's figure"

    site.save_executed(executed, chapter, "smoke", tmp_path / "executed")
    html = tmp_path / "html"
    site.build_site(html, executed_folder=tmp_path / "executed", execute_missing=False, chapters=[chapter])
    page = (html / "notebooks" / "00_widgets.html").read_text()
    assert re.search(r'<img[^>]+src="[^"]+\.png"', page), "the figure the Output widget held is on the page"
    assert re.search(r"training:\s100%\s<progress", page), "the finished bar"  # tqdm spaces with U+2007
    assert "Output()" not in page and "html-manager" not in page, "no widget placeholder, no widget JavaScript"

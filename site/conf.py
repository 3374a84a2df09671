"""Sphinx configuration of the course website (``make site``; see medsynth_nb/course/site.py
for why Sphinx + MyST-NB rather than Jupyter Book 2)."""
project = "MedSynth Notebooks"
author = "MedSynth Notebooks contributors"
copyright = "MedSynth Notebooks contributors, Apache-2.0"

# MathJax from the site itself (sphinx-mathjax-offline ships MathJax 3.2.2), not from a CDN: the pages' equations
# render on a workshop machine without internet too.
extensions = ["myst_nb", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"          # pages show the outputs of an executed run, never run here
nb_merge_streams = True
# Widgets have no kernel on a static page: course/static_widgets.py turns them into plain outputs first;
# one it cannot (no saved state) shows its text form.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_title = "MedSynth Notebooks"
html_theme_options = {
    "repository_url": "https://github.com/medsynth-notebooks/medsynth-notebooks",
    "repository_branch": "main",
    "path_to_docs": "",            # a page's path is its notebook's path in the repository (notebooks/...)
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com",
                       "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}
exclude_patterns = ["_build"]

"""Interactive pieces of the chapters (ipywidgets + matplotlib), one module per topic. Only
this package (and notebooks) imports ipywidgets/IPython: the rest of ``medsynth_nb`` runs
headless.

``common`` (LivePlot, PatchGrid), ``viewers`` (SliceViewer, TaskPicker,
ForwardProcessViewer), ``attention`` (AttentionExplorer, chapter 04), ``explain``
(ExplainImage, chapter 05), ``lesion_painter`` (LesionPainter, chapter 06),
``lesion_view3d`` (LesionVolumeView in NiiVue, chapter 06), ``reader_study``
(ReaderStudyWidget, chapter 09).
"""
from medsynth_nb.widgets.attention import AttentionExplorer
from medsynth_nb.widgets.common import LivePlot, PatchGrid
from medsynth_nb.widgets.explain import ExplainImage, images_from_slices
from medsynth_nb.widgets.lesion_painter import LesionPainter, on_canvas
from medsynth_nb.widgets.lesion_view3d import LesionVolumeView, PhysicsPreview
from medsynth_nb.widgets.reader_study import ReaderStudyWidget
from medsynth_nb.widgets.viewers import ForwardProcessViewer, SliceViewer, TaskPicker

__all__ = ["AttentionExplorer", "ExplainImage", "ForwardProcessViewer", "LesionPainter", "LesionVolumeView",
           "LivePlot", "PatchGrid", "PhysicsPreview", "ReaderStudyWidget", "SliceViewer", "TaskPicker",
           "images_from_slices", "on_canvas"]

"""Interactive pieces of the chapters (ipywidgets + matplotlib), one module per topic. Only
this package (and notebooks) imports ipywidgets/IPython: the rest of ``medsynth_nb`` runs
headless.

``common`` (LivePlot, PatchGrid), ``viewers`` (SliceViewer, TaskPicker,
ForwardProcessViewer), ``attention`` (AttentionExplorer, chapter 04), ``explain``
(ExplainImage, chapter 05), ``lesion_painter`` (LesionPainter, chapter 06),
``lesion_view3d`` (LesionVolumeView in NiiVue, chapter 06), ``reader_study``
(ReaderStudyWidget, chapter 09), ``volume_view`` (view_3d: a 3-D volume in itkwidgets or
NiiVue, chapter 00), ``apps`` (explain_app, lesion_painter_app: the browser apps for
clinicians in ``apps/``, served by Voilà with ``make app``).
"""
from medsynth_nb.widgets.apps import explain_app, lesion_painter_app
from medsynth_nb.widgets.attention import AttentionExplorer
from medsynth_nb.widgets.common import LivePlot, PatchGrid
from medsynth_nb.widgets.explain import ExplainImage, images_from_slices
from medsynth_nb.widgets.lesion_painter import LesionPainter, on_canvas
from medsynth_nb.widgets.lesion_view3d import LesionVolumeView, PhysicsPreview
from medsynth_nb.widgets.reader_study import ReaderStudyWidget
from medsynth_nb.widgets.viewers import ForwardProcessViewer, SliceViewer, TaskPicker
from medsynth_nb.widgets.volume_view import choose_backend, view_3d

__all__ = ["AttentionExplorer", "ExplainImage", "ForwardProcessViewer", "LesionPainter", "LesionVolumeView",
           "LivePlot", "PatchGrid", "PhysicsPreview", "ReaderStudyWidget", "SliceViewer", "TaskPicker",
           "choose_backend", "explain_app", "images_from_slices", "lesion_painter_app", "on_canvas", "view_3d"]

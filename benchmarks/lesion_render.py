"""Lesion painter speed on one core: the time from releasing the mouse to both new pictures
(stroke + render of T1w, T1w + Gd, T2w, FLAIR + the label and contrast PNGs the widget
shows) at 128 x 128, median over 20 strokes (target <= 1 s); and the preview redrawn on
each mouse move while dragging.

    python benchmarks/lesion_render.py                      # the phantom's physics renders
    python benchmarks/lesion_render.py --learned concat     # chapter 06's learned renderer (or spade),
                                                            # with the physics as reference row

The learned renderer's time does not depend on its weights, so an untrained one is timed. The
figures are saved as the run record ``results/lesion_render[-learned-<conditioning>].json``
unless ``--no-record``.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core, before numpy/torch load

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from medsynth_nb.course.results import RunRecord, this_command  # noqa: E402
from medsynth_nb.data import phantom  # noqa: E402
from medsynth_nb.data.lesion_pairs import EditCanvas  # noqa: E402
from medsynth_nb.models.lesion_renderer import CONDITIONINGS, LesionRenderer  # noqa: E402
from medsynth_nb.widgets.lesion_painter import LesionPainter, on_canvas  # noqa: E402

torch.set_num_threads(1)
N_STROKES, SIZE = 20, 128

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--learned", choices=CONDITIONINGS, help="time a learned renderer instead of the physics")
parser.add_argument("--no-record", action="store_true", help="write no run record under results/")
args = parser.parse_args()
subject = phantom.make_subject(0, *phantom.axial_grid(SIZE, 1), tumor=None)
if args.learned:
    renderer = LesionRenderer(args.learned).eval()  # the chapter's cpu-profile widths
    painter = LesionPainter(subject, renderer=on_canvas(renderer.render_on), reference=on_canvas(EditCanvas.physics))
    what = f"learned ({args.learned}) render + physics reference"
else:
    painter = LesionPainter(subject)
    what = "physics render"
rng = np.random.default_rng(0)
inside = np.argwhere(painter.editor.brain_mask & np.roll(painter.editor.brain_mask, (12, 12), (0, 1))
                     & np.roll(painter.editor.brain_mask, (-12, -12), (0, 1)))  # room for a 10 px drag
z = painter.zoom


def event(kind, point):
    """An ipyevents mouse event over label pixel ``point``, the picture shown at its PNG size."""
    shown = SIZE * z
    return {"type": kind, "button": 0, "relativeX": round((point[1] + 0.5) * z),
            "relativeY": round((point[0] + 0.5) * z), "boundingRectWidth": shown, "boundingRectHeight": shown}


strokes, renders, previews = [], [], []
for i in range(N_STROKES):
    painter.pen.value = int(rng.integers(1, 4))
    start = inside[rng.integers(len(inside))]
    path = start + np.cumsum(rng.integers(-1, 2, (8, 2)), 0)  # a short wiggly drag
    painter.handle_event(event("mousedown", start))
    for point in path:
        began = time.perf_counter()
        painter.handle_event(event("mousemove", point))
        previews.append(time.perf_counter() - began)
    began = time.perf_counter()
    painter.handle_event(event("mouseup", path[-1]))
    strokes.append(time.perf_counter() - began)
    renders.append(painter.render_seconds)
    assert "re-rendered" in painter.status.value, painter.status.value  # a refused stroke would not count

print(f"{SIZE}x{SIZE}, {N_STROKES} strokes, 1 core: stroke to new pictures median {np.median(strokes) * 1000:.0f} ms "
      f"(max {max(strokes) * 1000:.0f} ms; target <= 1000 ms), of it the {what} "
      f"{np.median(renders) * 1000:.0f} ms; preview per mouse move median {np.median(previews) * 1000:.0f} ms")

if not args.no_record:
    command = this_command()
    run = RunRecord("lesion_render" + (f"-learned-{args.learned}" if args.learned else ""),
                    f"Lesion painter speed, one core: {what}", command,
                    profile="cpu (the renderer's widths)" if args.learned else "none (one CPU core)")
    run.add("stroke to new pictures: median (ms)", round(np.median(strokes) * 1000),
            note=f"{SIZE}x{SIZE}, {N_STROKES} strokes; target <= 1000 ms")
    run.add("stroke to new pictures: max (ms)", round(max(strokes) * 1000))
    run.add("of it the render: median (ms)", round(np.median(renders) * 1000), note=what)
    run.add("preview per mouse move: median (ms)", round(np.median(previews) * 1000), note=f"{len(previews)} moves")
    print(f"record: {run.save()}")

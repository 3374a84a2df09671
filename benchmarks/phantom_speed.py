"""Phantom speed on one core: a 128 x 128 seven-modality slice subject (target <= 0.2 s)
and a whole-head 3-D volume at 2 mm (target <= 5 s), saved as the run record
``results/phantom_speed.json`` unless ``--no-record``.

    python benchmarks/phantom_speed.py [--no-record]
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core, before numpy/torch load

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from medsynth_nb.course.results import RunRecord, this_command  # noqa: E402
from medsynth_nb.data import phantom  # noqa: E402
from medsynth_nb.data.anatomy import load_atlas  # noqa: E402

torch.set_num_threads(1)


def best_of(fn, repeats):
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


command = this_command()
run = RunRecord("phantom_speed", "Phantom speed (one core)", command, profile="none (one CPU core)")

load_atlas()
phantom.make_subject(0)  # warm caches
slice_shape, slice_affine = phantom.axial_grid(128)
best, median = best_of(lambda i: phantom.make_subject(i, slice_shape, slice_affine), 20)
print(f"2-D slice 128x128, 7 modalities + labels: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms (target <= 200 ms)")
run.add("2-D slice 128x128, 7 modalities + labels: best (ms)", round(best * 1000), note="of 20 subjects")
run.add("2-D slice 128x128, 7 modalities + labels: median (ms)", round(median * 1000), note="target <= 200 ms")
vol_shape, vol_affine = phantom.volume_grid(2.0)
best, median = best_of(lambda i: phantom.make_subject(i, vol_shape, vol_affine), 3)
print(f"3-D volume {vol_shape} at 2 mm: best {best:.2f} s, median {median:.2f} s (target <= 5 s)")
run.add("3-D volume at 2 mm: best (s)", round(best, 2), note=f"of 3 subjects, {vol_shape} voxels")
run.add("3-D volume at 2 mm: median (s)", round(median, 2), note="target <= 5 s")
if "--no-record" not in sys.argv[1:]:
    print(f"record: {run.save()}")

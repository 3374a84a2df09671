"""``view_3d``: show a 3-D volume (and a label volume over it) in an interactive viewer.

Two viewers, chosen by ``choose_backend``:

- **NiiVue** (``ipyniivue``, installed with the course): an anywidget whose JavaScript ships
  in the wheel, so it works offline, in Jupyter, VS Code and (with Colab's custom widget
  manager, switched on here) Colab. The volume and labels are written as NIfTI into a
  temporary folder that lives as long as the widget, and loaded from there.
- **itkwidgets** (the ``itk`` extra: ``pip install 'medsynth-nb[itk]'``): loads its viewer
  from the internet at run time, so it is only picked by itself on Colab or Binder.

``backend=`` or the environment variable ``MEDSYNTH_VIEWER`` (``niivue`` / ``itkwidgets``)
overrides the choice. Nothing here probes the network.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from medsynth_nb.io import load_nifti, save_nifti

BACKENDS = ("itkwidgets", "niivue")
ENV_VAR = "MEDSYNTH_VIEWER"
ITK_INSTALL = "pip install 'medsynth-nb[itk]'"


def _importable(name: str) -> bool:
    """Whether ``import name`` would work, without importing it (a module already imported counts)."""
    if name in sys.modules:
        return sys.modules[name] is not None  # None: imports of it are blocked
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _online_notebook() -> str:
    """'Colab' or 'Binder' when the session runs there (both have the internet), else ''."""
    if _importable("google.colab"):
        return "Colab"
    if os.environ.get("BINDER_SERVICE_HOST") or os.environ.get("BINDER_REQUEST"):
        return "Binder"
    return ""


def choose_backend(backend: str | None = None) -> tuple[str, str]:
    """The 3-D viewer to use, ``("itkwidgets" | "niivue", reason)``.

    ``backend``, else ``$MEDSYNTH_VIEWER``, decides when given. Otherwise itkwidgets when it
    is installed and the session is on Colab or Binder (it needs the internet), else NiiVue
    (works offline)."""
    source = f"backend={backend!r}" if backend else f"{ENV_VAR}={os.environ.get(ENV_VAR, '')!r}"
    asked = backend or os.environ.get(ENV_VAR, "").strip()
    if asked:
        name = asked.strip().lower()
        if name not in BACKENDS:
            raise ValueError(f"Unknown 3-D viewer {asked!r} (from {source}); choose 'niivue' (offline) or "
                             "'itkwidgets' (needs the internet and the itk extra).")
        if name == "itkwidgets" and not _importable("itkwidgets"):
            raise ImportError(f"itkwidgets was asked for ({source}) but is not installed. Install it with "
                              f"{ITK_INSTALL} (then restart the kernel), or use backend='niivue'.")
        return name, f"you asked for it ({source})"
    where = _online_notebook()
    has_itk = _importable("itkwidgets")
    if has_itk and where:
        return "itkwidgets", f"it is installed and this is {where}, online (it loads its viewer from the internet)"
    if has_itk:
        return "niivue", ("it works offline; itkwidgets is installed but needs the internet, so it is only picked "
                          f"on Colab or Binder (set {ENV_VAR}=itkwidgets to use it here)")
    return "niivue", f"it works offline; for itkwidgets on Colab or Binder run {ITK_INSTALL}"


def _as_volume(volume, affine, what: str) -> tuple[np.ndarray, np.ndarray]:
    """An ``[x, y, z]`` array and its 4 x 4 affine from an array (+ affine) or a NIfTI path."""
    if isinstance(volume, (str, Path)):
        if affine is not None:
            raise ValueError(f"The {what} is a file: its affine comes from the file; do not pass affine.")
        volume, affine = load_nifti(volume, canonical=False)
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"view_3d shows a 3-D volume [x, y, z]; the {what} has shape {volume.shape}.")
    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"The affine must be 4 x 4 (voxel -> mm); got shape {affine.shape}.")
    return volume, affine


def _as_labels(labels, shape) -> np.ndarray:
    labels, _ = _as_volume(labels, None, "label volume")
    if labels.shape != shape:
        raise ValueError(f"The label volume has shape {labels.shape} but the volume {shape}: they must share the grid.")
    if labels.size and (labels.min() < 0 or not np.array_equal(labels, np.round(labels))):
        raise ValueError("Labels must be whole numbers >= 0 (0 = background).")
    return labels.astype(np.uint8 if labels.max(initial=0) <= 255 else np.int32)


def _label_lut(labels: np.ndarray):
    """NiiVue's label colours: the course's tumour colours for codes 0-3, else tab20; 0 is transparent."""
    import matplotlib.pyplot as plt
    from ipyniivue import LUT

    from medsynth_nb.data.tumor import LABELS
    from medsynth_nb.viz import TUMOR_COLORS

    top = max(int(labels.max(initial=0)), 1)
    tumour = top < len(TUMOR_COLORS)
    colors = np.array(TUMOR_COLORS[: top + 1]) if tumour else plt.get_cmap("tab20")(np.arange(top + 1) % 20)
    rgba = np.round(255 * colors).astype(int)
    rgba[:, 3], rgba[0, 3] = 255, 0
    names = [LABELS.get(k, str(k)) if tumour else str(k) for k in range(top + 1)]
    return LUT(lut=rgba.ravel().tolist(), min=0, max=top, labels=names)


def _niivue(volume, affine, labels, title, height):
    from ipyniivue import NiiVue

    from medsynth_nb.widgets.lesion_painter import _enable_colab_widgets

    _enable_colab_widgets()
    folder = tempfile.TemporaryDirectory(prefix="medsynth_view3d_")  # removed with the widget
    # A viewer's private copy, not an export: no SYNTHETIC stamp, as the data may be real.
    image_file = save_nifti(Path(folder.name) / "volume.nii.gz", volume.astype(np.float32), affine, synthetic=False)
    layers = [{"path": str(image_file), "colormap": "gray", **({"name": title} if title else {})}]
    if labels is not None:
        label_file = save_nifti(Path(folder.name) / "labels.nii.gz", labels, affine, synthetic=False)
        layers.append({"path": str(label_file), "colormap_label": _label_lut(labels), "opacity": 0.5})
    viewer = NiiVue(height=height)
    viewer.load_volumes(layers)
    viewer._medsynth_folder = folder  # keeps the files for as long as the widget lives
    return viewer


def _itkwidgets(volume, affine, labels):
    import itkwasm
    import itkwidgets

    spacing = np.linalg.norm(affine[:3, :3], axis=0)  # mm per voxel along x, y, z

    def image(array):  # itkwasm keeps [z, y, x] data with [x, y, z] spacing and origin, as ITK does
        out = itkwasm.image_from_array(np.ascontiguousarray(np.asarray(array).T))
        out.spacing, out.origin = [float(s) for s in spacing], [float(o) for o in affine[:3, 3]]
        return out

    kwargs = {"label_image": image(labels)} if labels is not None else {}
    return itkwidgets.view(image=image(volume.astype(np.float32)), **kwargs)


def view_3d(volume, affine=None, *, labels=None, backend: str | None = None, title: str | None = None,
            height: int = 480):
    """Show a 3-D volume in itkwidgets or NiiVue (see ``choose_backend``) and say which and why.

    ``volume``: an ``[x, y, z]`` array with its ``affine`` (voxel -> mm; default identity,
    1 mm voxels), or the path of a NIfTI file. ``labels``: an optional label volume on the
    same grid (array or path), drawn over it in colour. ``backend``: ``"niivue"`` or
    ``"itkwidgets"`` to choose yourself. Returns the viewer (put it last in a cell).
    itkwidgets gets the voxel grid with the affine's spacing and origin (a rotation in the
    affine is not passed on; the course's phantom grids have none)."""
    name, reason = choose_backend(backend)
    volume, affine = _as_volume(volume, affine, "volume")
    labels = None if labels is None else _as_labels(labels, volume.shape)
    what = title or f"the {'x'.join(map(str, volume.shape))} volume"
    print(f"Showing {what} with {'NiiVue' if name == 'niivue' else 'itkwidgets'} because {reason}.")
    if name == "itkwidgets":
        return _itkwidgets(volume, affine, labels)
    return _niivue(volume, affine, labels, title, height)

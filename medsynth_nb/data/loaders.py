"""``load_dataset``: one call for every chapter's data, the phantom (embedded, offline),
a fetched public dataset (``"msd_brain"``, ``"ixi"``) or a folder of your own scans
(``"folder"``)."""
from __future__ import annotations

from medsynth_nb.data.phantom_slices import load_phantom
from medsynth_nb.data.slices import SynthesisData


def load_dataset(name: str = "phantom", profile=None, **kwargs) -> SynthesisData:
    """A dataset by name, sized by ``profile`` unless sizes are given explicitly.

    ``"phantom"`` is embedded. ``"msd_brain"`` (FLAIR, T1w, T1w+Gd, T2w, tumour labels) and
    ``"ixi"`` (T1w, T2w, PD) are real public datasets: fetch them once with
    ``python -m data_fetch get NAME --accept-license``; see ``medsynth_nb.data.real``.
    ``"folder"`` reads your own scans: ``load_dataset("folder", path="my_scans/")`` (BIDS,
    flat NIfTI names or DICOM series folders; ``register=True`` registers each subject's
    modalities); see ``medsynth_nb.data.folder``.
    """
    if name == "folder":
        from medsynth_nb.data.folder import load_folder

        if "path" not in kwargs:
            raise ValueError("load_dataset('folder') needs path=, the folder that holds your scans.")
        return load_folder(kwargs.pop("path"), profile, **kwargs)
    if name != "phantom":
        from medsynth_nb.data.real import load_real  # imported here: only real data need it (and data_fetch)

        return load_real(name, profile, **kwargs)
    if profile is not None:
        kwargs.setdefault("n_subjects", profile.n_subjects)
        kwargs.setdefault("image_size", profile.image_size)
        kwargs.setdefault("slices_per_subject", profile.slices_per_subject)
    return load_phantom(**kwargs)

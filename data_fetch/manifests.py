"""What each public dataset is: where its files are, how to check them, its licence and citation.

Checksums are the publishers' (or the widely used values MONAI and TorchIO ship) where one
exists. SynthRAD2023 has none here, so its sha256 is recorded at the first download and
checked from then on ("trust on first use", see ``store.py``).
Sizes are approximate: they size the free-space check and ``list``; the progress bar uses
the server's own length.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import UnknownDatasetError

GB = 10**9


@dataclass(frozen=True)
class RemoteFile:
    filename: str          # also the name a mirror serves it under
    url: str
    approx_bytes: int
    md5: str | None        # None: no published checksum, sha256 recorded at first download

    @property
    def stem(self) -> str:
        """``IXI-T1.tar`` -> ``IXI-T1``: the folder it is extracted into."""
        for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
            if self.filename.endswith(suffix):
                return self.filename[: -len(suffix)]
        return self.filename


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    license: str
    license_url: str
    license_terms: str     # what accepting the licence commits the user to
    citation: str
    homepage: str
    files: tuple[RemoteFile, ...]
    layout: str            # the folders after extraction, under DATA_DIR/<name>/
    modalities: tuple[str, ...]
    notes: str

    @property
    def approx_bytes(self) -> int:
        return sum(f.approx_bytes for f in self.files)


IXI_URL = "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/"


def _cc_by_sa(version: str) -> dict[str, str]:
    """The licence fields of a dataset under Creative Commons BY-SA ``version``."""
    return {"license": f"CC BY-SA {version}",
            "license_url": f"https://creativecommons.org/licenses/by-sa/{version}/",
            "license_terms": "Share and adapt with attribution; derivatives under the same licence."}

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="msd_brain",
        title="Medical Segmentation Decathlon, Task01 BrainTumour (484 labelled glioma subjects, 4 MR contrasts)",
        **_cc_by_sa("4.0"),
        citation=("Antonelli M. et al. The Medical Segmentation Decathlon. Nat Commun 13, 4128 (2022). "
                  "Simpson A.L. et al. A large annotated medical image dataset for the development and "
                  "evaluation of segmentation algorithms. arXiv:1902.09063 (2019)."),
        homepage="http://medicaldecathlon.com/",
        files=(RemoteFile("Task01_BrainTumour.tar",
                          "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task01_BrainTumour.tar",
                          approx_bytes=int(7.1 * GB), md5="240a19d752f0d9e9101544901065d872"),),
        layout=("Task01_BrainTumour/Task01_BrainTumour/imagesTr/BRATS_XXX.nii.gz: 4-channel NIfTI "
                "(FLAIR, T1w, T1gd, T2w), co-registered, skull-stripped, 1 mm; labelsTr/BRATS_XXX.nii.gz: "
                "1 oedema, 2 non-enhancing tumour, 3 enhancing tumour."),
        modalities=("flair", "t1", "t1ce", "t2"),
        notes=("load_dataset('msd_brain') maps FLAIR, T1w, T1gd, T2w to flair, t1, t1ce, t2 and the labels to "
               "the course's (MSD 1 oedema -> 2 edema, 2 non-enhancing core -> 1 necrosis, 3 enhancing -> 3). "
               "Real data have no noise-free truth: `clean` is the acquired image; `tissue` is the brain "
               "mask (0/1), not a tissue map."),
    ),
    Dataset(
        name="ixi",
        title="IXI: about 580 healthy subjects, T1-, T2- and PD-weighted MR (three London hospitals)",
        **_cc_by_sa("3.0"),
        citation=("IXI dataset, Biomedical Image Analysis Group, Imperial College London, "
                  "https://brain-development.org/ixi-dataset/ (EPSRC GR/S21533/02)."),
        homepage="https://brain-development.org/ixi-dataset/",
        files=tuple(RemoteFile(f"IXI-{m}.tar", f"{IXI_URL}IXI-{m}.tar", approx_bytes=int(size * GB), md5=md5)
                    for m, size, md5 in (("T1", 4.6, "34901a0593b41dd19c1a1f746eac2d58"),
                                         ("T2", 4.6, "e3140d78730ecdd32ba92da48c0a9aaa"),
                                         ("PD", 4.3, "88ecd9d1fa33cb4a2278183b42ffd749"))),
        layout="IXI-T1/IXI002-Guys-0828-T1.nii.gz, IXI-T2/...-T2.nii.gz, IXI-PD/...-PD.nii.gz (one file per subject).",
        modalities=("t1", "t2", "pd"),
        notes=("T2 and PD come from one dual-echo acquisition (aligned); T1 is registered to T2 (rigid, mutual "
               "information) with SimpleITK (pip install SimpleITK); without it load_dataset('ixi') holds T2 and "
               "PD only. Real data have no noise-free truth: `clean` is the acquired image; `tissue` is the head "
               "mask (0/1), not a tissue map; `tumor` is all zeros (healthy subjects)."),
    ),
    Dataset(
        name="synthrad2023_brain",
        title="SynthRAD2023 Task 1 (MRI -> CT), brain and pelvis radiotherapy patients, paired and rigidly registered",
        license="CC BY-NC 4.0",
        license_url="https://creativecommons.org/licenses/by-nc/4.0/",
        license_terms=("NON-COMMERCIAL use only: by accepting you confirm you will not use these data, or models "
                       "trained on them, for commercial purposes."),
        citation=("Thummerer A. et al. SynthRAD2023 Grand Challenge dataset: generating synthetic CT for "
                  "radiotherapy. Med Phys (2023), doi:10.1002/mp.16529. Data: doi:10.5281/zenodo.7260705."),
        homepage="https://zenodo.org/records/7260705",
        files=(RemoteFile("Task1.zip", "https://zenodo.org/records/7260705/files/Task1.zip?download=1",
                          approx_bytes=14_471_900_926, md5=None),),
        layout="Task1/Task1/brain/<subject>/{mr,ct,mask}.nii.gz (and Task1/Task1/pelvis/...).",
        modalities=("t1", "ct"),
        notes=("Files on Zenodo (record 7260705); no checksum is recorded here, so the sha256 of the first "
               "download is stored next to the data and later downloads must match it (trust on first use). "
               "The course has no slice loader for it yet: read the volumes with medsynth_nb.io.load_nifti."),
    ),
)}


def manifest(name: str) -> Dataset:
    """The manifest of dataset ``name``, with a clear error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(f"Unknown dataset {name!r}; known: {', '.join(DATASETS)} "
                                  "(python -m data_fetch list).") from None


def with_checksums(dataset: Dataset, md5: dict[str, str | None],
                   approx_bytes: dict[str, int] | None = None) -> Dataset:
    """A copy of ``dataset`` whose files (by file name) have other md5 sums and sizes: for
    tests, and for a course that serves its own repackaged archives."""
    unknown = (set(md5) | set(approx_bytes or {})) - {f.filename for f in dataset.files}
    if unknown:
        raise UnknownDatasetError(f"{dataset.name} has no file(s) {sorted(unknown)}; "
                                  f"its files: {[f.filename for f in dataset.files]}.")
    files = tuple(dataclasses.replace(f, md5=md5.get(f.filename, f.md5),
                                      approx_bytes=(approx_bytes or {}).get(f.filename, f.approx_bytes))
                  for f in dataset.files)
    return dataclasses.replace(dataset, files=files)

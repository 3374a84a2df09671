"""data_fetch and the real-data loader, against a local HTTP server only.

The tests build tiny archives with each dataset's real folder layout (small NIfTI volumes
made with nibabel), serve them from http.server on 127.0.0.1 through the mirror setting,
and swap in their checksums with ``manifests.with_checksums``. Nothing reaches any other
address. Covered: get -> preprocess -> load_dataset -> batch; resume after a dropped
connection; a server that ignores Range; checksum mismatch; unsafe archives; licence
refusal; server down; free-space check; trust on first use; the CLI; resumable
preprocessing; IXI with and without SimpleITK.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage

import data_fetch
from data_fetch import manifests
from data_fetch.cli import main as cli_main
from data_fetch.store import is_fetched
from medsynth_nb.data import real
from medsynth_nb.data.lesion_pairs import edit_region, load_lesion_data, margin_px
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model
from medsynth_nb.profiles import PROFILES

REPO = Path(__file__).resolve().parents[2]
PROFILE = dataclasses.replace(PROFILES["smoke"], n_subjects=5, image_size=32, slices_per_subject=2)
VOXEL_MM = 6.0
SHAPE = (32, 32, 20)
TUMOR_CENTER_MM = (30.0, 40.0, 0.0)   # right and anterior of the centre

try:
    import SimpleITK  # noqa: F401
    HAVE_SIMPLEITK = True
except ImportError:
    HAVE_SIMPLEITK = False


# ---------------------------------------------------------------- tiny volumes and archives

def _affine(shape, voxel_mm, flip_xy=False) -> np.ndarray:
    """A grid centred on the origin; ``flip_xy`` stores it LPS-like, as MSD does."""
    signs = np.array([-1.0, -1.0, 1.0]) if flip_xy else np.ones(3)
    affine = np.diag([*(signs * voxel_mm), 1.0])
    affine[:3, 3] = -signs * voxel_mm * (np.array(shape) - 1) / 2
    return affine


def _world(shape, affine) -> np.ndarray:
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return index @ affine[:3, :3].T + affine[:3, 3]


def _inside(world, center, radii) -> np.ndarray:
    return (((world - np.asarray(center)) / np.asarray(radii)) ** 2).sum(-1) < 1


def _head(shape, affine, values: dict[str, float], skull_stripped=False) -> np.ndarray:
    """A smooth head: scalp, brain, ventricles and an off-centre lump (so a rigid fit is unique)."""
    world = _world(shape, affine)
    volume = np.zeros(shape, dtype=np.float32)
    if not skull_stripped:
        volume[_inside(world, (0, 0, 0), (80, 90, 55))] = values["scalp"]
        volume[_inside(world, (0, 0, 0), (72, 82, 48))] = 0.05 * values["scalp"]  # skull: dark
    volume[_inside(world, (0, 0, 0), (65, 78, 45))] = values["brain"]
    volume[_inside(world, (-10, 5, 5), (12, 30, 15))] = values["csf"]
    volume[_inside(world, (-35, -40, -15), (18, 18, 18))] = values["lump"]
    return ndimage.gaussian_filter(volume, 0.7)


def _nifti_gz(array, affine) -> bytes:
    return gzip.compress(nib.Nifti1Image(array, affine).to_bytes(), mtime=0)


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _msd_tar(n_subjects=5) -> bytes:
    affine = _affine(SHAPE, VOXEL_MM, flip_xy=True)
    world = _world(SHAPE, affine)
    brain = _inside(world, (0, 0, 0), (65, 78, 45))
    r = np.linalg.norm(world - np.asarray(TUMOR_CENTER_MM), axis=-1)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[(r < 30) & brain] = 1   # MSD 1: oedema
    labels[r < 20] = 3             # MSD 3: enhancing
    labels[r < 10] = 2             # MSD 2: non-enhancing core
    contrasts = [dict(brain=0.5, csf=1.0, lump=0.7), dict(brain=0.7, csf=0.2, lump=0.4),
                 dict(brain=0.7, csf=0.2, lump=0.9), dict(brain=0.4, csf=1.0, lump=0.6)]  # FLAIR T1 T1gd T2
    base = "Task01_BrainTumour/"
    members = {base + "dataset.json": b'{"name": "BRATS"}', base + "imagesTr/._BRATS_001.nii.gz": b"macOS junk"}
    for i in range(1, n_subjects + 1):
        channels = [_head(SHAPE, affine, {"scalp": 0.0, **c}, skull_stripped=True) * (500 + 50 * i) for c in contrasts]
        image = np.stack(channels, -1) * brain[..., None] + 300.0 * (labels[..., None] > 0)
        members[f"{base}imagesTr/BRATS_{i:03d}.nii.gz"] = _nifti_gz(image.astype(np.int16), affine)
        members[f"{base}labelsTr/BRATS_{i:03d}.nii.gz"] = _nifti_gz(labels, affine)
    return _tar(members)


T1 = dict(scalp=0.9, brain=0.6, csf=0.1, lump=0.3)
T2 = dict(scalp=0.5, brain=0.4, csf=1.0, lump=0.8)
PD = dict(scalp=0.7, brain=0.6, csf=0.8, lump=0.5)
T1_MOTION_MM = (12.0, -6.0, 6.0)   # head motion between the T1 and the T2 scan


def _sagittal_affine(shape, voxel_mm) -> np.ndarray:
    """Array axes run anterior, superior, right, as in a sagittal acquisition (IXI's T1)."""
    affine = np.zeros((4, 4))
    affine[1, 0] = affine[2, 1] = affine[0, 2] = voxel_mm
    affine[:3, 3] = -affine[:3, :3] @ (np.array(shape) - 1) / 2
    affine[3, 3] = 1
    return affine


def _ixi_tars(n_subjects=4) -> dict[str, bytes]:
    t2_affine = _affine(SHAPE, VOXEL_MM)
    t1_shape = (36, 30, 32)
    t1_affine = _sagittal_affine(t1_shape, 5.5)
    moved = t1_affine.copy()
    moved[:3, 3] -= np.asarray(T1_MOTION_MM)  # drawn on a shifted grid: the head sits at +motion
    tars = {m: {} for m in ("T1", "T2", "PD")}
    for i in range(n_subjects):
        sid = f"IXI{i:03d}-Guys-{800 + i:04d}"
        rng = np.random.default_rng(i)

        def scan(volume):
            return (volume * 1000 + rng.normal(0, 5, volume.shape)).clip(0).astype(np.int16)

        tars["T1"][f"{sid}-T1.nii.gz"] = _nifti_gz(scan(_head(t1_shape, moved, T1)), t1_affine)
        tars["T2"][f"{sid}-T2.nii.gz"] = _nifti_gz(scan(_head(SHAPE, t2_affine, T2)), t2_affine)
        tars["PD"][f"{sid}-PD.nii.gz"] = _nifti_gz(scan(_head(SHAPE, t2_affine, PD)), t2_affine)
    tars["T1"]["IXI999-HH-0000-T1.nii.gz"] = tars["T1"][f"{sid}-T1.nii.gz"]  # a T1 without T2/PD: not used
    return {f"IXI-{m}.tar": _tar(files) for m, files in tars.items()}


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------- a local HTTP server

class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range unless ``server.ignore_range``; while
    ``server.drops_left`` > 0 it sends half of a body and closes the connection."""

    def do_GET(self):
        server = self.server
        name, requested = self.path.lstrip("/"), self.headers.get("Range")
        server.requests.append((name, requested))
        body = server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        honour_range = bool(requested) and not server.ignore_range
        start = int(requested.split("=")[1].split("-")[0]) if honour_range else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if honour_range else 200)
        if honour_range:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.drops_left > 0:
            server.drops_left -= 1
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            return  # HTTP/1.0: returning closes the connection, mid-body
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.ignore_range, httpd.drops_left = {}, [], False, 0
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path, monkeypatch):
    """Never the user's data folder or mirror."""
    monkeypatch.setenv("MEDSYNTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MEDSYNTH_DATA_MIRROR", raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(server, dataset_name: str, files: dict[str, bytes]):
    """Serve ``files`` and return the manifest with their checksums and sizes."""
    server.files.update(files)
    return manifests.with_checksums(manifests.DATASETS[dataset_name], {n: _md5(b) for n, b in files.items()},
                                    {n: len(b) for n, b in files.items()})


FAST = dict(progress=False, retries=3, backoff_s=0.01, timeout_s=10)


def _msd_archive(server):
    data = _msd_tar()
    return data, _serve(server, "msd_brain", {"Task01_BrainTumour.tar": data})


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# ---------------------------------------------------------------- download and extraction

def test_get_downloads_verifies_and_extracts_through_the_mirror_variable(server, tmp_path, monkeypatch):
    data, dataset = _msd_archive(server)
    monkeypatch.setenv("MEDSYNTH_DATA_MIRROR", server.url + "/")
    folder = data_fetch.get(dataset, accept_license=True, **FAST)
    assert folder == tmp_path / "data" / "msd_brain"
    images = folder / "Task01_BrainTumour" / "Task01_BrainTumour" / "imagesTr"
    assert (images / "BRATS_001.nii.gz").exists()
    assert (tmp_path / "data" / "downloads" / "Task01_BrainTumour.tar").read_bytes() == data
    assert server.requests == [("Task01_BrainTumour.tar", None)]
    assert data_fetch.get(dataset, **FAST) == folder  # already there: no licence question, no request
    assert len(server.requests) == 1


def test_interrupted_transfer_resumes_with_a_range_request(server, tmp_path):
    data, dataset = _msd_archive(server)
    server.drops_left = 1
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    half = len(data) // 2
    assert server.requests == [("Task01_BrainTumour.tar", None), ("Task01_BrainTumour.tar", f"bytes={half}-")]
    assert _md5((tmp_path / "data" / "downloads" / "Task01_BrainTumour.tar").read_bytes()) == _md5(data)


def test_a_server_ignoring_range_makes_it_start_again(server, tmp_path):
    data, dataset = _msd_archive(server)
    server.drops_left, server.ignore_range = 1, True
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    assert server.requests[1][1] == f"bytes={len(data) // 2}-"  # asked to resume, got the whole file
    assert (tmp_path / "data" / "downloads" / "Task01_BrainTumour.tar").read_bytes() == data


def test_checksum_mismatch_is_refused_and_nothing_looks_complete(server, tmp_path):
    data, dataset = _msd_archive(server)
    wrong = manifests.with_checksums(dataset, {"Task01_BrainTumour.tar": "0" * 32})
    with pytest.raises(data_fetch.ChecksumError, match="expected 0000"):
        data_fetch.get(wrong, accept_license=True, mirror=server.url, **FAST)
    assert _leftovers(tmp_path / "data") == ["downloads"]  # no archive, no .part, no extracted folder


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_archives_are_refused(server, tmp_path, kind):
    benign = {"Task01_BrainTumour/dataset.json": b"{}"}
    evil = {"dotdot": _tar({**benign, "Task01_BrainTumour/../../../evil.txt": b"x"}),
            "absolute": _tar({**benign, str(tmp_path / "evil.txt"): b"x"}),
            "symlink": _tar(benign, links={"Task01_BrainTumour/link": "/etc"})}[kind]
    dataset = _serve(server, "msd_brain", {"Task01_BrainTumour.tar": evil})
    with pytest.raises(data_fetch.UnsafeArchiveError, match="Refused to extract"):
        data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    assert not (tmp_path / "evil.txt").exists()
    assert not list((tmp_path / "data").rglob("evil.txt"))
    assert not (tmp_path / "data" / "msd_brain").exists() or not any((tmp_path / "data" / "msd_brain").iterdir())


def test_no_licence_acceptance_no_download(server, tmp_path):
    _, dataset = _msd_archive(server)
    with pytest.raises(data_fetch.LicenseNotAcceptedError, match="--accept-license"):
        data_fetch.get(dataset, mirror=server.url, **FAST)
    assert server.requests == []


def _small(name: str):
    """The real manifest with tiny sizes, so the free-space check passes on any machine."""
    dataset = manifests.DATASETS[name]
    return manifests.with_checksums(dataset, {}, {f.filename: 1000 for f in dataset.files})


def test_server_down_gives_one_clear_message(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(data_fetch.DownloadError) as caught:
        data_fetch.get(_small("msd_brain"), accept_license=True, mirror=url, **FAST)
    message = str(caught.value)
    assert "msd_brain" in message and f"{url}/Task01_BrainTumour.tar" in message
    assert 'load_dataset("phantom")' in message


def test_free_space_is_checked_before_downloading(server):
    _, dataset = _msd_archive(server)
    huge = manifests.with_checksums(dataset, {}, {"Task01_BrainTumour.tar": 10**18})
    with pytest.raises(data_fetch.DiskSpaceError, match="GB free"):
        data_fetch.get(huge, accept_license=True, mirror=server.url, **FAST)
    assert server.requests == []


def test_unpublished_checksum_is_recorded_at_first_download_and_enforced_after(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Task1/brain/1BA001/mr.nii.gz", b"mr")
    server.files["Task1.zip"] = buffer.getvalue()
    dataset = manifests.with_checksums(manifests.DATASETS["synthrad2023_brain"], {}, {"Task1.zip": 1000})
    assert dataset.files[0].md5 is None
    folder = data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    assert (folder / "Task1" / "Task1" / "brain" / "1BA001" / "mr.nii.gz").read_bytes() == b"mr"
    records = json.loads((tmp_path / "data" / "downloads" / "checksums.json").read_text())
    assert records["Task1.zip"]["sha256"] == hashlib.sha256(server.files["Task1.zip"]).hexdigest()
    # Another file under the same name later: refused.
    for path in (tmp_path / "data" / "downloads" / "Task1.zip", folder / "Task1"):
        path.unlink() if path.is_file() else shutil.rmtree(path)
    server.files["Task1.zip"] = server.files["Task1.zip"] + b"tampered"
    with pytest.raises(data_fetch.ChecksumError, match="sha256"):
        data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    assert not (tmp_path / "data" / "downloads" / "Task1.zip").exists()


# ---------------------------------------------------------------- the command line

def _run_cli(*args, env_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "MEDSYNTH_DATA_DIR": str(env_dir), "HOME": str(env_dir)}
    return subprocess.run([sys.executable, "-m", "data_fetch", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_list_and_info(tmp_path):
    listed = _run_cli("list", env_dir=tmp_path)
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in ("msd_brain", "ixi", "synthrad2023_brain"))
    shown = _run_cli("info", "synthrad2023_brain", env_dir=tmp_path)
    assert shown.returncode == 0
    assert "CC BY-NC 4.0" in shown.stdout and "NON-COMMERCIAL" in shown.stdout and "Thummerer" in shown.stdout
    unknown = _run_cli("info", "brats", env_dir=tmp_path)
    assert unknown.returncode == 1 and "msd_brain" in unknown.stderr and "Traceback" not in unknown.stderr


def test_cli_get_without_acceptance_shows_the_licence_and_refuses(tmp_path):
    refused = _run_cli("get", "msd_brain", env_dir=tmp_path)
    assert refused.returncode == 1 and "--accept-license" in refused.stderr and "Traceback" not in refused.stderr
    assert "CC BY-SA 4.0" in refused.stdout and "Antonelli" in refused.stdout  # licence and citation first


def test_cli_get_with_the_server_down_prints_the_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(manifests.DATASETS, "ixi", _small("ixi"))
    url = f"http://127.0.0.1:{_closed_port()}"
    assert cli_main(["get", "ixi", "--accept-license", "--mirror", url, "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: Could not download ixi from " + url)
    assert 'load_dataset("phantom")' in error


def test_cli_get_then_already_there(server, tmp_path, monkeypatch, capsys):
    _, dataset = _msd_archive(server)
    monkeypatch.setitem(manifests.DATASETS, "msd_brain", dataset)
    args = ["get", "msd_brain", "--dest", str(tmp_path / "d"), "--accept-license", "--mirror", server.url,
            "--no-progress"]
    assert cli_main(args) == 0
    assert "ready in" in capsys.readouterr().out
    assert cli_main(args) == 0
    assert "already fetched" in capsys.readouterr().out


# ---------------------------------------------------------------- preprocessing and load_dataset

def test_load_dataset_before_fetching_names_the_command_and_the_phantom():
    with pytest.raises(data_fetch.NotFetchedError) as caught:
        load_dataset("msd_brain", profile=PROFILE)
    assert "python -m data_fetch get msd_brain --accept-license" in str(caught.value)
    assert 'load_dataset("phantom")' in str(caught.value)
    with pytest.raises(ValueError, match="download-only"):
        load_dataset("synthrad2023_brain", profile=PROFILE)


def test_msd_get_preprocess_load_batch(server, tmp_path):
    _, dataset = _msd_archive(server)
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    data = load_dataset("msd_brain", profile=PROFILE, progress=False)
    batch = data.train.batch("t1:t2", [0, 1])
    assert batch["source"].shape == (2, 1, 32, 32) and batch["target"].shape == (2, 1, 32, 32)
    assert sorted(data.train.images) == ["flair", "t1", "t1ce", "t2"]
    splits = [set(s.subjects) for s in (data.train, data.val, data.test)]
    assert [len(s) for s in splits] == [3, 1, 1] and not set.intersection(*splits)
    assert len(data.train) == 3 * 2
    for s in (data.train, data.val, data.test):
        assert all(0 <= v.min() and v.max() <= 1 for v in s.images.values())
        assert set(np.unique(s.tissue)) <= {0, 1}
    assert "no noise-free truth" in data.info["clean"] and "mask" in data.info["tissue"]
    # The tumour (right, anterior) lies top-right, as the phantom is displayed; labels are mapped.
    i, _ = data.train.largest_lesion()
    rows, cols = np.nonzero(data.train.tumor[i])
    assert rows.mean() < 16 < cols.mean()
    center = data.train.tumor[i][int(round(rows.mean())), int(round(cols.mean()))]
    assert center == 1, "MSD 2 (non-enhancing core) must become the course's 1 (necrosis)"
    assert set(np.unique(data.train.tumor)) == {0, 1, 2, 3}
    split = json.loads(Path(data.info["cache"], "split-seed0.json").read_text())
    assert sorted(sum(split.values(), [])) == [f"BRATS_{i:03d}" for i in range(1, 6)]  # the macOS file is skipped


def test_preprocessing_skips_finished_subjects(server, tmp_path):
    _, dataset = _msd_archive(server)
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    first = load_dataset("msd_brain", profile=PROFILE, progress=False)
    cache = Path(first.info["cache"])
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    assert len(stamps) == 5
    (cache / "BRATS_003.npz").unlink()  # as if interrupted before this subject
    again = load_dataset("msd_brain", profile=PROFILE, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    assert {n for n in after if after[n] != stamps.get(n)} == {"BRATS_003.npz"}
    assert np.array_equal(again.test.images["t2"], first.test.images["t2"])
    assert not list(cache.glob(".*"))  # no temporary files left


@pytest.mark.skipif(not HAVE_SIMPLEITK, reason="SimpleITK is not installed (pip install SimpleITK)")
def test_register_rigid_undoes_head_motion():
    fixed_affine = _affine(SHAPE, VOXEL_MM)
    fixed = nib.Nifti1Image(_head(SHAPE, fixed_affine, T2), fixed_affine)
    truth = _head(SHAPE, fixed_affine, T1)
    moved = fixed_affine.copy()
    moved[:3, 3] -= np.asarray(T1_MOTION_MM)
    moving = nib.Nifti1Image(_head(SHAPE, moved, T1), fixed_affine)  # the same grid, the head moved
    registered = real.register_rigid(moving, fixed)
    before = np.abs(moving.get_fdata() - truth).mean()
    after = np.abs(registered - truth).mean()
    assert after < 0.25 * before, (before, after)


@pytest.mark.skipif(not HAVE_SIMPLEITK, reason="SimpleITK is not installed (pip install SimpleITK)")
def test_ixi_with_registration(server):
    dataset = _serve(server, "ixi", _ixi_tars())
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    data = load_dataset("ixi", profile=PROFILE, progress=False, n_subjects=4)
    assert sorted(data.train.images) == ["pd", "t1", "t2"]
    assert data.train.batch("t1:t2", [0, 1])["source"].shape == (2, 1, 32, 32)
    assert not data.train.tumor.any() and data.info["subjects_available"] == 4
    head = data.train.tissue.astype(bool)
    t1_head = data.train.images["t1"] > 0.3
    assert (t1_head & head).sum() / t1_head.sum() > 0.95  # the registered T1 lies in the T2's head


def test_ixi_without_simpleitk_uses_t2_and_pd(server, monkeypatch):
    dataset = _serve(server, "ixi", _ixi_tars())
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # as if not installed
    with pytest.warns(UserWarning, match="pip install SimpleITK"):
        data = load_dataset("ixi", profile=PROFILE, progress=False, n_subjects=4)
    assert sorted(data.train.images) == ["pd", "t2"]
    with pytest.raises(KeyError, match="t1"):
        data.train.batch("t1:t2", [0])
    assert data.train.batch("t2:pd", [0])["target"].shape == (1, 1, 32, 32)


def test_msd_trains_and_drives_the_lesion_renderer(server):
    """Chapter 06 on real data: MSD slices become lesion data, the learned renderer trains on
    them, and moving a real tumour repaints only around the old and the new place."""
    _, dataset = _msd_archive(server)
    assert not is_fetched(data_fetch.manifest("msd_brain"), data_fetch.data_dir())  # the chapter's check
    data_fetch.get(dataset, accept_license=True, mirror=server.url, **FAST)
    assert is_fetched(data_fetch.manifest("msd_brain"), data_fetch.data_dir())
    data = load_lesion_data("msd_brain", profile=PROFILE, progress=False)
    assert data.train.healthy is None and len(data.train.with_lesion) > 0
    renderer = build_model("lesion_renderer", None, PROFILE)
    train(renderer, data, None, TrainConfig.from_profile(PROFILE, steps=4, seconds=None, eval_every=4), progress=False)
    index = data.test.with_lesion[:1]
    batch = data.test.tensors(index)
    moved = torch.roll(batch["labels"], shifts=3, dims=-1)
    out = renderer.render(batch["images"], moved, previous=batch["labels"])
    region = edit_region(moved, batch["labels"], margin=margin_px(data.test.image_size)).expand_as(out) > 0
    assert torch.equal(out[~region], batch["images"][~region])
    assert (out[region] != batch["images"][region]).any()

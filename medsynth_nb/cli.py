"""``medsynth`` command line (also ``python -m medsynth_nb``).

  medsynth phantom --seed 0 --n-subjects 4 --out phantom/         # NIfTI files + JSON
  medsynth train unet --task t1:ct --profile cpu --out runs/t1ct  # checkpoint + metrics.json
  medsynth train unet --task t1:t2 --data my_scans/ --out runs/mine  # on your own scans (BIDS, flat NIfTI, DICOM)
  medsynth predict runs/mine --input patient_T1w.nii.gz --out patient_t2_synthetic.nii.gz  # on the input's grid
  medsynth train diffusion --task t1:t2 --out runs/diff          # a conditional diffusion model
  medsynth train resvit --task t1,t2,pd:flair --unified --out runs/any  # any subset -> any missing sequence
  medsynth sample runs/diff --n-samples 8 --out samples/          # samples, mean and uncertainty as NIfTI
  medsynth leaderboard --task t1:t2 --out runs/board               # every synthesis model, one scorecard
  medsynth profiles                                               # what each profile sets
  torchrun --nproc_per_node=2 -m medsynth_nb train unet --task t1:t2 --out runs/ddp  # data parallel, N processes
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _phantom(args) -> int:
    from medsynth_nb.data import phantom
    from medsynth_nb.data.phantom import save_subject

    if args.grid == "volume":
        shape, affine = phantom.volume_grid(args.spacing)
    else:
        shape, affine = phantom.axial_grid(args.size, args.slices, args.spacing, args.z)
    rng = np.random.default_rng(args.seed)
    for i in range(args.n_subjects):
        seed = int(rng.integers(2**31))
        with_tumor = rng.random() < args.tumor_prob
        subject = phantom.make_subject(seed, shape, affine, site=args.site,
                                       tumor="random" if with_tumor else None, subject_id=f"sub-{i:03d}")
        files = save_subject(subject, args.out, with_clean=args.with_clean, overwrite=args.overwrite)
        print(f"{subject.subject_id}: {len(files)} files, grid {shape}, tumour: {'yes' if with_tumor else 'no'}")
    print(f"Wrote {args.n_subjects} subjects to {args.out}")
    return 0


def _train(args) -> int:
    from medsynth_nb.data.loaders import load_dataset
    from medsynth_nb.engine import TrainConfig, distributed, train
    from medsynth_nb.metrics import CEILING, evaluate_imputation, evaluate_model, gap_closed, summarize, with_ceiling
    from medsynth_nb.models import IntensityLookup, build_model
    from medsynth_nb.profiles import get_profile, seed_everything
    from medsynth_nb.tasks import parse_task

    task = parse_task(args.task)
    profile = get_profile(args.profile)
    processes = distributed.init_from_env(profile.device)  # under torchrun: one of several processes
    if processes.is_main:
        print(profile.describe(args.seed), f"task={task}", processes.describe(), sep="  ")
    seed_everything(args.seed)
    data = (load_dataset("folder", profile=profile, path=args.data, seed=args.seed, register=args.register,
                         modalities=[*task.sources, task.target], progress=processes.is_main)
            if args.data else load_dataset("phantom", profile=profile, seed=args.seed, progress=processes.is_main))
    if args.unified and args.model != "resvit":
        raise ValueError(f"--unified is the any-to-any ResViT; it does not apply to {args.model}.")
    model = build_model(args.model, task, profile, **({"unified": True} if args.unified else {}))
    training_data = data.unpaired(args.seed) if getattr(model, "unpaired", False) else data
    overrides = {k: v for k, v in {"steps": args.steps, "seconds": args.seconds}.items() if v is not None}
    config = TrainConfig.from_profile(profile, seed=args.seed, device=processes.device(profile.device), **overrides)
    history = train(model, training_data, task, config, out_dir=args.out, resume=args.resume,
                    progress=processes.is_main)
    if not processes.is_main:  # rank 0 evaluates and writes; the others are done
        distributed.finish()
        return 0
    baseline = IntensityLookup().fit(data.train, task)
    report = {}
    for against in ("acquired", "clean"):
        per_subject = {
            args.model: evaluate_model(model.predict, data.test, task, device=config.device, against=against),
            "lookup_baseline": evaluate_model(baseline.predict, data.test, task, against=against),
        }
        if against == "acquired":  # the phantom knows what a perfect synthesiser scores there: the ceiling
            per_subject = with_ceiling(per_subject, data.test, task)
        table = summarize(per_subject)
        if CEILING in table.index:
            table = table.join(gap_closed(table, "lookup_baseline", CEILING))
        report[f"test_vs_{against}"] = {method: {k: float(v) for k, v in row.items()} for method, row in table.iterrows()}
    if args.unified:  # every subset of the modalities -> every other one, as chapter 04's table
        imputation = evaluate_imputation(model, data.test, device=config.device)
        report["imputation"] = imputation[["inputs", "target", "psnr", "ssim", "mae"]].to_dict(orient="records")
        print(imputation.pivot_table(index="inputs", columns="target", values="psnr").round(2).to_string())
    result = {"model": args.model, "task": str(task), "profile": profile.name, "seed": args.seed,
              "steps": history.step, "elapsed_s": round(history.elapsed_s, 1), "stopped_by": history.stopped_by,
              "processes": processes.world_size,
              "test_subjects": data.test.subjects, "dataset": training_data.info, **report}
    out = Path(args.out) / "metrics.json"
    out.write_text(json.dumps(result, indent=2))
    rows = report["test_vs_acquired"]
    for method, row in rows.items():
        extra = f"  MAE {row['mae_hu']:.1f} HU" if "mae_hu" in row else ""
        extra += f"  blur {row['blur_mm']:.2f} mm"
        extra += f"  gap closed {row['gap closed (psnr)']:.2f}" if "gap closed (psnr)" in row else ""
        print(f"{method:>16}: PSNR {row['psnr']:.2f} dB  SSIM {row['ssim']:.3f}  MAE {row['mae']:.4f}{extra}")
    print(f"Wrote {out} and the checkpoint in {args.out} ({processes.describe()})")
    distributed.finish()
    return 0


def _sample(args) -> int:

    from medsynth_nb.data.loaders import load_dataset
    from medsynth_nb.engine import load_trained
    from medsynth_nb.io import save_slices
    from medsynth_nb.metrics.stats import rank_correlation
    from medsynth_nb.profiles import get_profile
    from medsynth_nb.tasks import parse_task

    report_path = args.run / "metrics.json"
    if not report_path.exists():
        raise FileNotFoundError(f"{report_path} not found: pass the --out folder of 'medsynth train diffusion'.")
    report = json.loads(report_path.read_text())
    model, _ = load_trained(args.run)
    if not hasattr(model, "sample_many"):
        raise ValueError(f"{args.run} holds a {report['model']} model; only diffusion models draw samples.")
    task, profile = parse_task(report["task"]), get_profile(report["profile"])
    data = load_dataset("phantom", profile=profile, seed=report["seed"], progress=False)
    subject = args.subject or data.test.subjects[0]
    if subject not in data.test.subjects:
        raise ValueError(f"Subject {subject!r} is not a test subject of this run; choose one of {data.test.subjects}.")
    slices = data.test.by_subjects([subject])
    source = slices.batch(task, list(range(len(slices))))["source"]
    print(f"{args.n_samples} {args.sampler} samples of {task.target} for {subject} ({len(slices)} slices)")
    samples = model.sample_many(source, args.n_samples, seed=args.seed, sampler=args.sampler, steps=args.steps,
                                progress=True)[:, :, 0].numpy()  # N x slices x H x W
    truth = slices.images[task.target]
    mean, std = samples.mean(0), samples.std(0)
    head = slices.tissue > 0
    spearman = rank_correlation(std, np.abs(mean - truth), head)

    provenance = {"run": str(args.run), "model": model.config, "task": str(task), "subject": subject,
                  "sampler": args.sampler, "steps": args.steps or model.config["sample_steps"],
                  "seeds": list(range(args.seed, args.seed + args.n_samples)),
                  "normalization": data.info["normalization"],
                  "spearman_std_vs_abs_error_in_head": spearman}
    stem = f"{subject}_{task.target}"
    written = [save_slices(args.out / f"{stem}_sample-mean.nii.gz", mean,
                           provenance={**provenance, "image": "mean of the samples"}, overwrite=args.overwrite),
               save_slices(args.out / f"{stem}_sample-std.nii.gz", std,
                           provenance={**provenance, "image": "per-pixel standard deviation (uncertainty)"},
                           overwrite=args.overwrite),
               save_slices(args.out / f"{stem}_samples.nii.gz", samples,
                           provenance={**provenance, "image": "every sample, along the 4th axis"},
                           overwrite=args.overwrite)]
    print(f"Rank correlation of uncertainty (std) with the error of the mean, in the head: {spearman:.3f}")
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def _predict(args) -> int:
    from medsynth_nb.engine.prediction import predict_scan, write_prediction

    prediction = predict_scan(args.run, args.input, uncertainty=args.uncertainty, n_samples=args.n_samples,
                              seed=args.seed)
    written = write_prediction(prediction, args.out, dicom_dir=args.dicom_out, overwrite=args.overwrite)
    p = prediction.provenance
    print(f"{p['model']} ({p['task']}): synthetic volume {'x'.join(map(str, prediction.volume.shape))} on the input's "
          f"grid, {p['units']}, stamped SYNTHETIC")
    images = [str(w) for w in written if w.name.endswith((".nii.gz", ".nii"))]
    dicom = f" and a DICOM series of {len(written) - len(images)} files in {args.dicom_out}" if args.dicom_out else ""
    print(f"Wrote {', '.join(images)}{dicom}")
    return 0


def _leaderboard(args) -> int:
    from medsynth_nb.analysis.leaderboard import build_leaderboard
    from medsynth_nb.profiles import get_profile, seed_everything

    profile = get_profile(args.profile)
    print(profile.describe(args.seed), f"task={args.task}", sep="  ")
    seed_everything(args.seed)
    models = args.models.split(",") if args.models else None
    table = build_leaderboard(args.out, args.task, **({"models": models} if models else {}), profile=profile,
                              seed=args.seed, steps=args.steps, overwrite=args.overwrite)
    print(table.round(4).to_string())
    print(f"Wrote {args.out / 'leaderboard.md'} and {args.out / 'leaderboard.csv'}")
    return 0


def _profiles(args) -> int:
    from medsynth_nb.profiles import PROFILES, get_profile

    for profile in PROFILES.values():
        print(profile.describe())
    print(f"selected now: {get_profile().name} (set MEDSYNTH_PROFILE to change)")
    return 0


def _solutions(args) -> int:
    from medsynth_nb.course.solutions import NOTEBOOKS, chapter_notebook, with_solutions

    chapters = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if args.chapter == "all" else [args.chapter]
    if args.out is not None and len(chapters) > 1:
        raise ValueError("--out names one notebook; with 'all' the copies go to _build/with_solutions/.")
    for chapter in chapters:
        written = with_solutions(chapter_notebook(chapter), args.out, overwrite=args.overwrite)
        print(f"{written} (with solutions; for instructors)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from medsynth_nb.models import SYNTHESIS_MODELS

    parser = argparse.ArgumentParser(prog="medsynth", description="MedSynth Notebooks command line")
    sub = parser.add_subparsers(dest="command", required=True)

    ph = sub.add_parser("phantom", help="write phantom subjects as NIfTI")
    ph.add_argument("--seed", type=int, default=0)
    ph.add_argument("--n-subjects", type=int, default=1)
    ph.add_argument("--out", required=True, type=Path)
    ph.add_argument("--grid", choices=["volume", "axial"], default="volume",
                    help="volume: whole head in 3-D; axial: a slab of axial slices")
    ph.add_argument("--spacing", type=float, default=2.0, help="mm (volume) or slice gap in mm (axial)")
    ph.add_argument("--size", type=int, default=128, help="axial: in-plane size in pixels")
    ph.add_argument("--slices", type=int, default=1, help="axial: number of slices")
    ph.add_argument("--z", type=float, default=20.0, help="axial: height of the slab centre, MNI mm")
    ph.add_argument("--site", default="A")
    ph.add_argument("--tumor-prob", type=float, default=0.5)
    ph.add_argument("--with-clean", action="store_true", help="also write noise-free images (_clean)")
    ph.add_argument("--overwrite", action="store_true")
    ph.set_defaults(func=_phantom)

    tr = sub.add_parser("train", help="train a model on the phantom and evaluate it on held-out subjects")
    tr.add_argument("model", choices=sorted(SYNTHESIS_MODELS))
    tr.add_argument("--task", required=True, help="SOURCE[,SOURCE]:TARGET, e.g. t1:t2 or t1:ct")
    tr.add_argument("--profile", default=None, help="smoke, cpu or gpu (default: by hardware)")
    tr.add_argument("--seconds", type=float, default=None,
                    help="time cap, a guard for slow machines (default: the profile's)")
    tr.add_argument("--steps", type=int, default=None, help="step budget (default: the profile's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", required=True, type=Path)
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--data", type=Path, default=None,
                    help="a folder of your own scans (BIDS, <subject>_<modality>.nii.gz, or DICOM series folders) "
                         "instead of the phantom; it is only read")
    tr.add_argument("--register", action="store_true",
                    help="with --data: register each subject's modalities rigidly to the first (SimpleITK)")
    tr.add_argument("--unified", action="store_true",
                    help="resvit only: one any-to-any model over the task's modalities (missing-sequence imputation)")
    tr.set_defaults(func=_train)

    sa = sub.add_parser("sample", help="draw samples of a trained diffusion model for a test subject")
    sa.add_argument("run", type=Path, help="the --out folder of 'medsynth train diffusion'")
    sa.add_argument("--subject", default=None, help="a test subject id (default: the first)")
    sa.add_argument("--n-samples", type=int, default=8)
    sa.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim")
    sa.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model's)")
    sa.add_argument("--seed", type=int, default=0, help="first noise seed; sample i uses seed + i")
    sa.add_argument("--out", required=True, type=Path)
    sa.add_argument("--overwrite", action="store_true")
    sa.set_defaults(func=_sample)

    pd = sub.add_parser("predict", help="apply a trained run to a patient's volume; the synthetic volume is "
                                        "written on the input's own grid, stamped SYNTHETIC")
    pd.add_argument("run", type=Path, help="the --out folder of 'medsynth train'")
    pd.add_argument("--input", "--input2", "--input3", dest="input", action="append", required=True, type=Path,
                    help="a NIfTI file or a DICOM series folder; one per source of the run's task, in its order")
    pd.add_argument("--out", required=True, type=Path, help="the synthetic volume, OUT.nii.gz (+ OUT.json provenance)")
    pd.add_argument("--uncertainty", action="store_true",
                    help="also write OUT_uncertainty.nii.gz (diffusion: spread of samples; heteroscedastic)")
    pd.add_argument("--n-samples", type=int, default=8, help="diffusion samples for --uncertainty")
    pd.add_argument("--dicom-out", type=Path, default=None,
                    help="also write a new DICOM series (DERIVED, 'SYNTHETIC - not for diagnosis') into this folder")
    pd.add_argument("--seed", type=int, default=0, help="seed of the sampling (diffusion)")
    pd.add_argument("--overwrite", action="store_true")
    pd.set_defaults(func=_predict)

    lb = sub.add_parser("leaderboard", help="train every synthesis model for one task and rank them on the same "
                                            "test subjects (fidelity, realism, a downstream task)")
    lb.add_argument("--task", default="t1:t2")
    lb.add_argument("--models", default=None, help=f"comma-separated (default: all of {', '.join(SYNTHESIS_MODELS)})")
    lb.add_argument("--profile", default=None, help="smoke, cpu or gpu (default: by hardware)")
    lb.add_argument("--steps", type=int, default=None, help="step budget of every run (default: the profile's)")
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--out", required=True, type=Path, help="runs go in OUT/<model>/, the table in OUT/leaderboard.md")
    lb.add_argument("--overwrite", action="store_true", help="replace an existing leaderboard.md/.csv in --out")
    lb.set_defaults(func=_leaderboard)

    so = sub.add_parser("solutions", help="instructors: write a chapter with its coding exercises solved "
                                          "(from notebooks/solutions/); the student notebook is not changed")
    so.add_argument("chapter", help="a chapter number (e.g. 01), a notebook path, or 'all'")
    so.add_argument("--out", type=Path, default=None,
                    help="the notebook to write (default: _build/with_solutions/<chapter>.ipynb)")
    so.add_argument("--overwrite", action="store_true")
    so.set_defaults(func=_solutions)

    pr = sub.add_parser("profiles", help="list the run profiles")
    pr.set_defaults(func=_profiles)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        # Mistakes in the input get one clear line, not a traceback.
        print(f"medsynth {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""MedSynth Notebooks' helper package: the logic the chapter notebooks call, tested.

One folder per idea, imported left to right only (``tests/test_layers.py`` checks it):

    profiles, tasks, orientation, io, dicom   run profiles, the task grammar, slice geometry,
                 file I/O (NIfTI, DICOM series)
    data/        the phantom, slice sets split by subject, loaders of public datasets and your own scans
    metrics/     image quality, evaluation tables, paired statistics, uncertainty scores
    models/      one model per file and the registry the engine and the CLI read
    engine/      the training loop, checkpoints, and a trained run applied to a whole volume
    analysis/    experiments on trained models: attention, attribution, uncertainty, transfer, cost
    lesions/     chapter 06: label-map editing, render fidelity, lesion studies
    viz/         figures, one module per topic
    widgets/     the interactive pieces (the only folder that imports ipywidgets)
    exercises/   the exercise checks, one module per chapter
    course/      running chapters headless and the results record behind docs/results.md
    cli          the ``medsynth`` command

docs/architecture.md says where a new model, metric, chapter or dataset goes.
"""

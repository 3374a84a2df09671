"""Chapter 07's measured slice sets: entries, truths, guides and PET's full-dose counts."""
import dataclasses

import numpy as np
import pytest
import torch

from medsynth_nb.data.inverse_problems import (
    PROBLEMS,
    load_inverse_problem,
    measure_slices,
    mri_operator,
    pet_counts_per_unit,
)


def test_mri_entries_interleave_settings_and_hold_the_zero_filled_image(tiny_data):
    slices = tiny_data.train
    measured = measure_slices(slices, "mri")
    n, settings = len(slices), PROBLEMS["mri"]["settings"]
    assert len(measured) == n * len(settings) and measured.source.shape[1] == 1
    assert measured.setting[:len(settings)].tolist() == list(settings), "entry i is slice i // S at setting i % S"
    assert np.array_equal(measured.truth[::len(settings)], slices.clean["t2"]), "the truth: the noise-free T2w"
    batch = measured.batch(None, [0, 1])
    for entry in (0, 1):
        operator = mri_operator(slices.clean["t2"].shape[-1], settings[entry])
        expected = operator.zero_filled(operator.forward(torch.from_numpy(slices.clean["t2"][:1, None])))
        assert torch.allclose(batch["source"][entry:entry + 1], expected, atol=1e-6)
        assert torch.equal(batch["lines"][entry], operator.mask)
    assert measured.at(8).setting.tolist() == [8.0] * n
    with pytest.raises(ValueError, match="acceleration 3"):
        measured.at(3)


def test_ct_and_pet_take_the_guide_as_a_second_channel(tiny_data):
    slices = tiny_data.train
    ct = measure_slices(slices, "ct", (60,), guide="t1")
    assert ct.source.shape[1] == 2 and np.array_equal(ct.source[:, 1], slices.images["t1"])
    assert np.array_equal(ct.truth, slices.clean["ct"]), "CT's truth: the noise-free CT"
    pet = measure_slices(slices, "pet", (1.0, 0.1))
    assert np.array_equal(pet.truth[::2], slices.clean["pet"]), "PET's truth: the noise-free activity"
    noise = [np.std(pet.source[i::2, 0] - pet.truth[i::2]) for i in (0, 1)]
    assert noise[1] > 2.5 * noise[0], f"a tenth of the dose is sqrt(10) x noisier: {noise}"
    with pytest.raises(ValueError, match="guide"):
        measure_slices(slices, "pet", guide="dwi")
    with pytest.raises(ValueError, match="Unknown problem"):
        measure_slices(slices, "ultrasound")


def test_pet_counts_are_estimated_from_the_phantoms_own_noise(tiny_data):
    slices = tiny_data.train
    rng = np.random.default_rng(0)
    counts = 150.0
    noisy = (rng.poisson(slices.clean["pet"] * counts) / counts).astype(np.float32)
    resampled = dataclasses.replace(slices, images={**slices.images, "pet": noisy})
    assert pet_counts_per_unit(resampled) == pytest.approx(counts, rel=0.05)


def test_healthy_training_keeps_every_tumour_for_the_test(tiny_data):
    data = load_inverse_problem(tiny_data, "mri", (4,))
    assert not data.train.tumor.any() and not data.val.tumor.any()
    assert len(data.test) == len(tiny_data.test)
    assert np.array_equal(data.test.tumor, tiny_data.test.tumor)
    everything = load_inverse_problem(tiny_data, "mri", (4,), healthy_training=False)
    assert len(everything.train) == len(tiny_data.train)


def test_without_guide_drops_only_the_guide_channel(tiny_data):
    guided = load_inverse_problem(tiny_data, "pet", (0.1,), guide="t1")
    alone = guided.without_guide()
    assert alone.train.source.shape[1] == 1 and guided.train.source.shape[1] == 2
    assert np.array_equal(alone.test.source[:, 0], guided.test.source[:, 0]) and alone.test.guide is None


def test_settings_of_any_value_run_from_the_fullest_measurement(tiny_data):
    assert measure_slices(tiny_data.test, "mri", (6, 3)).settings == [3.0, 6.0]  # not among the defaults
    assert measure_slices(tiny_data.test, "pet", (0.02, 0.5)).settings == [0.5, 0.02]

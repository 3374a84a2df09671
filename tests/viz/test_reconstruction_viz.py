"""Chapter 07's figures, on measured test slices of the tiny phantom."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from medsynth_nb import viz
from medsynth_nb.analysis import reconstruction as rec
from medsynth_nb.data.inverse_problems import load_inverse_problem


@pytest.fixture(scope="module")
def mri(tiny_data):
    return load_inverse_problem(tiny_data, "mri", (4, 8), healthy_training=False)


def test_null_space_split_adds_up_and_shows_every_estimate(mri):
    part = mri.test.at(8)
    truth = part.truth[0]
    alone = viz.null_space_split(truth, {}, acceleration=8)
    assert len(alone.axes) == 3
    image, measured, unmeasured = (ax.images[0].get_array() for ax in alone.axes)
    assert np.allclose(measured + unmeasured, image, atol=1e-5), "measured + null-space part = the image"
    both = viz.null_space_split(truth, {"zero-filled": part.source[0, 0], "truth": truth}, acceleration=8)
    filled = {ax.get_title(): ax.images[0].get_array() for ax in both.axes if ax.images}
    assert np.allclose(filled["zero-filled: filled in"], 0, atol=1e-5), "zero-filling fills in nothing"
    assert np.allclose(filled["truth: filled in"], unmeasured, atol=1e-5)


def test_gallery_curves_and_closeups_draw_every_method(mri):
    images = {"zero-filled": mri.test.source[:, 0], "truth": mri.test.truth}
    gallery = viz.reconstruction_gallery(images, mri.test, 0)
    assert len([ax for ax in gallery.axes if ax.images]) == 2 * 2 * 3  # 2 settings x (image, error) x 3 columns
    curves = viz.metric_vs_setting(rec.method_table(images, mri.test))
    assert [len(ax.get_lines()) > 0 for ax in curves.axes[:2]] == [True, True]
    tumor = np.zeros_like(mri.test.tumor)
    tumor[:, 10:14, 12:16] = 2  # the tiny phantom's test subjects have none: paint one
    closeups = viz.lesion_closeups(images, dataclasses.replace(mri.test, tumor=tumor), 8)
    assert len(closeups.axes) == 3


def test_sample_spread_shows_the_mean_and_its_spread(mri):
    samples = np.stack([mri.test.truth[0], mri.test.truth[0] + 0.2])
    fig = viz.sample_spread(samples, mri.test.truth[0])
    shown = {ax.get_title(): ax.images[0].get_array() for ax in fig.axes if ax.images}
    assert np.allclose(shown["spread (sd)"], 0.1, atol=1e-6) and np.allclose(shown["|mean − truth|"], 0.1, atol=1e-6)


def test_gallery_shows_the_chosen_settings_of_the_same_slice(mri):
    images = {"zero-filled": mri.test.source[:, 0]}
    fig = viz.reconstruction_gallery(images, mri.test, 0, settings=[8])
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 4 and "acceleration 8" in shown[0].get_title()
    assert np.array_equal(shown[0].images[0].get_array(), mri.test.at(8).source[0, 0])

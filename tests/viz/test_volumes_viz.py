"""Chapter 09's figures: three planes per method, stretched by the voxel spacing, and the
step error slice pair by slice pair."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from medsynth_nb.viz.volumes import difference_profile, orthogonal_views


@pytest.fixture(scope="module")
def volumes():
    rng = np.random.default_rng(0)
    truth = rng.random((6, 20, 24))
    return {"truth": truth, "2-D": truth + rng.normal(0, 0.1, (6, 1, 1)), "3-D": torch.from_numpy(truth + 0.01)}


def test_orthogonal_views_have_a_row_per_method_and_the_spacing_as_aspect(volumes):
    fig = orthogonal_views(volumes, slice_gap_mm=5.0, pixel_mm=2.5)
    axes = np.array(fig.axes).reshape(3, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["truth", "2-D", "3-D"]
    assert [ax.get_title() for ax in axes[0]] == ["axial", "coronal", "sagittal (anterior left)"]
    assert [ax.get_aspect() for ax in axes[0]] == [1.0, 2.0, 2.0]
    axial, coronal, sagittal = (ax.images[0].get_array() for ax in axes[1])
    assert axial.shape == (20, 24) and coronal.shape == (6, 24) and sagittal.shape == (6, 20)
    np.testing.assert_array_equal(coronal[0], volumes["2-D"][-1, 10])  # superior up
    assert isinstance(fig, plt.Figure)


def test_orthogonal_views_cut_where_asked_and_refuse_what_they_cannot_show(volumes):
    fig = orthogonal_views({"truth": volumes["truth"]}, slice_gap_mm=2.5, pixel_mm=2.5, index=(1, 2, 3))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), volumes["truth"][1])
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), volumes["truth"][::-1, :, 3])
    with pytest.raises(ValueError, match="outside"):
        orthogonal_views(volumes, slice_gap_mm=5.0, pixel_mm=2.5, index=(6, 0, 0))
    with pytest.raises(ValueError, match="one shape"):
        orthogonal_views({"a": np.zeros((6, 20, 24)), "b": np.zeros((5, 20, 24))}, slice_gap_mm=5.0, pixel_mm=2.5)


def test_the_difference_profile_has_a_line_per_method_over_the_slice_pairs(volumes):
    methods = {k: v for k, v in volumes.items() if k != "truth"}
    fig = difference_profile(methods, volumes["truth"], slice_gap_mm=5.0)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["2-D", "3-D"]
    np.testing.assert_allclose(lines[0].get_xdata(), [2.5, 7.5, 12.5, 17.5, 22.5])
    np.testing.assert_allclose(lines[1].get_ydata(), 0, atol=1e-6)  # an error the same in every slice: no steps
    assert lines[0].get_ydata().min() > 0
    with pytest.raises(ValueError, match="truth"):
        difference_profile(methods, volumes["truth"][:3])

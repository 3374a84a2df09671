"""Chapter 09's figures: one panel per image set, one point per method."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.viz.evaluation import fidelity_vs_realism, image_sets, trial_pair


def test_image_sets_has_one_panel_per_set_titled_by_name():
    sets = {"real": np.zeros((3, 8, 8)), "blurred": np.ones((3, 8, 8))}
    fig = image_sets(sets, 1, title="ladder")
    assert [ax.get_title() for ax in fig.axes] == ["real", "blurred"]
    assert fig.axes[1].images[0].get_array().mean() == 1
    plt.close(fig)


def test_fidelity_vs_realism_places_every_method():
    table = pd.DataFrame({"psnr": [18.0, 17.0], "FID (segmenter)": [0.9, 0.4]}, index=["L1", "pix2pix"])
    fig = fidelity_vs_realism(table)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[18.0, 0.9], [17.0, 0.4]])
    assert [t.get_text() for t in ax.texts] == ["L1", "pix2pix"]
    plt.close(fig)


def test_trial_pair_shows_both_images_in_one_window():
    left, right = np.zeros((8, 8)), np.linspace(0, 2, 64).reshape(8, 8)
    fig = trial_pair(left, right)
    assert [ax.get_title() for ax in fig.axes] == ["left", "right"]
    windows = {ax.images[0].get_clim() for ax in fig.axes}
    assert len(windows) == 1  # one grey window: a window per image could hide or make a difference
    plt.close(fig)

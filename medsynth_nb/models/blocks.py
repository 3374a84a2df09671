"""Building blocks several models share.

``course_unet``: the 2-D U-Net of chapters 00, 01, 05 and 06, MONAI's ``UNet`` (Ronneberger
et al., MICCAI 2015) with stride-2 levels and two residual units per level (Kerfoot et al.,
2018): the U-Net regressor, pix2pix's generator and the lesion segmenter are all this network.
"""
from __future__ import annotations

from monai.networks.nets import UNet


def course_unet(in_channels: int, out_channels: int, channels, dropout: float = 0.0, norm: str = "instance") -> UNet:
    """A U-Net with one level per entry of ``channels`` (its widths, e.g. (16, 32, 64, 128)).
    ``norm="batch"`` for inputs with a constant channel (a time gap): instance norm removes
    every map's own mean, and with it whatever a constant channel added."""
    channels = tuple(channels)
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, channels=channels,
                strides=(2,) * (len(channels) - 1), num_res_units=2, dropout=dropout, norm=norm)

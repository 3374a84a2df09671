"""Chapter 06, coding exercise solved: the nested BraTS tumour regions. For instructors:
``medsynth solutions 06`` writes the chapter with this filled in."""
import numpy as np


def tumor_regions(labels):
    """The three regions BraTS scores, from a label map of any shape holding the codes
    0 background, 1 necrosis, 2 oedema, 3 enhancing tumour. Returns a dict of boolean arrays
    of the labels' shape: "wt" whole tumour (any tumour code), "tc" tumour core (necrosis +
    enhancing: what a surgeon would resect) and "et" enhancing tumour."""
    labels = np.asarray(labels)
    return {"wt": labels > 0,  # oedema belongs to the whole tumour, not to the core
            "tc": (labels == 1) | (labels == 3),
            "et": labels == 3}

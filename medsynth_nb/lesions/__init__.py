"""Chapter 06, controlled lesion synthesis: editing tumor label maps and measuring what a
renderer makes of them. The renderer and the segmenter are models (``models.lesion_renderer``,
``models.lesion_segmenter``), lesion/healthy pairs are data (``data.lesion_pairs``), the
painter and the 3-D view are widgets; this package holds the logic between them.

- ``nesting``: the rules a plausible tumor map keeps (``problems``, ``repair``);
- ``editor``: ``LabelEditor`` with a replayable history, ``replay``;
- ``saved_edit``: an edit written to NIfTI with its history (``save_edit``, ``load_edit``);
- ``fidelity``: learned renders scored against the physics render by sub-region;
- ``study``: random edits, controllability, erase-and-invent, Dice against k.
"""
__all__ = ["editor", "fidelity", "nesting", "saved_edit", "study"]

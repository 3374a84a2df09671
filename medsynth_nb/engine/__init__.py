"""Training engine: one loop for every model (``training``), checkpoints and resume
(``checkpoints``), several processes under torchrun (``distributed``), and a trained run
applied to a whole volume (``prediction``, ``medsynth predict``)."""
from medsynth_nb.engine.checkpoints import read_checkpoint, save_checkpoint
from medsynth_nb.engine.training import History, TrainConfig, TrainingDiverged, compare_runs, load_trained, train

__all__ = ["History", "compare_runs", "TrainConfig", "TrainingDiverged", "load_trained", "read_checkpoint", "save_checkpoint", "train"]

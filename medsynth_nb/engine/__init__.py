"""Training engine: one loop for every model, checkpoints, resume."""
from .checkpoints import read_checkpoint, save_checkpoint
from .training import History, TrainConfig, TrainingDiverged, compare_runs, load_trained, train

__all__ = ["History", "compare_runs", "TrainConfig", "TrainingDiverged", "load_trained", "read_checkpoint", "save_checkpoint", "train"]

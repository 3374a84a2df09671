"""Training engine: one loop for every model, checkpoints, resume."""
from medsynth_nb.engine.checkpoints import read_checkpoint, save_checkpoint
from medsynth_nb.engine.training import History, TrainConfig, TrainingDiverged, compare_runs, load_trained, train

__all__ = ["History", "compare_runs", "TrainConfig", "TrainingDiverged", "load_trained", "read_checkpoint", "save_checkpoint", "train"]

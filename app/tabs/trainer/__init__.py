"""The Trainer tab (:class:`TrainerTab`): train or fine-tune a model in the window.

- :mod:`.form`: the settings of a new run (folders, base model, preset, hyper-parameters) and the
  configuration they describe;
- :mod:`.controls`: Start/Pause/Resume/Cancel/"Use this model", the status line, the progress bar
  and the states of a run;
- :mod:`.plots`: the live loss, PSNR, SSIM and colorfulness plots;
- :mod:`.results`: the validation preview grid, the metrics table and the log;
- :mod:`.jobs`: the training run on the model worker and installing a checkpoint;
- :mod:`.tab`: the tab that composes them and follows a run's events.
"""

from .controls import CANCELLING, IDLE, PAUSED, PAUSING, RUNNING, STARTING
from .form import NEW_MODEL, PRESET_LABELS
from .jobs import TrainFailed, TrainRunJob
from .tab import TrainerTab

__all__ = ["TrainerTab", "TrainRunJob", "TrainFailed", "PRESET_LABELS", "NEW_MODEL", "IDLE", "STARTING", "RUNNING",
           "PAUSING", "PAUSED", "CANCELLING"]

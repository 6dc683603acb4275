"""The former home of the training settings (before the engine/loop import circle was broken): kept
so that ``from rnnhmm.training.loop import TrainConfig, train`` in users' scripts still works. The
settings live in :mod:`rnnhmm.training.settings`, the loop in :mod:`rnnhmm.training.engine`."""

from .engine import train  # noqa: F401
from .settings import *  # noqa: F401,F403
from .settings import __all__ as _settings_all

__all__ = [*_settings_all, "train"]

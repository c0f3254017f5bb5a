"""Training of one AC-GAN: the compiled step, ``Trainer``, checkpoints and the training loop.

Example:
    >>> from acgan_search.training import Trainer, train_and_evaluate, load_generator
    >>> metrics = train_and_evaluate(TrainConfig(max_steps=2000), "runs/mnist")
    >>> generator, config, num_classes = load_generator("runs/mnist/checkpoints/step_002000")
"""

from acgan_search.training.checkpoint import load_generator
from acgan_search.training.generation import GenerateFunction, noise_for_seed
from acgan_search.training.loop import latest_checkpoint, train_and_evaluate
from acgan_search.training.trainer import Trainer

__all__ = [
    "GenerateFunction",
    "Trainer",
    "latest_checkpoint",
    "load_generator",
    "noise_for_seed",
    "train_and_evaluate",
]

"""The GAN chapter: generative adversarial networks, built piece by piece.

- `aibook.gan.losses`: the minimax game's losses, D*, the gradient penalty.
- `aibook.gan.ring`: the 8-Gaussian ring and the VEEGAN/PacGAN mode metrics.
- `aibook.gan.models`: MLPs for 2-D points (PacGAN packing, minibatch std) and a DCGAN for 8x8.
- `aibook.gan.metrics`: a Fréchet distance between feature clouds, class balance, a
  class-mean baseline generator.
- `aibook.gan.train`: training loops, each with a `@dataclass` config at the top, and an EMA
  of the generator's weights.
"""

from aibook.gan.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    optimal_discriminator,
)
from aibook.gan.metrics import (
    class_balance,
    class_mean_baseline,
    feature_frechet_distance,
    frechet_distance,
)
from aibook.gan.models import (
    DigitsDiscriminator,
    DigitsGenerator,
    MLPDiscriminator,
    MLPGenerator,
    pack,
)
from aibook.gan.ring import mode_metrics, ring_centers, sample_ring
from aibook.gan.train import (
    DigitsGANConfig,
    GANRun,
    RingGANConfig,
    ema_update,
    nearest_neighbour_distances,
    train_digits_gan,
    train_ring_gan,
    train_ring_gans,
)

__all__ = [
    "DigitsDiscriminator",
    "DigitsGANConfig",
    "DigitsGenerator",
    "GANRun",
    "MLPDiscriminator",
    "MLPGenerator",
    "RingGANConfig",
    "class_balance",
    "class_mean_baseline",
    "discriminator_loss",
    "ema_update",
    "feature_frechet_distance",
    "frechet_distance",
    "generator_loss",
    "gradient_penalty",
    "mode_metrics",
    "nearest_neighbour_distances",
    "optimal_discriminator",
    "pack",
    "ring_centers",
    "sample_ring",
    "train_digits_gan",
    "train_ring_gan",
    "train_ring_gans",
]

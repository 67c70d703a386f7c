"""Learning without labels: autoencoders, VAEs, contrastive and masked self-supervision.

- `aibook.ssl.data`: MNIST-1D, generated offline and checked by sha256; k labels per class.
- `aibook.ssl.autoencoder`: (linear, non-linear, denoising) autoencoders; principal angles.
- `aibook.ssl.vae`: the VAE, its Gaussian KL, the reparameterisation trick and the ELBO.
- `aibook.ssl.contrastive`: augmentations of 1-D signals, NT-Xent, SimCLR's encoder and head.
- `aibook.ssl.masked`: masked signal modelling.
- `aibook.ssl.efficiency`: linear probes and the label-efficiency experiment.
"""

from aibook.ssl.autoencoder import AEConfig, Autoencoder, principal_angles, train_autoencoder
from aibook.ssl.contrastive import (
                                    Encoder1D,
                                    SimCLRConfig,
                                    augment,
                                    features,
                                    nt_xent,
                                    nt_xent_loop,
                                    projection_head,
                                    train_simclr,
)
from aibook.ssl.data import mnist1d, per_class
from aibook.ssl.efficiency import EfficiencyConfig, linear_probe, train_supervised
from aibook.ssl.masked import MaskedConfig, MaskedModel, mask_positions, train_masked
from aibook.ssl.vae import VAE, VAEConfig, elbo, gaussian_kl, reparameterize, train_vae

__all__ = [
    "AEConfig", "Autoencoder", "EfficiencyConfig", "Encoder1D", "MaskedConfig", "MaskedModel",
    "SimCLRConfig", "VAE", "VAEConfig", "augment", "elbo", "features", "gaussian_kl",
    "linear_probe", "mask_positions", "mnist1d", "nt_xent", "nt_xent_loop", "per_class",
    "principal_angles", "projection_head", "reparameterize", "train_autoencoder",
    "train_masked", "train_simclr", "train_supervised", "train_vae",
]

"""The losses of the GAN game (Goodfellow et al., 2014), written on logits.

The discriminator outputs a logit a; D = sigmoid(a) is its belief that the input is real.
With log sigmoid(a) = -softplus(-a) and log(1 - sigmoid(a)) = -softplus(a):

    discriminator:             L_D = -E log D(x) - E log(1 - D(G(z)))
                                   = E softplus(-a_real) + E softplus(a_fake)
    generator, saturating:     L_G = E log(1 - D(G(z)))  = -E softplus(a_fake)   (the minimax game)
    generator, non-saturating: L_G = -E log D(G(z))      =  E softplus(-a_fake)  (the paper's fix)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GENERATOR_LOSSES = ("non_saturating", "saturating")


def _check_logits(name: str, logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of logits, got {type(logits).__name__}")
    if logits.numel() == 0:
        raise ValueError(f"{name}: got an empty tensor of logits, shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name}: expected floating-point logits, got dtype {logits.dtype}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -mean log D(x) - mean log(1 - D(G(z))). Logits of any shape (N,) or (N, 1) -> scalar.

    Equals binary cross-entropy with label 1 on real and 0 on fake inputs, summed over the two.
    """
    _check_logits("discriminator_loss (real_logits)", real_logits)
    _check_logits("discriminator_loss (fake_logits)", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss on the discriminator's logits for generated samples -> scalar.

    kind="saturating": mean log(1 - D(G(z))), the minimax objective; its gradient vanishes
    when D confidently rejects the fakes. kind="non_saturating": -mean log D(G(z)).
    """
    _check_logits("generator_loss", fake_logits)
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    if kind == "saturating":
        return -F.softplus(fake_logits).mean()
    raise ValueError(f"generator_loss: kind must be one of {GENERATOR_LOSSES}, got {kind!r}")


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise on densities of equal shape.

    This maximises V(D, G) for a fixed generator: pointwise, a log D + b log(1 - D) peaks at
    D = a / (a + b). Densities must be >= 0 and not both 0 at any point.
    """
    p_data, p_g = torch.as_tensor(p_data), torch.as_tensor(p_g)
    if p_data.shape != p_g.shape:
        raise ValueError(f"optimal_discriminator: p_data {tuple(p_data.shape)} and p_g "
                         f"{tuple(p_g.shape)} must have the same shape")
    if (p_data < 0).any() or (p_g < 0).any():
        raise ValueError("optimal_discriminator: densities must be non-negative")
    total = p_data + p_g
    if (total == 0).any():
        raise ValueError("optimal_discriminator: p_data + p_g is 0 somewhere (D* undefined)")
    return p_data / total


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017): mean (||grad_x critic(x_hat)||_2 - 1)^2.

    real, fake: (N, ...) of equal shape; x_hat = eps * real + (1 - eps) * fake with one
    eps ~ U[0, 1] per row. Returns a scalar that is differentiable in the critic's parameters.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake "
                         f"{tuple(fake.shape)} must have the same shape")
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)  # (N,)
    return ((norms - 1) ** 2).mean()

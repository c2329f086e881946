"""Adversarial training pieces: the PatchGAN discriminator and the GAN loss with adaptive weighting."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.distributed import all_reduce_mean_
from omnitok.errors import ConfigError


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class PatchDiscriminator(nn.Module, Configurable):
    """PatchGAN (pix2pix / VQGAN): strided 4x4 convs -> one logit per overlapping patch.

    x: [B, C, H, W] in [-1, 1] -> logits [B, 1, h, w] (70x70 receptive field with 3 layers).
    Video [B, C, T, H, W] is judged frame by frame.

    Args:
        in_channels: image channels.
        base_channels: channels of the first layer, doubled per layer up to 8x.
        num_layers: strided layers (3 in VQGAN).
        norm: "group" (default: no running statistics, so train and eval agree and DDP needs no sync),
            "batch" (VQGAN's original) or "none".
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        norm: Literal["group", "batch", "none"] = "group",
    ):
        super().__init__()
        if norm not in ("group", "batch", "none"):
            raise ConfigError(f"PatchDiscriminator norm must be group, batch or none, got {norm!r}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = base_channels
        for n in range(1, num_layers + 1):
            out = base_channels * min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [nn.Conv2d(channels, out, 4, stride, 1, bias=norm == "none"), _norm(norm, out), nn.LeakyReLU(0.2)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.layers = nn.Sequential(*layers)
        self.apply(init_discriminator_weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 5:
            x = x.transpose(1, 2).flatten(0, 1)
        return self.layers(x)


def init_discriminator_weights(module: nn.Module) -> None:
    """The DCGAN/PatchGAN initialisation for discriminators (``module.apply(init_discriminator_weights)``):
    convolution weights N(0, 0.02), norm scales N(1, 0.02) and norm shifts zero."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class AdversarialLoss(nn.Module, Configurable):
    """A discriminator plus the losses that train it and the generator against it.

    Args:
        discriminator: any module media -> logits (PatchGAN for images).
        kind: "hinge" or "nonsaturating" (softplus) losses.
        weight: generator-side weight of the adversarial term.
        start_step: training step at which both the discriminator and the generator term switch on.
        adaptive_weight: scale the generator term by ||grad rec|| / ||grad adv|| at the decoder's last layer (VQGAN).
        max_adaptive_weight: clamp of that ratio.
    """

    def __init__(
        self,
        discriminator: nn.Module,
        kind: Literal["hinge", "nonsaturating"] = "hinge",
        weight: float = 0.5,
        start_step: int = 0,
        adaptive_weight: bool = True,
        max_adaptive_weight: float = 1e4,
    ):
        super().__init__()
        if kind not in ("hinge", "nonsaturating"):
            raise ConfigError(f"AdversarialLoss kind must be hinge or nonsaturating, got {kind!r}")
        self.discriminator = discriminator
        self.kind, self.weight, self.start_step = kind, float(weight), int(start_step)
        self.adaptive_weight, self.max_adaptive_weight = adaptive_weight, float(max_adaptive_weight)

    def active(self, step: int) -> bool:
        return step >= self.start_step and self.weight > 0

    def generator_loss(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        """Loss of the generator given its reconstructions (the discriminator's weights get no gradient here).
        ``real`` is unused here; losses with feature matching compare against it."""
        logits = self.discriminator(fake.float())
        if self.kind == "hinge":
            return -logits.mean()
        return F.softplus(-logits).mean()

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of the discriminator on real media and detached reconstructions, plus its mean logits."""
        real_logits = self.discriminator(real.float())
        fake_logits = self.discriminator(fake.detach().float())
        if self.kind == "hinge":
            loss = 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())
        else:
            loss = 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())
        return loss, {"logits_real": real_logits.detach().mean(), "logits_fake": fake_logits.detach().mean()}

    def balance(self, reconstruction_loss: Tensor, generator_loss: Tensor, last_layer: Tensor | None) -> Tensor:
        """The weight of the generator term: fixed, or VQGAN's gradient-norm ratio at ``last_layer`` (detached).

        Under data parallelism the two gradients are averaged over the ranks first, so the ratio is the one of the
        global batch (a norm of averages, not an average of norms), as one process with the whole batch computes it."""
        if not self.adaptive_weight or last_layer is None:
            return torch.tensor(self.weight, device=generator_loss.device)
        rec_grad = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
        gen_grad = torch.autograd.grad(generator_loss, last_layer, retain_graph=True)[0]
        all_reduce_mean_(rec_grad, gen_grad)
        ratio = rec_grad.float().norm() / (gen_grad.float().norm() + 1e-4)
        return ratio.clamp(0.0, self.max_adaptive_weight).detach() * self.weight

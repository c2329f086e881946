"""The world's judge: a small CNN, trained on true rendered scenes only, that reads each attribute of an image.

Generated images are scored by this classifier, never by the unified Transformer's own understanding pass, so
generation accuracy does not reward a model for agreeing with itself. The judge trains on "train" scenes (with
mild blur and noise so the slight softness of decoded tokens does not throw it) and reports its own accuracy on
held-out "val" scenes; a judge far from perfect on true scenes would make generation figures meaningless.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from examples.world.scenes import ATTRIBUTES, NUM_CLASSES, World, WorldScenes
from omnitok.errors import ConfigError, ShapeError


class WorldJudge(nn.Module):
    """Convolutional classifier: image [B, 3, S, S] in [-1, 1] -> logits per attribute (shape, colour, cell).

    Four 3x3 convolutions (the last three stride 2) keep a coarse spatial map, which a linear layer reads, so the
    cell (where) and the shape/colour (what) come from the same features.
    """

    def __init__(self, size: int = 32, width: int = 32) -> None:
        super().__init__()
        if size % 8:
            raise ConfigError(f"the judge needs an image side divisible by 8, got {size}")
        self.size = size
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.GroupNorm(8, 2 * width),
            nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.GroupNorm(8, 2 * width),
            nn.GELU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(4 * width * (size // 8) ** 2, 128),
            nn.GELU(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(128, n) for name, n in NUM_CLASSES.items()})

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (self.size, self.size):
            raise ShapeError(f"the judge reads images [B, 3, {self.size}, {self.size}], got {tuple(images.shape)}")
        hidden = self.features(images.float())
        return {name: head(hidden) for name, head in self.heads.items()}

    @torch.no_grad()
    def read(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """Predicted class per attribute: LongTensor [B, 3] in :data:`ATTRIBUTES` order."""
        was_training = self.training
        self.eval()
        out = []
        for chunk in images.split(batch_size):
            logits = self(chunk)
            out.append(torch.stack([logits[name].argmax(-1) for name in ATTRIBUTES], dim=1))
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, len(ATTRIBUTES), dtype=torch.long)


def attribute_accuracy(predicted: Tensor, target: Tensor) -> dict[str, float]:
    """Accuracy per attribute, their mean, and exact (all attributes right) for labels [N, 3] (class indices)."""
    if predicted.shape != target.shape or predicted.ndim != 2 or predicted.shape[1] != len(ATTRIBUTES):
        raise ShapeError(
            f"labels must both be [N, {len(ATTRIBUTES)}], got {tuple(predicted.shape)}, {tuple(target.shape)}"
        )
    if predicted.shape[0] == 0:
        raise ShapeError("no labels to score")
    right = predicted == target  # (N, 3)
    per = {name: float(right[:, i].float().mean()) for i, name in enumerate(ATTRIBUTES)}
    return {**per, "mean_attribute": float(right.float().mean()), "exact": float(right.all(1).float().mean())}


def _augment(images: Tensor, generator: torch.Generator) -> Tensor:
    """Per image: a Gaussian blur of random strength (sigma 0-1 px) and Gaussian noise (std 0-0.06)."""
    b = images.shape[0]
    sigma = 0.05 + torch.rand(b, generator=generator)  # (B,)
    offsets = torch.arange(-2, 3, dtype=torch.float32)
    kernels = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernels = kernels / kernels.sum(1, keepdim=True)  # (B, 5)
    x = images.reshape(1, b * 3, *images.shape[-2:])
    k = kernels.repeat_interleave(3, 0)  # (B*3, 5)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :], groups=b * 3)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None], groups=b * 3)
    x = x.reshape(images.shape)
    noise = 0.06 * torch.rand(b, 1, 1, 1, generator=generator)
    return x + noise * torch.randn(x.shape, generator=generator)


@dataclasses.dataclass
class JudgeResult:
    """A trained judge, its accuracy on held-out true scenes ("val"), and how it was trained."""

    judge: WorldJudge
    heldout_accuracy: dict[str, float]
    train_scenes: int
    heldout_scenes: int
    steps: int
    seconds: float


def train_judge(
    world: World,
    train_scenes: int = 4096,
    heldout_scenes: int = 512,
    steps: int = 600,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    width: int = 32,
    seed: int = 0,
) -> JudgeResult:
    """Train a :class:`WorldJudge` on ``train_scenes`` true "train" scenes; measure it on "val" scenes.

    Adam with a cosine decay, cross-entropy summed over the three attributes; deterministic for a given seed.
    """
    if steps < 1 or batch_size < 1 or train_scenes < 1 or heldout_scenes < 1:
        raise ConfigError("train_judge needs steps, batch_size, train_scenes and heldout_scenes >= 1")
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    judge = WorldJudge(world.size, width)
    train = WorldScenes(world, "train", train_scenes)
    images = train.images.float() / 127.5 - 1  # (N, 3, S, S)
    optimizer = torch.optim.Adam(judge.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + torch.cos(torch.tensor(s / steps * torch.pi)).item())
    )
    judge.train()
    for _ in range(steps):
        index = torch.randint(len(train), (batch_size,), generator=generator)
        logits = judge(_augment(images[index], generator))
        loss = sum(F.cross_entropy(logits[name], train.labels[index, i]) for i, name in enumerate(ATTRIBUTES))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    judge.eval()
    heldout = WorldScenes(world, "val", heldout_scenes)
    accuracy = attribute_accuracy(judge.read(heldout.images.float() / 127.5 - 1), heldout.labels)
    return JudgeResult(judge, accuracy, train_scenes, heldout_scenes, steps, time.perf_counter() - start)

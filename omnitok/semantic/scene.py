"""The quickstart teacher: a small CNN classifier of the labelled procedural scenes, trained first, then frozen.

A random-init teacher carries no semantics, so a linear-probe gain from distilling it would be noise. This
teacher is trained on the 9 shape/colour classes of :func:`omnitok.data.labelled.labelled_scenes` (about 2.5
CPU-minutes; the default 600 steps reach 52% held-out accuracy, chance 11%); its feature map (stride 4, before
the global pooling of the classifier head) is the distillation target. Weights are saved with safetensors next
to a JSON note of its held-out accuracy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ConfigError, WeightsError
from omnitok.semantic.base import SemanticTeacher
from omnitok.utils import atomic_path


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.ReLU())


class SceneClassifier(nn.Module):
    """images [B, 3, H, W] in [-1, 1] -> features [B, channels, H/4, W/4] and logits [B, num_classes]."""

    def __init__(self, channels: int = 64, num_classes: int = 9):
        super().__init__()
        if channels % 8:
            raise ConfigError(f"SceneClassifier channels must be a multiple of 8, got {channels}")
        half = channels // 2
        self.body = nn.Sequential(
            _block(3, half), _block(half, channels, 2), _block(channels, channels), _block(channels, channels, 2)
        )
        self.last = nn.Conv2d(channels, channels, 3, 1, 1)
        self.head = nn.Linear(channels, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.last(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.features(x)).mean((2, 3)))


def train_scene_classifier(
    channels: int = 64,
    steps: int = 600,
    batch_size: int = 64,
    size: int = 32,
    seed: int = 0,
    pool: int = 8192,
    test_scenes: int = 1024,
) -> tuple[SceneClassifier, float]:
    """Train a :class:`SceneClassifier` on ``pool`` labelled scenes; returns it and its accuracy on ``test_scenes``
    held-out ones."""
    from omnitok.data.labelled import SCENE_CLASSES, labelled_scenes

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = SceneClassifier(channels, len(SCENE_CLASSES))
    train, test = labelled_scenes(pool, size, "train", seed), labelled_scenes(test_scenes, size, "test", seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    net.train()
    for _ in range(steps):
        rows = torch.randint(len(train), (batch_size,), generator=generator)
        x = train.images[rows].float() / 127.5 - 1
        flip = torch.rand(batch_size, generator=generator) < 0.5  # shapes and colours do not change under flips
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = F.cross_entropy(net(x), train.labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    with torch.no_grad():
        predictions = torch.cat([net(test.batch(i, i + 256)).argmax(1) for i in range(0, len(test), 256)])
    return net, float((predictions == test.labels).float().mean())


class SceneTeacher(SemanticTeacher):
    """Frozen :class:`SceneClassifier` features [B, channels, H/4, W/4] of images in [-1, 1].

    Args:
        weights: safetensors file of a trained classifier; None: random init (tests only).
        train_if_missing: when ``weights`` does not exist, train the classifier (seeded, a few CPU-minutes) and
            save it there first, with ``<weights>.json`` noting its held-out accuracy.
        channels, train_steps, seed: the classifier's width and training run (when trained here).
    """

    modality = "image"

    def __init__(
        self,
        weights: str | None = None,
        train_if_missing: bool = False,
        channels: int = 64,
        train_steps: int = 600,
        seed: int = 0,
    ):
        super().__init__()
        from omnitok.data.labelled import SCENE_CLASSES

        self.network = SceneClassifier(channels, len(SCENE_CLASSES))
        self.dim, self.accuracy = channels, None
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                if not train_if_missing:
                    raise WeightsError(
                        f"scene teacher weights not found: {path} (set train_if_missing: true to train them)"
                    )
                save_scene_teacher(path, channels, train_steps, seed)
            self._load(path)
        self.freeze()

    def _load(self, path: Path) -> None:
        from safetensors.torch import load_file

        try:
            self.network.load_state_dict(load_file(path))
        except Exception as err:
            raise WeightsError(f"{path} does not hold SceneClassifier weights of this width: {err}") from err
        note = path.with_suffix(path.suffix + ".json")
        if note.is_file():
            self.accuracy = json.loads(note.read_text()).get("test_accuracy")

    def extract(self, x: Tensor) -> Tensor:
        return self.network.features(x.float())

    def classify(self, x: Tensor) -> Tensor:
        """Class logits [B, 9] of images in [-1, 1]."""
        with torch.no_grad():
            return self.network(x.float())


def save_scene_teacher(
    path: str | Path, channels: int = 64, steps: int = 600, seed: int = 0, pool: int = 8192, test_scenes: int = 1024
) -> float:
    """Train the scene classifier on ``pool`` scenes and write ``path`` (safetensors) + ``path.json``; returns its
    accuracy on ``test_scenes`` held-out scenes."""
    from safetensors.torch import save_file

    start = time.perf_counter()
    net, accuracy = train_scene_classifier(channels, steps, seed=seed, pool=pool, test_scenes=test_scenes)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    note = {
        "test_accuracy": accuracy,
        "chance": 1 / 9,
        "steps": steps,
        "pool": pool,
        "seed": seed,
        "seconds": time.perf_counter() - start,
    }
    with atomic_path(path.with_suffix(path.suffix + ".json")) as tmp:
        tmp.write_text(json.dumps(note, indent=2))
    return accuracy

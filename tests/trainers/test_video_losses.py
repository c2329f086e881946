"""Video training losses: per-frame LPIPS (with frame subsampling) and the 3-D PatchGAN discriminator."""

from __future__ import annotations

import pytest
import torch

from omnitok.data import moving_shapes_clip
from omnitok.errors import ConfigError, ShapeError
from omnitok.trainers import AdversarialLoss, PatchDiscriminator, PatchDiscriminator3d, PerceptualLoss


@pytest.fixture(scope="module")
def lpips_term() -> PerceptualLoss:
    torch.manual_seed(0)
    return PerceptualLoss(net="squeeze", pretrained=False)


def test_perceptual_loss_on_video_is_the_mean_over_frames(lpips_term):
    x, y = torch.rand(2, 3, 5, 32, 32) * 2 - 1, torch.rand(2, 3, 5, 32, 32) * 2 - 1
    per_frame = [
        float(lpips_term.lpips(x[:, :, t], y[:, :, t]).mean()) for t in range(5)
    ]  # the library, frame by frame
    assert float(lpips_term(x, y)) == pytest.approx(sum(per_frame) / 5, rel=1e-5)
    one_frame = lpips_term(x[:, :, :1], y[:, :, :1])  # images as 1-frame videos give the image loss
    assert float(one_frame) == pytest.approx(float(lpips_term(x[:, :, 0], y[:, :, 0])), rel=1e-6)


def test_perceptual_loss_frame_subsampling(lpips_term):
    term = PerceptualLoss(net="squeeze", pretrained=False, max_frames=3)
    term.lpips.load_state_dict(lpips_term.lpips.state_dict())
    x, y = torch.rand(1, 3, 9, 32, 32) * 2 - 1, torch.rand(1, 3, 9, 32, 32) * 2 - 1
    per_frame = torch.stack([lpips_term.lpips(x[:, :, t], y[:, :, t]).mean() for t in range(9)])
    term.eval()
    assert term.frames(9, x.device).tolist() == [0, 4, 8]  # evenly spaced, first and last
    assert float(term(x, y)) == pytest.approx(float(per_frame[[0, 4, 8]].mean()), rel=1e-5)
    term.train()
    torch.manual_seed(3)
    chosen = term.frames(9, x.device)
    assert len(chosen) == 3 and chosen.unique().numel() == 3 and chosen.tolist() == sorted(chosen.tolist())
    torch.manual_seed(3)
    assert float(term(x, y)) == pytest.approx(float(per_frame[chosen].mean()), rel=1e-5)
    assert term.frames(3, x.device) is None  # short clips: every frame
    with pytest.raises(ConfigError):
        PerceptualLoss(net="squeeze", pretrained=False, max_frames=0)
    with pytest.raises(ShapeError):
        term(x, y[:, :, :8])


def conv_out(size: int, stride: int, kernel: int = 4, padding: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@pytest.mark.parametrize("frames", [1, 4, 9])
def test_3d_discriminator_shapes_by_hand(frames):
    disc = PatchDiscriminator3d(base_channels=8, num_layers=3, temporal_downsample=2)
    x = torch.randn(2, 3, frames, 64, 48)
    t, h, w = frames, 64, 48
    for stride in (2, 2, 2, 1, 1):  # first conv, two strided layers, the stride-1 layer, the head
        h, w = conv_out(h, stride), conv_out(w, stride)
    for _ in range(2):  # the first two layers halve time (kernel 3, padding 1)
        t = conv_out(t, 2, kernel=3)
    assert disc(x).shape == (2, 1, t, h, w)
    assert disc(x[:, :, 0]).shape[2] == 1  # a 4-D image batch is a 1-frame video
    with pytest.raises(ShapeError):
        disc(torch.randn(2, 1, frames, 64, 48))
    with pytest.raises(ConfigError):
        PatchDiscriminator3d(temporal_kernel=2)


def test_3d_discriminator_sees_frame_order_and_has_a_local_temporal_window():
    """A per-frame PatchGAN gives a clip and its frame-shuffled copy exactly the same mean logit (it is blind to
    motion); the 3-D one does not. Its temporal receptive field is what the kernels say: with kernel 3, no temporal
    stride and 4 convolutions, output frame t sees input frames t-4..t+4 only."""
    torch.manual_seed(0)
    clips = torch.stack([moving_shapes_clip(s, 16, 32) for s in range(2)]).float() / 127.5 - 1
    shuffled = clips[:, :, torch.randperm(16)]
    frame_disc = PatchDiscriminator(base_channels=8, num_layers=2)
    torch.testing.assert_close(frame_disc(clips).mean(), frame_disc(shuffled).mean())

    disc = PatchDiscriminator3d(base_channels=8, num_layers=2, temporal_downsample=0, norm="none")
    with torch.no_grad():
        logits = disc(clips)
        assert logits.shape[2] == 16
        assert not torch.allclose(logits.mean(), disc(shuffled).mean())
        changed = clips.clone()
        changed[:, :, 10] = torch.rand_like(changed[:, :, 10]) * 2 - 1
        moved = (disc(changed) - logits).abs().amax(dim=(0, 1, 3, 4))  # per output frame
    assert (moved[6:15] > 0).all() and (moved[:6] == 0).all() and (moved[15:] == 0).all(), moved


def test_3d_discriminator_trains_in_adversarial_loss():
    torch.manual_seed(0)
    disc = PatchDiscriminator3d(base_channels=8, num_layers=2, temporal_downsample=1)
    gan = AdversarialLoss(disc, kind="hinge", adaptive_weight=False)
    real = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    fake = (torch.rand(2, 3, 5, 32, 32) * 2 - 1).requires_grad_()
    loss, figures = gan.discriminator_loss(real, fake)
    loss.backward()
    assert all(p.grad is not None for p in disc.parameters()) and fake.grad is None  # fakes are detached
    assert set(figures) == {"logits_real", "logits_fake"}
    disc.zero_grad()
    gan.generator_loss(fake).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0

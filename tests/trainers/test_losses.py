"""Training-only pieces against written-out formulas: GAN losses, adaptive weight, PatchGAN, EMA, LPIPS term."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from omnitok.errors import ConfigError
from omnitok.trainers import AdversarialLoss, PatchDiscriminator, PerceptualLoss, ReconstructionLoss, WeightEma


class FixedLogits(torch.nn.Module):
    """A 'discriminator' whose logits are a known function of the input: the mean over channels."""

    def forward(self, x):
        return x.mean(1, keepdim=True)


@pytest.mark.parametrize("kind", ["hinge", "nonsaturating"])
def test_gan_losses_match_their_formulas(kind):
    gan = AdversarialLoss(FixedLogits(), kind=kind)
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    lr, lf = real.mean(1, keepdim=True), fake.mean(1, keepdim=True)
    d_loss, figures = gan.discriminator_loss(real, fake)
    if kind == "hinge":
        expected_d = 0.5 * (torch.clamp(1 - lr, min=0).mean() + torch.clamp(1 + lf, min=0).mean())
        expected_g = -lf.mean()
    else:
        expected_d = 0.5 * (torch.log1p(torch.exp(-lr)).mean() + torch.log1p(torch.exp(lf)).mean())
        expected_g = torch.log1p(torch.exp(-lf)).mean()
    torch.testing.assert_close(d_loss, expected_d)
    torch.testing.assert_close(gan.generator_loss(fake), expected_g)
    torch.testing.assert_close(figures["logits_real"], lr.mean())


def test_adaptive_weight_is_the_gradient_norm_ratio_at_the_last_layer():
    layer = torch.nn.Conv2d(4, 3, 3, padding=1)
    h = torch.randn(2, 4, 8, 8)
    x_hat = layer(h)
    target = torch.randn_like(x_hat)
    rec = F.l1_loss(x_hat, target)
    gan = AdversarialLoss(PatchDiscriminator(3, base_channels=8, num_layers=1), weight=0.5)
    gen = gan.generator_loss(x_hat)
    weight = gan.balance(rec, gen, layer.weight)
    g_rec = torch.autograd.grad(rec, layer.weight, retain_graph=True)[0]
    g_gen = torch.autograd.grad(gen, layer.weight, retain_graph=True)[0]
    torch.testing.assert_close(weight, 0.5 * g_rec.norm() / (g_gen.norm() + 1e-4))
    assert not weight.requires_grad
    fixed = AdversarialLoss(FixedLogits(), weight=0.3, adaptive_weight=False).balance(rec, gen, layer.weight)
    assert float(fixed) == pytest.approx(0.3)


def test_gan_switches_on_at_its_start_step():
    gan = AdversarialLoss(FixedLogits(), start_step=10)
    assert not gan.active(9) and gan.active(10)
    assert not AdversarialLoss(FixedLogits(), weight=0.0).active(100)
    with pytest.raises(ConfigError):
        AdversarialLoss(FixedLogits(), kind="wasserstein")


@pytest.mark.parametrize("norm", ["group", "batch", "none"])
def test_patch_discriminator_has_the_pix2pix_patch_grid(norm):
    disc = PatchDiscriminator(3, base_channels=8, num_layers=3, norm=norm)
    assert disc(torch.randn(2, 3, 256, 256)).shape == (2, 1, 30, 30)  # 70x70 patches, as in pix2pix/VQGAN
    assert disc(torch.randn(1, 3, 4, 64, 64)).shape[0] == 4  # video: judged frame by frame


def test_ema_tracks_parameters_and_copies_buffers():
    model = torch.nn.BatchNorm1d(3)
    ema = WeightEma(model, decay=0.9)
    start = ema.average.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
        model.running_mean.add_(5.0)
    ema.update(model, step=1000)
    torch.testing.assert_close(ema.average.weight, 0.9 * start + 0.1 * model.weight.detach())
    torch.testing.assert_close(ema.average.running_mean, model.running_mean)
    before = ema.average.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model, step=0)  # warm-up: decay min(0.9, 1/10) = 0.1
    torch.testing.assert_close(ema.average.weight, 0.1 * before + 0.9 * model.weight.detach())
    assert not ema.average.training and not ema.average.weight.requires_grad


def test_reconstruction_and_perceptual_terms():
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(ReconstructionLoss("l1")(x, y), (x - y).abs().mean())
    torch.testing.assert_close(ReconstructionLoss("l2")(x, y), ((x - y) ** 2).mean())
    with pytest.raises(ConfigError):
        ReconstructionLoss("huber")
    import lpips

    torch.manual_seed(0)
    term = PerceptualLoss(pretrained=False)
    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    reference.load_state_dict(term.lpips.state_dict())
    torch.testing.assert_close(term(x, y), reference(x, y).mean())
    frames = torch.stack([x, y], dim=2)  # [B, C, T, H, W]
    torch.testing.assert_close(term(frames, frames.flip(2)), reference(torch.cat([x, y]), torch.cat([y, x])).mean())
    assert not any(p.requires_grad for p in term.parameters())

"""One evaluation path: a training run's held-out scores are the numbers ``omnitok eval`` reports for the same
samples (the same metric objects from the modality's metric set, on the same scale), and PSNR is the written-out
formula."""

import pytest
import torch

from omnitok.evaluation import EvalImages, clips_from_tensors, evaluate_tokenizer, videos_from_tensors
from omnitok.modalities import get_modality
from tests.evaluation.toy_tokenizers import CausalFramePooling, PoolingQuantizer, ResidualRounding


def _images() -> EvalImages:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 16, 16), generator=generator, dtype=torch.uint8)
    return EvalImages(images, [f"{i}.png" for i in range(6)], "tensors", 16, "f")


def _clips():
    generator = torch.Generator().manual_seed(1)
    return videos_from_tensors(torch.randint(0, 256, (3, 3, 5, 8, 8), generator=generator, dtype=torch.uint8))


def _audio():
    generator = torch.Generator().manual_seed(2)
    return clips_from_tensors(torch.rand(4, 1, 4096, generator=generator) * 1.6 - 0.8, 8000)


@pytest.mark.parametrize(
    "make_data, tokenizer", [(_images, PoolingQuantizer()), (_clips, CausalFramePooling()), (_audio, ResidualRounding())]
)
def test_heldout_scores_are_the_eval_numbers(make_data, tokenizer):
    data = make_data()
    spec = tokenizer.spec
    modality = get_modality(spec.modality)
    metrics, _ = modality.metrics(torch.device("cpu"))
    names = modality.heldout_metrics()
    result = evaluate_tokenizer(tokenizer, "toy", data, [m for m in metrics if m.name in names], batch_size=len(data))
    low, high = spec.value_range
    lo, hi = data.scale
    x = (data.batch(0, len(data)) - lo) / (hi - lo) * (high - low) + low  # the data in the tokenizer's range
    scores = modality.heldout_scores(spec, x, tokenizer.decode(tokenizer.encode(x)))
    assert set(scores) == set(names)
    for name in names:
        assert scores[name] == pytest.approx(result.summary[name], rel=1e-5, abs=1e-6), name


def test_image_heldout_psnr_is_the_formula():
    spec = PoolingQuantizer().spec
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    x_hat = (x + 0.1 * torch.randn(3, 3, 8, 8)).clamp(-1, 1)
    mse = (((x + 1) / 2 - (x_hat + 1) / 2) ** 2).flatten(1).mean(1)
    expected = float((10 * torch.log10(1 / mse)).mean())
    assert get_modality("image").heldout_scores(spec, x, x_hat)["psnr"] == pytest.approx(expected, rel=1e-5)

"""Evaluation runner: the conventional intensity scale, reproducibility, and clear errors on bad input."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from omnitok import ConfigError, DataError, ShapeError
from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
from omnitok.metrics.fid import RFID
from omnitok.metrics.image import PSNR, SSIM
from omnitok.report import metrics_document
from tests.evaluation.toy_tokenizers import AudioLike, PoolingQuantizer, ShiftTokenizer


def _metrics():
    torch.manual_seed(1)
    features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 4, 4), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return [PSNR(), SSIM(), RFID(feature_extractor=_FloatInput(features))]


class _FloatInput(torch.nn.Module):
    """Random features of uint8 images (what torchmetrics hands a custom extractor)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x.float() / 255.0)


@pytest.fixture(scope="module")
def data():
    return load_eval_images("builtin", resolution=32, max_samples=12, seed=3)


def test_metrics_use_the_conventional_scale_whatever_the_tokenizer_range(data):
    # The tokenizer works in [0, 255] and shifts every value by 0.05 of the range; metrics must see [0, 1] images
    run = evaluate([NamedTokenizer("shift", ShiftTokenizer(12.75))], data, metrics=[PSNR(), SSIM()], show=2)
    result = run.results[0]
    originals = data.images.float().numpy() / 255.0
    shifted = np.clip(originals + 0.05, 0, 1)
    want_psnr = [peak_signal_noise_ratio(o, s, data_range=1) for o, s in zip(originals, shifted)]
    want_ssim = [
        structural_similarity(
            o, s, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0
        )
        for o, s in zip(originals, shifted)
    ]
    np.testing.assert_allclose(result.per_sample["psnr"], want_psnr, rtol=1e-4)
    np.testing.assert_allclose(result.per_sample["ssim"], want_ssim, atol=1e-3)
    assert result.summary["psnr"] == pytest.approx(np.mean(want_psnr), rel=1e-4)
    assert result.tokens["latent_floats_per_pixel"] == 3.0 and "bits_per_pixel" not in result.tokens


def test_two_runs_with_the_same_protocol_give_identical_numbers(data):
    docs = []
    for _ in range(2):
        run = evaluate(
            [NamedTokenizer("pool", PoolingQuantizer())],
            load_eval_images("builtin", 32, 12, seed=3),
            metrics=_metrics(),
            show=3,
        )
        docs.append(metrics_document(run))
    for doc in docs:
        for entry in doc["tokenizers"]:
            entry.pop("speed")
        doc["protocol"].pop("device")
    assert docs[0] == docs[1]
    first = docs[0]["tokenizers"][0]
    assert set(first["reconstruction"]) == {"psnr", "ssim", "rfid"} and first["reconstruction"]["rfid"] > 0
    assert first["tokens"]["bits_per_pixel"] == pytest.approx(6 / 16)  # one 64-code token per 4x4 pixels
    assert len(first["per_sample"]["psnr"]) == 12 and docs[0]["samples"] == data.names


def test_worst_samples_are_the_lowest_scores(data):
    run = evaluate([NamedTokenizer("pool", PoolingQuantizer())], data, metrics=[PSNR()], show=0, worst_k=3)
    result = run.results[0]
    scores = result.per_sample["psnr"]
    assert [scores[i] for i in result.worst["psnr"]] == sorted(scores)[:3]
    again = PSNR()(data.images[result.worst["psnr"]].float() / 255, result.worst_images["psnr"].float() / 255)
    np.testing.assert_allclose(again.numpy(), sorted(scores)[:3], atol=0.05)  # uint8 rounding of the stored images


def test_codebook_figures_count_every_token(data):
    run = evaluate([NamedTokenizer("pool", PoolingQuantizer())], data, metrics=[PSNR()], show=0)
    counts = run.results[0].code_counts[0]
    assert counts.sum() == 12 * 8 * 8
    tokens = run.results[0].tokens
    assert tokens["dead_codes"] == 64 - (counts > 0).sum()


def test_mismatched_tokenizers_fail_before_any_work(data):
    with pytest.raises(ConfigError, match="audio tokenizer"):
        evaluate(
            [NamedTokenizer("pool", PoolingQuantizer()), NamedTokenizer("speech", AudioLike())], data, metrics=[PSNR()]
        )
    odd = load_eval_images("builtin", resolution=30, max_samples=2)
    with pytest.raises(ShapeError, match="cannot take 30x30"):
        evaluate([NamedTokenizer("pool", PoolingQuantizer())], odd, metrics=[PSNR()])
    with pytest.raises(ConfigError, match="names must differ"):
        evaluate(
            [NamedTokenizer("a", PoolingQuantizer()), NamedTokenizer("a", PoolingQuantizer())], data, metrics=[PSNR()]
        )


def test_bad_data_folders_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_eval_images(tmp_path / "missing", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        load_eval_images(tmp_path / "empty", 32)
    folder = tmp_path / "photos"
    folder.mkdir()
    from torchvision.io import write_png

    write_png(torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8), str(folder / "good.png"))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match="broken.png"):
        load_eval_images(folder, 32)
    data = load_eval_images(folder, 32, skip_unreadable=True)
    assert data.names == ["good.png"] and data.images.shape == (1, 3, 32, 32)
    assert len(data.skipped) == 1 and "broken.png" in data.skipped[0]


def test_fingerprint_follows_file_contents(tmp_path):
    from torchvision.io import write_png

    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    write_png(image, str(tmp_path / "a.png"))
    first = load_eval_images(tmp_path, 32).fingerprint
    assert load_eval_images(tmp_path, 32).fingerprint == first
    image[0, 0, 0] ^= 1
    write_png(image, str(tmp_path / "a.png"))
    assert load_eval_images(tmp_path, 32).fingerprint != first


def test_a_single_image_reports_rfid_as_unavailable():
    one = load_eval_images("builtin", resolution=32, max_samples=1)
    run = evaluate([NamedTokenizer("pool", PoolingQuantizer())], one, metrics=_metrics(), show=1)
    assert run.unavailable == {"rfid": "needs at least 2 images"} and "rfid" not in run.results[0].summary

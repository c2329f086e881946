"""The bitrate ladder: kbps per rung by hand, every rung decodes, the resampling baseline."""

from __future__ import annotations

import math

import pytest
import torch

from omnitok.data import harmonic_chirp
from omnitok.metrics.audio import si_sdr
from omnitok.metrics.audio_ladder import bitrate_ladder, ladder_markdown, resample_baseline, rung_kbps
from tests.nn.audio_models import QUANTIZERS, tiny_codec


def test_ladder_rows_and_kbps_by_hand():
    model = tiny_codec(QUANTIZERS["rvq_dropout"]()).eval()  # 4 levels x 32 codes, hop 8 at 16 kHz
    clips = [harmonic_chirp(0.2, 16_000, seed=s) for s in range(2)]
    rows = bitrate_ladder(model, clips)
    assert [r["levels"] for r in rows] == [1, 2, 3, 4]
    assert [r["kbps"] for r in rows] == [pytest.approx(q * 5 * 2000 / 1000) for q in range(1, 5)]
    assert all(math.isfinite(r[k]) for r in rows for k in r)
    assert ladder_markdown(rows).count("\n") == 6
    assert rung_kbps(model.spec, 2) == pytest.approx(20.0)


def test_resample_baseline():
    x = harmonic_chirp(0.5, 16_000, seed=0).unsqueeze(0)
    assert torch.equal(resample_baseline(x, 16_000, kbps=10_000), x)  # enough bits: untouched
    coarse, fine = resample_baseline(x, 16_000, kbps=8), resample_baseline(x, 16_000, kbps=64)
    assert coarse.shape == x.shape and si_sdr(x, fine) > si_sdr(x, coarse)


def test_ladder_refuses_continuous_tokenizers():
    with pytest.raises(ValueError, match="discrete"):
        bitrate_ladder(tiny_codec(QUANTIZERS["continuous"]()).eval(), [torch.zeros(1, 80)])

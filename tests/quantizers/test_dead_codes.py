"""Dead-code restarts and the warning for thresholds that restart codes in use."""

from __future__ import annotations

import warnings

import pytest
import torch

from omnitok.quantizers import VectorQuantizer
from omnitok.quantizers.dead_codes import restart_dead_codes_, warn_if_threshold_churns


def test_only_codes_below_the_threshold_restart_on_batch_rows_with_consistent_ema():
    codebook = torch.zeros(6, 3)
    ema_count = torch.tensor([5.0, 0.1, 2.0, 0.0, 0.9, 1.0])
    ema_sum = codebook * ema_count[:, None]
    vectors = torch.arange(30, dtype=torch.float32).reshape(10, 3) + 1.0
    restarted = restart_dead_codes_(codebook, ema_count, ema_sum, vectors, threshold=1.0, generator=torch.Generator().manual_seed(0))
    dead = torch.tensor([False, True, False, True, True, False])
    assert restarted == 3
    assert torch.equal(codebook[~dead], torch.zeros(3, 3))
    rows = {tuple(r.tolist()) for r in vectors}
    assert all(tuple(r.tolist()) in rows for r in codebook[dead])  # each restarted code is a batch vector
    assert torch.equal(ema_count, torch.tensor([5.0, 1.0, 2.0, 1.0, 1.0, 1.0]))
    torch.testing.assert_close(ema_sum[dead] / ema_count[dead, None], codebook[dead])  # the EMA codebook agrees


def test_nothing_restarts_when_every_code_is_alive():
    codebook, ema_count = torch.randn(4, 2), torch.full((4,), 3.0)
    before = codebook.clone()
    assert restart_dead_codes_(codebook, ema_count, ema_count[:, None] * codebook, torch.randn(8, 2), 2.0, torch.Generator()) == 0
    assert torch.equal(codebook, before)


@pytest.mark.parametrize(("threshold", "warns"), [(1.0, True), (0.3, True), (0.25, False), (0.05, False)])
def test_warns_when_threshold_exceeds_a_quarter_of_the_mean_count(threshold, warns):
    # 256 vectors per step over 256 codes: the mean code count is 1.0, so 0.25 is the largest quiet threshold
    class Owner:
        pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_threshold_churns(Owner(), threshold, 256.0, 256)
    assert bool(caught) == warns
    if warns:
        message = str(caught[0].message)
        assert f"dead_code_threshold={threshold:g}" in message and "256 codes" in message and "at most 0.25" in message


def test_vector_quantizer_warns_once_in_training_at_a_churning_threshold():
    vq = VectorQuantizer(4, 64, dead_code_threshold=1.0).train()  # 32 vectors over 64 codes: mean count 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            vq.quantize_flat(torch.randn(32, 4))
    churn = [w for w in caught if "dead_code_threshold" in str(w.message)]
    assert len(churn) == 1, [str(w.message) for w in caught]


def test_a_step_without_vectors_is_not_judged():
    class Owner:
        pass

    owner = Owner()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_threshold_churns(owner, 0.05, 0.0, 256)  # e.g. a residual level switched off by dropout
        assert not caught
        warn_if_threshold_churns(owner, 0.05, 20.0, 256)  # the first real step is judged: 20 / 256 = 0.078
    assert len(caught) == 1


def test_vector_quantizer_is_quiet_at_a_threshold_below_the_mean_count():
    vq = VectorQuantizer(4, 16, dead_code_threshold=0.5).train()  # 256 vectors over 16 codes: mean count 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vq.quantize_flat(torch.randn(256, 4))
    assert not [w for w in caught if "dead_code_threshold" in str(w.message)]

"""Semantic figures: the probe separates separable features and stays at chance on random labels; ridge and
cosine against written-out formulas."""

import pytest
import torch

from omnitok.errors import DataError, ShapeError
from omnitok.metrics.semantic import linear_probe, pool_tokens, readout_cosine, ridge_fit, ridge_predict, teacher_cosine


def test_probe_on_separable_features_is_near_perfect():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g) * 4
    labels = torch.randint(5, (600,), generator=g)
    x = centres[labels] + torch.randn(600, 16, generator=g)
    result = linear_probe(x[:400], labels[:400], x[400:], labels[400:])
    assert result.accuracy > 0.97 and result.num_classes == 5 and result.num_test == 200


def test_probe_on_random_labels_is_near_chance():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 16, generator=g)
    labels = torch.randint(4, (2000,), generator=g)
    result = linear_probe(x[:1000], labels[:1000], x[1000:], labels[1000:])
    assert abs(result.accuracy - 0.25) < 0.05
    assert 0.25 <= result.chance < 0.3  # the majority class's share of the test split


def test_ridge_matches_the_normal_equations():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(50, 4, generator=g), torch.randn(50, 3, generator=g)
    w = ridge_fit(x, y, ridge=0.1)
    xb = torch.cat([x, torch.ones(50, 1)], 1).double()
    penalty = torch.diag(torch.tensor([5.0, 5.0, 5.0, 5.0, 50e-9], dtype=torch.float64))  # 0.1 * n, bias ~free
    expected = torch.linalg.solve(xb.T @ xb + penalty, xb.T @ y.double())
    torch.testing.assert_close(w, expected)
    torch.testing.assert_close(ridge_predict(x, w), xb @ expected)


def test_teacher_cosine_and_pooling_by_hand():
    a = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # [1, 2, 1, 2]: vectors (1, 0) and (0, 1)
    b = torch.tensor([[[[1.0, 1.0]], [[0.0, 1.0]]]])  # (1, 0) and (1, 1)
    torch.testing.assert_close(teacher_cosine(a, b), torch.tensor([(1 + 2**-0.5) / 2]))
    torch.testing.assert_close(pool_tokens(b), torch.tensor([[1.0, 0.5]]))
    with pytest.raises(ShapeError):
        teacher_cosine(a, b[:, :1])


def test_readout_cosine_recovers_a_linear_teacher():
    g = torch.Generator().manual_seed(3)
    tokens = torch.randn(40, 6, 3, 3, generator=g)
    mix = torch.randn(6, 4, generator=g)
    teacher = torch.einsum("ndhw,dc->nchw", tokens, mix)
    assert readout_cosine(tokens[:20], teacher[:20], tokens[20:], teacher[20:], ridge=1e-6) > 0.999
    noise = torch.randn(40, 4, 3, 3, generator=g)
    assert abs(readout_cosine(tokens[:20], noise[:20], tokens[20:], noise[20:])) < 0.2


def test_probe_errors():
    with pytest.raises(DataError):
        linear_probe(
            torch.randn(4, 2), torch.zeros(4, dtype=torch.long), torch.randn(0, 2), torch.zeros(0, dtype=torch.long)
        )
    with pytest.raises(ShapeError):
        linear_probe(
            torch.randn(4, 2), torch.zeros(4, dtype=torch.long), torch.randn(2, 3), torch.zeros(2, dtype=torch.long)
        )

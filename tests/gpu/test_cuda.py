"""Checks that need a CUDA GPU (marker ``gpu``; skipped without one). ``benchmarks/gpu_check.sh`` runs them first.

Kernels against their torch paths at odd shapes and ties in every precision, every tokenizer family in bf16/fp16
and channels-last against fp32, and training through ``omnitok train`` on the GPU: NCCL across 2 processes when two
GPUs exist, else one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.ops.draws import clear_winners

pytestmark = pytest.mark.gpu
REPO = Path(__file__).resolve().parents[2]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize(("n", "k", "d"), [(1, 1, 1), (1000, 513, 37), (65537, 16384, 256), (4099, 262144, 8)])
def test_nearest_code_kernel_agrees_with_brute_force_except_near_ties(dtype, metric, n, k, d):
    from omnitok.ops import nearest_code

    g = torch.Generator(device="cuda").manual_seed(n + k + d)
    x = torch.randn(n, d, device="cuda", generator=g).to(dtype)
    codebook = torch.randn(k, d, device="cuda", generator=g).to(dtype)
    kernel = nearest_code(x, codebook, metric=metric, backend="triton").indices
    torch_path = nearest_code(x, codebook, metric=metric, backend="torch").indices
    best, clear = clear_winners(x.float().cpu(), codebook.float().cpu(), metric)
    assert torch.equal(kernel.cpu()[clear], best[clear]) and torch.equal(torch_path.cpu()[clear], best[clear])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_exact_ties_go_to_the_lowest_index_at_gpu_scale(dtype):
    from omnitok.ops import nearest_code

    g = torch.Generator().manual_seed(0)
    codebook = torch.randint(-3, 4, (20000, 8), generator=g).float()  # small integers: every distance is exact
    codebook[15000:] = codebook[:5000]  # duplicates in other kernel tiles and splits
    x = torch.randint(-3, 4, (50000, 8), generator=g).float()
    expected = torch.cdist(x.double(), codebook.double()).argmin(1)  # the first minimum
    got = nearest_code(x.cuda().to(dtype), codebook.cuda().to(dtype), backend="triton").indices.cpu()
    assert torch.equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fsq_and_lfq_kernels_match_the_torch_paths_forward_and_backward(dtype):
    from omnitok.ops import fsq_quantize, lfq_entropy_terms, lfq_quantize

    x = torch.randn(10007, 6, device="cuda").to(dtype)
    for op, args in ((fsq_quantize, ([7, 5, 5, 5, 5, 3],)), (lfq_quantize, ())):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        fast, slow = op(a, *args, backend="triton"), op(b, *args, backend="torch")
        assert torch.equal(fast.indices, slow.indices) and torch.allclose(fast.codes, slow.codes)
        fast.codes.sum().backward(), slow.codes.sum().backward()
        assert torch.allclose(a.grad.float(), b.grad.float(), atol=1e-3)
    fast = lfq_entropy_terms(x.float(), group_bits=2, backend="triton").per_sample
    slow = lfq_entropy_terms(x.float(), group_bits=2, backend="torch").per_sample
    assert torch.allclose(fast, slow, rtol=1e-4)


def _families():
    from tests.models.families import tiny_image_tokenizers

    return tiny_image_tokenizers()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_every_tokenizer_family_codes_in_half_precision_and_channels_last(dtype):
    for name, tokenizer in _families().items():
        tokenizer = tokenizer.cuda().eval()
        x = torch.rand(4, 3, 64, 64, device="cuda") * 2 - 1
        reference = tokenizer.encode(x)
        with torch.autocast("cuda", dtype=dtype):
            half = tokenizer.encode(x)
            decoded = tokenizer.decode(half)
        channels_last = tokenizer.encode(x.contiguous(memory_format=torch.channels_last))
        assert torch.isfinite(decoded.float()).all(), name
        full = tokenizer.decode(reference)  # random weights amplify rounding: a loose bound that garbage (NaN,
        assert (decoded.float() - full).abs().mean() < 0.4 * full.abs().mean(), name  # zeros, wrong scale) fails
        if tokenizer.spec.discrete:  # codes near a boundary flip with the encoder's half-precision rounding
            assert (half == reference).float().mean() > 0.9, name
            assert (channels_last == reference).float().mean() > 0.999, name
        else:
            assert torch.allclose(half.float(), reference, atol=5e-2, rtol=5e-2), name
            assert torch.allclose(channels_last, reference, atol=1e-4, rtol=1e-4), name


def test_training_on_the_gpu_through_the_cli(tmp_path):
    from tests.trainers.recipes import tiny_recipe

    devices = 2 if torch.cuda.device_count() >= 2 else 1
    recipe = tiny_recipe(
        trainer__accelerator="gpu",
        trainer__devices=devices,
        trainer__strategy="ddp" if devices > 1 else "auto",
        trainer__precision="bf16-mixed",
        trainer__max_steps=4,
    )
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "omnitok.cli.main", "train", "--config", str(tmp_path / "recipe.yaml"),
               "--out", str(tmp_path / "run")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    from omnitok.trainers.export import read_checkpoint

    checkpoint = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == checkpoint["omnitok"]["step"] == 4

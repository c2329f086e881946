"""bf16 / fp16 tokenizers: every family encodes and decodes with its networks cast and its quantizer in float32.

The reference is the same model in float32. Casting changes only the networks' rounding, so (1) the quantizer's
state stays bit for bit the float32 one, (2) the tokens are exactly what the float32 quantizer gives for the cast
encoder's latents (the code search itself is float32), and (3) token agreement with the float32 model and the
decode error stay within the bounds measured here (random-init tiny models; run this file as a script to print the
figures: ``PYTHONPATH=. .venv/bin/python tests/models/test_precision.py``).
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from omnitok.errors import ConfigError
from omnitok.models.precision import parse_dtype
from tests.models.families import FAMILIES, every_family

# dtype: (lowest token agreement, highest relative latent error, highest relative decode error). Measured lows on
# these models (2026-12-04, CPU): bf16 0.940 agreement (LFQ), 1.1% latent and 2.2% decode error; fp16 0.977, 0.14%,
# 0.28%. The bounds leave room for other CPUs' kernels while a wrong cast (codebook in bf16, garbage) fails them.
BOUNDS = {torch.bfloat16: (0.9, 0.03, 0.05), torch.float16: (0.95, 0.005, 0.01)}


@functools.cache
def _families() -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    return every_family()


def _parts(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return dict(model.spans) if hasattr(model, "spans") else {"": model}


def compare(name: str, dtype: torch.dtype, device: str = "cpu") -> dict[str, dict[str, float]]:
    """Figures of family ``name`` cast to ``dtype`` against float32, per part (asserting the exact properties)."""
    reference, x = _families()[name]
    reference, x = copy.deepcopy(reference).to(device), x.to(device)
    cast = copy.deepcopy(reference).to(dtype)
    figures = {}
    for part, (full, half) in zip(_parts(reference), zip(_parts(reference).values(), _parts(cast).values())):
        exact_state = getattr(full, "quantizer", getattr(full, "teacher", None))
        if exact_state is not None:  # quantizers (and frozen teachers) keep float32, bit for bit
            kept = getattr(half, "quantizer", getattr(half, "teacher", None)).state_dict()
            assert all(
                torch.equal(v, kept[k]) and v.dtype == kept[k].dtype for k, v in exact_state.state_dict().items()
            )
        tokens, wanted = half.encode(x), full.encode(x)
        row = {}
        if tokens.is_floating_point():
            assert tokens.dtype == torch.float32 and tokens.shape == wanted.shape
            row["latent_error"] = float((tokens - wanted).norm() / wanted.norm())
        else:
            assert tokens.dtype == torch.int64 and tokens.shape == wanted.shape
            latents = half.encoder(x.to(dtype))
            assert latents.dtype == dtype  # the networks really run in the cast dtype
            assert torch.equal(tokens, full.quantizer.encode(latents.float()))  # the code search is float32's
            row["agreement"] = float((tokens == wanted).float().mean())
        if part != "understanding":
            decoded, expected = half.decode(wanted), full.decode(wanted)
            assert decoded.dtype == dtype and torch.isfinite(decoded).all()
            row["decode_error"] = float((decoded.float() - expected).norm() / expected.norm())
        figures[part] = row
    assert cast.dtype == dtype and cast.device.type == torch.device(device).type
    return figures


@pytest.mark.parametrize("dtype", list(BOUNDS), ids=str)
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_codes_in_half_precision_with_float32_codebooks(name, dtype):
    lowest, latent_bound, decode_bound = BOUNDS[dtype]
    for part, row in compare(name, dtype).items():
        assert row.get("agreement", 1.0) >= lowest, (part, row)
        assert row.get("latent_error", 0.0) <= latent_bound, (part, row)
        assert row.get("decode_error", 0.0) <= decode_bound, (part, row)


def test_the_family_list_is_complete():
    assert sorted(_families()) == sorted(FAMILIES)


def test_a_cast_vq_with_a_projected_codebook_encodes():
    """The reported failure: a bf16 model stopped in VectorQuantizer.project_in (float32 input, bf16 weights)."""
    model = copy.deepcopy(_families()["image/vq"][0])
    assert model.quantizer.codebook_dim != model.quantizer.dim  # the projected lookup that failed
    model = model.to(torch.bfloat16)
    assert model.quantizer.project_in.weight.dtype == torch.float32
    assert model.encode(torch.zeros(1, 3, 8, 8)).shape == (1, 2, 2)


def test_every_way_of_casting_keeps_the_quantizer_exact_and_moves_are_kept():
    model = _families()["image/rvq"][0]
    state = {k: v.clone() for k, v in model.quantizer.state_dict().items()}
    for cast in (lambda m: m.half(), lambda m: m.bfloat16(), lambda m: m.to(dtype=torch.float16), lambda m: m.double()):
        copy_ = cast(copy.deepcopy(model))
        assert all(torch.equal(v, copy_.quantizer.state_dict()[k]) for k, v in state.items())
        assert next(copy_.encoder.parameters()).dtype == copy_.dtype != torch.float32
    moved = copy.deepcopy(model).to("meta")  # a device move applies to the quantizer too
    assert all(t.is_meta for t in moved.quantizer.state_dict().values()) and moved.device.type == "meta"
    assert model.dtype == torch.float32 and model.device == torch.device("cpu")


def test_streaming_and_tiled_coding_run_cast():
    from omnitok.models import decode_chunked, decode_video_tiled, encode_chunked, encode_video_tiled

    audio, wave = _families()["audio/rvq"]
    audio = copy.deepcopy(audio).to(torch.bfloat16)
    whole = audio.encode(wave)
    chunked = encode_chunked(audio, wave, 256)
    assert (chunked == whole).float().mean() > 0.9 and decode_chunked(audio, whole, 32).dtype == torch.bfloat16
    video, clip = _families()["video/fsq"]
    video = copy.deepcopy(video).to(torch.bfloat16)
    tiled = encode_video_tiled(video, clip, tile_size=12, overlap=4)
    assert tiled.shape == video.encode(clip).shape
    assert decode_video_tiled(video, tiled, tile_size=12, overlap=4).dtype == torch.bfloat16


def test_load_tokenizer_places_and_casts(tmp_path):
    import omnitok

    model = _families()["image/fsq"][0]
    model.save_pretrained(tmp_path / "tok")
    loaded = omnitok.load_tokenizer(tmp_path / "tok", dtype="bf16", device="cpu")
    assert loaded.dtype == torch.bfloat16 and loaded.device == torch.device("cpu") and not loaded.training
    assert omnitok.load_tokenizer(tmp_path / "tok", dtype=torch.float16).dtype == torch.float16
    with pytest.raises(ConfigError, match="dtype must be one of"):
        omnitok.load_tokenizer(tmp_path / "tok", dtype="int8")
    with pytest.raises(ConfigError, match="not a torch device"):
        omnitok.load_tokenizer(tmp_path / "tok", device="gpu0")
    assert parse_dtype("torch.bfloat16") == torch.bfloat16 and parse_dtype(None) is None


if __name__ == "__main__":
    for dtype in BOUNDS:
        for name in sorted(_families()):
            for part, row in compare(name, dtype).items():
                figures = ", ".join(f"{k} {v:.4f}" for k, v in row.items())
                print(f"{str(dtype).removeprefix('torch.'):9s} {name + ('/' + part if part else ''):32s} {figures}")

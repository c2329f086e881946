"""Chunked causal encode/decode equals the offline result; non-causal networks refuse to stream."""

from __future__ import annotations

import pytest
import torch

from omnitok import ConfigError
from omnitok.models import decode_chunked, decode_stream, encode_chunked, encode_stream
from omnitok.nn import CausalConv1d, CausalConvTranspose1d, CausalTransformerBlock, streaming
from tests.nn.audio_models import QUANTIZERS, tiny_codec


@pytest.mark.parametrize("kernel, stride, dilation", [(3, 1, 1), (3, 1, 9), (8, 4, 1), (5, 2, 1)])
def test_causal_conv_streams_exactly(kernel, stride, dilation):
    conv = CausalConv1d(3, 5, kernel, stride=stride, dilation=dilation)
    x = torch.randn(2, 3, 40)
    offline = conv(x)
    assert offline.shape == (2, 5, 40 // stride)
    with streaming(conv):
        chunks = [conv(part) for part in x.split([1, 7, 13, 0, 19], dim=-1)]
    assert torch.allclose(torch.cat(chunks, -1), offline, atol=1e-6)


def test_causal_conv_output_sees_only_the_past():
    conv = CausalConv1d(1, 1, 8, stride=4)
    x = torch.randn(1, 1, 32)
    y = x.clone()
    y[..., 20:] += 1.0  # changes from sample 20 on: frames 0..4 (samples < 20) are untouched
    assert torch.equal(conv(x)[..., :5], conv(y)[..., :5]) and not torch.equal(conv(x)[..., 5], conv(y)[..., 5])


def test_transposed_conv_streams_exactly():
    conv = CausalConvTranspose1d(4, 3, stride=5)
    z = torch.randn(2, 4, 11)
    offline = conv(z)
    assert offline.shape == (2, 3, 55)
    with streaming(conv):
        chunks = [conv(part) for part in z.split([1, 4, 6], dim=-1)]
    assert torch.allclose(torch.cat(chunks, -1), offline, atol=1e-6)


@pytest.mark.parametrize(
    "name, lstm_layers, channels", [("rvq_dropout", 1, 1), ("fsq", 0, 2), ("continuous", 1, 2), ("residual_fsq", 0, 1)]
)
def test_chunked_codec_equals_offline(name, lstm_layers, channels):
    model = tiny_codec(QUANTIZERS[name](), channels=channels, lstm_layers=lstm_layers, activation="snake").eval()
    x = torch.rand(2, channels, 203) * 2 - 1  # not a multiple of the hop: the stream completes the last frame
    offline = model.encode(x)
    for chunk in (5, 37, 500):
        streamed = encode_chunked(model, x, chunk)
        if model.spec.discrete:
            assert torch.equal(streamed, offline), chunk
        else:
            assert torch.allclose(streamed, offline, atol=1e-5), chunk
    audio = model.decode(offline)
    for frames in (1, 7):
        assert torch.allclose(decode_chunked(model, offline, frames), audio, atol=1e-5), frames


def test_stream_of_uneven_chunks_yields_frames_as_they_complete():
    model = tiny_codec(QUANTIZERS["vq"]()).eval()
    x = torch.rand(1, 1, 64) * 2 - 1
    sizes = [3, 3, 10, 48]
    parts = list(encode_stream(model, x.split(sizes, dim=-1)))
    # each conv layer holds back part of a frame, so frames come out somewhat after their samples arrive
    assert sum(p.shape[1] for p in parts) == 8
    assert torch.equal(torch.cat(parts, 1), model.encode(x))
    decoded = list(decode_stream(model, model.encode(x).split(2, dim=1)))
    assert [d.shape[-1] for d in decoded] == [16, 16, 16, 16]


def test_non_causal_codec_refuses_to_stream():
    model = tiny_codec(causal=False).eval()
    with pytest.raises(ConfigError, match="not causal"):
        encode_chunked(model, torch.zeros(1, 1, 64), 16)


def test_streaming_state_is_cleared_between_streams():
    model = tiny_codec(QUANTIZERS["fsq"](), lstm_layers=1).eval()
    x = torch.rand(1, 1, 96) * 2 - 1
    first = encode_chunked(model, x, 16)
    assert torch.equal(encode_chunked(model, x, 16), first)
    assert torch.equal(model.encode(x), first)  # offline again after the stream


def _reference_block(block, x):
    """CausalTransformerBlock written out: full S x S scores, an explicit window mask, rotary as complex rotation."""
    b, c, s = x.shape
    heads, d = block.heads, c // block.heads
    h = x.transpose(1, 2)
    q, k, v = block.qkv(block.norm1(h)).view(b, s, 3, heads, d).permute(2, 0, 3, 1, 4)
    half = d // 2
    theta = torch.arange(s)[:, None].double() * 10_000.0 ** (-torch.arange(half).double() / half)

    def rotate(t):
        z = torch.complex(t[..., :half].double(), t[..., half : 2 * half].double()) * torch.polar(
            torch.ones_like(theta), theta
        )
        return torch.cat([z.real, z.imag], -1).float()

    scores = rotate(q) @ rotate(k).transpose(-1, -2) / d**0.5
    i, j = torch.arange(s)[:, None], torch.arange(s)[None, :]
    scores = scores.masked_fill(~((i >= j) & (i - j < block.window)), float("-inf"))
    attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, c)
    h = h + block.proj(attended) * block.scale1
    return (h + block.mlp(block.norm2(h)) * block.scale2).transpose(1, 2)


def test_causal_transformer_block_matches_the_written_out_formula():
    torch.manual_seed(0)
    block = CausalTransformerBlock(8, heads=2, window=5, layer_scale=0.5)
    x = torch.randn(2, 8, 23)  # 23 frames: the offline pass splits queries into blocks of 5
    assert torch.allclose(block(x), _reference_block(block, x), atol=1e-5)


def test_causal_transformer_block_sees_only_its_window_of_the_past():
    torch.manual_seed(0)
    block = CausalTransformerBlock(8, heads=2, window=4)
    x = torch.randn(1, 8, 20)
    y = x.clone()
    y[..., 10] += torch.randn(8)  # not a constant shift, which the layer norm would remove
    changed = (block(x) - block(y)).abs().amax(dim=1)[0] > 0
    assert changed.nonzero().flatten().tolist() == [10, 11, 12, 13]  # frame t sees frames t-3 .. t


@pytest.mark.parametrize("window", [1, 4, 9])
def test_causal_transformer_block_streams_exactly(window):
    torch.manual_seed(0)
    block = CausalTransformerBlock(8, heads=2, window=window).eval()
    x = torch.randn(2, 8, 40)
    offline = block(x)
    with streaming(block):
        chunks = [block(part) for part in x.split([1, 7, 13, 0, 19], dim=-1)]
    assert torch.allclose(torch.cat(chunks, -1), offline, atol=1e-5)
    with streaming(block):  # the cache and position restart with each stream
        assert torch.allclose(torch.cat([block(part) for part in x.split(6, dim=-1)], -1), offline, atol=1e-5)


def test_causal_transformer_block_rejects_bad_settings():
    with pytest.raises(ConfigError, match="divisible"):
        CausalTransformerBlock(10, heads=4)
    with pytest.raises(ConfigError, match="window"):
        CausalTransformerBlock(8, heads=2, window=0)


@pytest.mark.parametrize("name", ["continuous", "fsq"])
def test_codec_with_bottleneck_attention_streams_like_offline(name):
    torch.manual_seed(0)
    model = tiny_codec(QUANTIZERS[name](), attention_layers=2, lstm_layers=1).eval()
    assert (
        sum(isinstance(m, CausalTransformerBlock) for m in model.modules()) == 4
    )  # 2 in the encoder, 2 in the decoder
    x = torch.rand(2, 1, 203) * 2 - 1  # 26 frames of hop 8, window 3: the cache is carried across chunks
    latents = model.encoder(x)
    with streaming(model.encoder):
        streamed = torch.cat([model.encoder(part) for part in x.split(13, dim=-1)], -1)
    assert torch.allclose(streamed[..., : latents.shape[-1] - 1], latents[..., :-1], atol=1e-5)
    tokens = model.encode(x)
    if not model.spec.discrete:
        assert torch.allclose(encode_chunked(model, x, 13), tokens, atol=1e-5)
    audio = model.decode(tokens)
    for frames in (1, 5):
        assert torch.allclose(decode_chunked(model, tokens, frames), audio, atol=1e-5), frames

"""Chunked causal encode/decode equals the offline result; non-causal networks refuse to stream."""

from __future__ import annotations

import pytest
import torch

from omnitok import ConfigError
from omnitok.models import decode_chunked, decode_stream, encode_chunked, encode_stream
from omnitok.nn import CausalConv1d, CausalConvTranspose1d, streaming
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

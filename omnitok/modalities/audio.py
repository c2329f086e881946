"""Audio: ``[B, C, S]`` waveforms at the tokenizer's sample rate, evaluated on [-1, 1] (SI-SDR, mel/STFT distance,
PESQ/STOI where installed) and, for residual codecs, along the bitrate ladder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.modalities.base import Modality

if TYPE_CHECKING:
    from omnitok.protocol import Tokenizer, TokenizerSpec

PCM_BITS = 16


class AudioModality(Modality):
    name = "audio"
    axes = ("samples",)
    letters = ("S",)
    plural = "clips"
    value_unit = "sample"
    value_bits = PCM_BITS
    metric_scale = (-1.0, 1.0)

    @property
    def file_suffixes(self) -> frozenset[str]:  # type: ignore[override]
        from omnitok.data.audio import AUDIO_EXTENSIONS

        return frozenset(AUDIO_EXTENSIONS)

    @property
    def conventions(self) -> tuple[str, ...]:  # type: ignore[override]
        from omnitok.evaluation.protocol import AUDIO_CONVENTIONS, AUDIO_SCALE

        return (*AUDIO_CONVENTIONS, AUDIO_SCALE)

    @property
    def policy_label(self) -> str:
        return "audio clip policy"

    # -- files -------------------------------------------------------------------------------------------------------
    def check_file(self, path: Path) -> None:
        """The header reads (soundfile) and the first second decodes to finite samples."""
        from omnitok.data.audio import read_audio

        read_audio(path, seconds=1.0)

    def check_codec_options(self, tokenizer: Tokenizer, options: dict[str, Any]) -> None:
        from omnitok.modalities.audio_files import check_chunking

        check_chunking(tokenizer, options)

    def batchable(self, options: dict[str, Any]) -> bool:
        """``--chunk-seconds`` streams each file chunk by chunk, one file at a time."""
        return not options.get("chunk_seconds")

    def read_input(self, path: Path, spec: TokenizerSpec, options: dict[str, Any]) -> tuple[Tensor, dict]:
        from omnitok.modalities.audio_files import read_audio_input

        return read_audio_input(path, spec)

    def encode_input(self, x: Tensor, tokenizer: Tokenizer, options: dict[str, Any], device: Any) -> Tensor:
        from omnitok.modalities.audio_files import encode_audio_input

        return encode_audio_input(x, tokenizer, options, device)

    def encode_file(
        self, path: Path, tokenizer: Tokenizer, options: dict[str, Any], device: Any
    ) -> tuple[Tensor, dict]:
        """As ``read_input`` + ``encode_input``, streaming a chunked file off the disk where no resampling is needed
        (the same tokens, in bounded memory)."""
        from omnitok.modalities.audio_files import encode_audio_file

        return encode_audio_file(path, tokenizer, options, device)

    def output_name(self, token_file: Path) -> Path:
        from omnitok.modalities.audio_files import audio_name

        return audio_name(token_file)

    def write(self, target: Path, media: Tensor, spec: TokenizerSpec, record: dict | None = None) -> None:
        from omnitok.modalities.audio_files import write_decoded_audio

        write_decoded_audio(target, media, spec, record)

    # -- media in, media out -----------------------------------------------------------------------------------------
    def preprocess(self, media: Any, spec: TokenizerSpec, sample_rate: int | None = None) -> Tensor:
        """A float waveform [S], [C, S] or [B, C, S] in [-1, 1] (numpy or torch; int16 PCM too) at ``sample_rate``
        -> float32 [B, C, S] at the tokenizer's rate (resampled as ``omnitok encode`` resamples files) and channels
        (mono is the channel mean), in ``spec.value_range``. A warning when values reach past [-1, 1]."""
        from omnitok.modalities.audio_media import audio_batch

        return self.checked(audio_batch(media, spec, sample_rate), spec)

    def postprocess(
        self,
        decoded: Tensor,
        spec: TokenizerSpec,
        to: str = "numpy",
        clamp: bool = True,
        sample_rate: int | None = None,
    ) -> Any:
        """Decoded [B, C, S] -> "numpy" (float32 numpy) or "float" (float32 torch), [B, C, S] in [-1, 1], clamped
        unless ``clamp`` is False; resampled to ``sample_rate`` when given (default: the tokenizer's rate)."""
        from omnitok.modalities.audio_media import audio_output

        return audio_output(decoded, spec, to, clamp, sample_rate)

    # -- evaluation --------------------------------------------------------------------------------------------------
    def eval_set(self, source: str, spec: TokenizerSpec, options: dict[str, Any]) -> Any:
        from omnitok.evaluation import load_eval_audio

        if not spec.sample_rate:
            raise ConfigError("an audio tokenizer needs a sample rate in its spec to be evaluated")
        return load_eval_audio(
            source,
            spec.sample_rate,
            spec.channels,
            options.get("seconds", 3.0),
            generated_clips=options.get("generated_clips", 16),
            max_samples=options.get("max_samples"),
            seed=options.get("seed", 0),
            skip_unreadable=options.get("skip_unreadable", False),
        )

    def fit_reconstruction(self, reconstruction: Tensor, original: Tensor) -> Tensor:
        """Decoded audio longer than its input (the token grid covers whole frames) is trimmed to the input."""
        if (
            reconstruction.ndim == 3
            and reconstruction.shape[:2] == original.shape[:2]
            and reconstruction.shape[-1] > original.shape[-1]
        ):
            return reconstruction[..., : original.shape[-1]]
        return reconstruction

    def rate_figures(self, spec: TokenizerSpec, input_shape: Sequence[int], token_bits: float, floats: float) -> dict:
        """kbps and compression against 16-bit PCM (discrete), latent floats per second (continuous)."""
        if not spec.sample_rate:
            raise ValueError("audio token figures need spec.sample_rate")
        seconds = input_shape[0] / spec.sample_rate
        if spec.discrete:
            return {
                "kbps": token_bits / seconds / 1000,
                "compression_ratio": PCM_BITS * spec.channels * input_shape[0] / token_bits,
            }
        return {"latent_floats_per_second": floats / seconds}

    def extra_measures(
        self, tokenizer: Tokenizer, spec: TokenizerSpec, inputs: Callable[[], list[Tensor]]
    ) -> dict[str, Any]:
        """Residual codecs: the bitrate ladder (decoding 1..Q levels beside a resampling baseline at each rate)."""
        if not (spec.discrete and spec.codebook_kind == "residual" and spec.num_levels > 1):
            return {}
        from omnitok.metrics.audio_ladder import bitrate_ladder

        return {"ladder": bitrate_ladder(tokenizer, inputs())}

    def report_figures(self, run: Any) -> list[Any]:
        from omnitok.report.pictures import audio_figures

        return audio_figures(run)

    # -- held-out scoring --------------------------------------------------------------------------------------------
    def heldout_metrics(self) -> tuple[str, ...]:
        return ("si_sdr", "mel_distance")

    def heldout_baselines(self, spec: TokenizerSpec, x: Tensor) -> tuple[dict[str, Tensor], str]:
        """The waveform sent as 8-bit samples at the rate the tokens' bitrate allows (discrete tokenizers)."""
        if not spec.discrete:
            return {}, "No baseline: continuous latents have no bitrate."
        from omnitok.metrics.audio_ladder import resample_baseline, rung_kbps

        kbps = rung_kbps(spec, spec.num_levels)
        note = f"The resampling baseline sends the waveform as 8-bit samples at the rate {kbps:g} kbps allows."
        return {f"resample_{kbps:g}kbps": resample_baseline(x.float(), int(spec.sample_rate), kbps)}, note

    def heldout_picture(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> bytes | None:
        from omnitok.report.audio_figures import spectrogram_figure

        count = min(4, x.shape[0])
        originals = x[:count].float().clamp(-1, 1).cpu()
        recon = self.fit_reconstruction(x_hat[:count], x[:count]).float().clamp(-1, 1).cpu()
        return spectrogram_figure(originals, [("reconstruction", recon)], int(spec.sample_rate))

"""``omnitok eval``: tokenizers x a folder of images, audio or videos -> report.html, report.md and metrics.json.

The tokenizers' modality (``spec.modality``; all must agree) picks how ``--data`` is read and which metrics run."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnitok.cli.codec import add_common_options, load_from_args, non_negative_int, positive_float, positive_int
from omnitok.cli.options import add_size_option
from omnitok.errors import ConfigError


def add_eval_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure tokenizers' reconstructions and write a report",
        description="Reconstruct a folder of images, audio or videos with one or more tokenizers of one modality and "
        "write report.html (self-contained), report.md and metrics.json: the modality's metrics (images: PSNR, SSIM, "
        "LPIPS, rFID; audio: SI-SDR, mel and STFT distance, PESQ/STOI when installed, bitrate and the bitrate ladder "
        "of residual codecs; video: per-frame PSNR/SSIM/LPIPS, flicker, FVD), token and codebook figures, speed, "
        "pictures (spectrograms and players for audio, frame strips and an animated preview for video), and the "
        "pinned protocol the numbers were computed under.",
        epilog="Tokenizer forms: a save_pretrained folder, a model-zoo name or a hub id; diffusers:<folder or id>, "
        "transformers:<folder or id>; package.module:attribute for your own object.",
    )
    parser.add_argument("--tokenizer", action="append", required=True, help="a tokenizer; repeat to compare several")
    parser.add_argument(
        "--name", action="append", help="report name of each --tokenizer, in order (default: from the reference)"
    )
    parser.add_argument(
        "--data",
        required=True,
        help="folder of images / audio files / videos (searched recursively); 'builtin' (held-out images) or "
        "'generated' (audio: speech clips; video: moving-shapes clips), made at run time, deterministic by --seed",
    )
    parser.add_argument("--out", required=True, help="report folder (must be new or empty unless --overwrite)")
    add_size_option(parser, default=256, help="images, video: square side after resize + center crop")
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=3.0,
        help="audio: clip length (first seconds of each file; shorter padded)",
    )
    parser.add_argument("--frames", type=positive_int, default=17, help="video: frames per clip, from the first")
    parser.add_argument("--stride", type=positive_int, default=1, help="video: take every STRIDE-th frame")
    parser.add_argument(
        "--generated-clips", type=positive_int, default=16, help="audio, video: clips --data generated makes"
    )
    parser.add_argument(
        "--ladder-samples",
        type=non_negative_int,
        default=16,
        help="audio: clips the bitrate ladder is measured on (0: all)",
    )
    parser.add_argument(
        "--max-samples", type=positive_int, help="evaluate a seeded subset of this many samples (default: all)"
    )
    parser.add_argument(
        "--teacher",
        help="images: add the semantic section (teacher-feature cosine, linear-probe accuracy) with this teacher: "
        "'scene', a scene-teacher .safetensors file, or a timm ViT name (siglip2, dinov2, clip, eva_clip, siglip) "
        "(default: no semantic section)",
    )
    parser.add_argument(
        "--probe-data", default="scenes", help="with --teacher: 'scenes' (procedural labelled) or DIR/<class>/<image>"
    )
    parser.add_argument("--probe-size", type=positive_int, default=32, help="with --teacher: probe image side")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="samples per encode/decode call")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, the shown samples and the tokenizers")
    parser.add_argument("--show", type=non_negative_int, default=8, help="samples shown side by side")
    parser.add_argument(
        "--worst", type=non_negative_int, default=4, help="worst samples shown per metric and tokenizer"
    )
    parser.add_argument(
        "--skip-unreadable", action="store_true", help="leave out unreadable files (listed in the report)"
    )
    add_common_options(parser, overwrite_help="replace an existing report folder")
    parser.set_defaults(run=run_eval)


def default_name(ref: str) -> str:
    """A short column name for a tokenizer reference: the folder's name, or the last part of an id."""
    from omnitok.resolve import ADAPTER_SCHEMES, is_object_ref

    if is_object_ref(ref):
        return ref.rsplit(":", 1)[1].rsplit(".", 1)[-1]
    text = ref.split(":", 1)[1] if ref.startswith(ADAPTER_SCHEMES) else ref
    path = Path(text)
    if path.name == "tokenizer" and path.parent.name:  # runs/NAME/tokenizer, as `omnitok train` writes it
        return path.parent.name
    return path.name or text


def load_eval_data(args: argparse.Namespace, tokenizers: list):
    """The evaluation set for the tokenizers' modality (they must share it; audio: also rate and channels)."""
    from omnitok.protocol import TokenizerSpec

    specs = [t.tokenizer.spec for t in tokenizers]
    for entry, spec in zip(tokenizers, specs):
        if not isinstance(spec, TokenizerSpec):
            raise ConfigError(f"{entry.name}: `spec` must be an omnitok.TokenizerSpec, got {type(spec).__name__}")
    modalities = {spec.modality for spec in specs}
    if len(modalities) > 1:
        listed = ", ".join(f"{t.name} ({s.modality})" for t, s in zip(tokenizers, specs))
        raise ConfigError(f"compare tokenizers of one modality; got {listed}")
    from omnitok.modalities import get_modality

    modality, first = get_modality(modalities.pop()), specs[0]
    options = {
        "resolution": args.size,
        "seconds": args.seconds,
        "frames": args.frames,
        "stride": args.stride,
        "generated_clips": args.generated_clips,
        "max_samples": args.max_samples,
        "seed": args.seed,
        "skip_unreadable": args.skip_unreadable,
    }
    return modality.eval_set(args.data, first, options)


def run_eval(args: argparse.Namespace) -> int:
    from omnitok.extras import extra_hint, require

    require("matplotlib", "omnitok eval's report (its plots)")  # before minutes of evaluation, not after
    with extra_hint("omnitok eval"):
        from omnitok.evaluation import NamedTokenizer, evaluate
        from omnitok.report import check_report_folder, write_report

    names = args.name or []
    if len(names) > len(args.tokenizer):
        raise ConfigError(f"{len(names)} --name values for {len(args.tokenizer)} --tokenizer values")
    names += [default_name(ref) for ref in args.tokenizer[len(names) :]]
    local_inputs = [
        ref for ref in [args.data, *args.tokenizer, args.teacher, args.probe_data] if ref and Path(ref).exists()
    ]
    check_report_folder(args.out, args.overwrite, inputs=local_inputs)
    if args.teacher and args.data == "generated":
        raise ConfigError("--teacher measures image tokenizers; --data generated holds audio or video clips")
    tokenizers = [NamedTokenizer(name, load_from_args(args, ref), ref) for name, ref in zip(names, args.tokenizer)]
    data = load_eval_data(args, tokenizers)
    if args.teacher:
        from omnitok.evaluation.semantic import check_teacher_modality

        check_teacher_modality(data)
    run = evaluate(
        tokenizers,
        data,
        device=args.device,
        batch_size=args.batch_size,
        seed=args.seed,
        show=args.show,
        worst_k=args.worst,
        ladder_samples=args.ladder_samples or None,
        progress=True,
    )
    if args.teacher:
        from omnitok.evaluation.semantic import semantic_section

        section = semantic_section(
            tokenizers,
            data,
            teacher=args.teacher,
            probe_data=args.probe_data,
            probe_size=args.probe_size,
            device=args.device,
            seed=args.seed,
        )
        run.sections.append(section)
    out = write_report(run, args.out, overwrite=args.overwrite)
    for result in run.results:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in result.summary.items() if v is not None)
        if "kbps" in result.tokens:
            figures += f", {result.tokens['kbps']:.4g} kbps"
        print(f"{result.name}: {figures}")
    for name, why in run.unavailable.items():
        print(f"{name}: unavailable ({why})")
    print(f"report: {out / 'report.html'}  ({out / 'report.md'}, {out / 'metrics.json'})")
    return 0

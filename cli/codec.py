"""``omnitok encode`` (media files -> token files) and ``omnitok decode`` (token files -> media files).

The tokenizer's modality definition (:mod:`omnitok.modalities`) lists, reads and writes the files; these commands
plan the outputs, check token files against the tokenizer and report failures, the same for every modality."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import Tensor

from omnitok.cli.batches import in_order, per_file_message, run_batches
from omnitok.cli.options import add_device_options, add_size_option, resolve_device
from omnitok.errors import ConfigError, DataError, OmnitokError, ShapeError

TOKEN_SUFFIX = ".safetensors"


def add_codec_parsers(commands: argparse._SubParsersAction) -> None:
    encode = commands.add_parser(
        "encode",
        help="images, videos or audio (files or folders) -> token files",
        description="Encode images, videos or audio into token files (safetensors: indices or latents, plus the "
        "tokenizer's spec). Folders are searched recursively; the output keeps their layout, one "
        "NAME.EXT.safetensors per file. Images must be multiples of the tokenizer's downsampling factor, or pass "
        "--size. Videos (mp4/mov/mkv/webm/avi) are padded up to the token grid (the token file records the real "
        "frame count, size and frame rate). Audio (wav/flac/ogg/mp3) is resampled to the tokenizer's rate and "
        "channels.",
    )
    encode.add_argument("inputs", nargs="+", help="image, video or audio files and/or folders")
    encode.add_argument(
        "--tokenizer",
        required=True,
        help="tokenizer folder, zoo name, hub id, diffusers:/transformers: adapter or module:attribute",
    )
    encode.add_argument("--out", required=True, help="folder for the token files")
    add_size_option(encode)
    encode.add_argument("--frames", type=positive_int, help="videos: encode the first FRAMES frames (default: all)")
    encode.add_argument(
        "--fps", type=positive_float, help="videos: resample to FPS frames per second first (default: the file's rate)"
    )
    encode.add_argument(
        "--chunk-frames",
        type=positive_int,
        help="videos, causal tokenizers: encode and decode this many frames at a time (same tokens, bounded memory; "
        "default: the whole video at once)",
    )
    encode.add_argument(
        "--chunk-seconds",
        type=positive_float,
        help="audio, causal tokenizers: encode long files this many seconds at a time (default: the whole file)",
    )
    add_batch_option(encode, "files per encode call: consecutive files of one shape go through the tokenizer together")
    encode.add_argument(
        "--resume",
        action="store_true",
        help="skip inputs whose token file this tokenizer already wrote (continue an interrupted encode)",
    )
    add_common_options(encode)
    encode.set_defaults(run=run_encode)

    decode = commands.add_parser(
        "decode",
        help="token files (files or folders) -> PNG images, mp4 videos or audio files",
        description="Decode token files written by 'omnitok encode' back into PNG images, H.264 mp4 videos (at the "
        "recorded frame rate, cropped to the recorded frames and size) or 16-bit audio (wav, or flac for .flac "
        "inputs), keeping the folder layout.",
    )
    decode.add_argument("inputs", nargs="+", help="token files and/or folders of them")
    decode.add_argument("--tokenizer", required=True, help="the tokenizer that wrote the tokens")
    decode.add_argument("--out", required=True, help="folder for the images, videos or audio files")
    decode.add_argument(
        "--chunk-frames",
        type=positive_int,
        help="videos, causal tokenizers: decode about this many frames at a time (default: all at once)",
    )
    add_batch_option(decode, "token files per decode call: consecutive grids of one shape are decoded together")
    decode.add_argument(
        "--allow-other-weights",
        action="store_true",
        help="decode token files whose recorded weights fingerprint differs from the tokenizer's",
    )
    add_common_options(decode)
    decode.set_defaults(run=run_decode)


def add_batch_option(parser: argparse.ArgumentParser, help: str, default: int = 1) -> None:
    """``--batch-size``, shared by encode, decode and eval."""
    parser.add_argument("--batch-size", type=positive_int, default=default, help=help)


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a positive finite number (not 0, NaN or infinity)."""
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def add_common_options(
    parser: argparse.ArgumentParser, overwrite_help: str = "replace files that already exist in --out"
) -> None:
    """--device, --dtype, --modality, --overwrite and --trust-remote-code, shared by the commands that load a
    tokenizer."""
    add_device_options(parser)
    add_modality_option(parser)
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)
    parser.add_argument("--trust-remote-code", action="store_true", help="allow configs naming non-omnitok classes")


def add_modality_option(parser: argparse.ArgumentParser) -> None:
    """``--modality``: which modality of a tokenizer that holds several (an omni folder) to run."""
    parser.add_argument(
        "--modality",
        help="the modality to use from a tokenizer of several (an omni tokenizer folder: image, video or audio); "
        "required for those, a check for single-modality tokenizers (default: the tokenizer's one modality)",
    )


def load_from_args(args: argparse.Namespace, ref: str | None = None):
    """The tokenizer ``ref`` (default ``args.tokenizer``) on ``args.device`` in ``args.dtype``, its ``--modality``
    view when it holds several modalities (a ConfigError when none or an absent one is named); ``--device auto`` is
    resolved in ``args`` first, so the rest of the command uses the same device."""
    from omnitok.resolve import load_tokenizer, select_modality

    args.device = resolve_device(args.device)
    ref = args.tokenizer if ref is None else ref
    tokenizer = load_tokenizer(ref, trust_remote_code=args.trust_remote_code, device=args.device, dtype=args.dtype)
    return select_modality(tokenizer, getattr(args, "modality", None), str(ref))


def _modality_of(tokenizer):
    from omnitok.modalities import get_modality

    return get_modality(tokenizer.spec.modality)


def _collect(inputs: list[str], find) -> list[tuple[Path, Path]]:
    """(file, path relative to its input) for every input file or every match inside input folders."""
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [(f, f.relative_to(path)) for f in find(path)]
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            raise DataError(f"no such file or folder: {path}")
    return found


def run_encode(args: argparse.Namespace) -> int:
    from omnitok.fingerprint import weights_fingerprint
    from omnitok.progress import Progress
    from omnitok.tokens import save_tokens

    tokenizer = load_from_args(args)
    spec, modality, options = tokenizer.spec, _modality_of(tokenizer), vars(args)
    modality.check_codec_options(tokenizer, options)

    def token_file(relative: Path) -> Path:
        return Path(args.out) / f"{relative}{TOKEN_SUFFIX}"

    files, targets, done = _plan_encode(_collect(args.inputs, modality.list_files), token_file, args, tokenizer)
    fingerprint = weights_fingerprint(tokenizer)
    failures: dict[int, str] = {}
    batch_size = args.batch_size if modality.batchable(options) else 1
    with Progress(len(files), "encode", "file") as progress:
        if batch_size == 1:
            for index, ((path, _), target) in enumerate(zip(files, targets)):
                try:
                    tokens, media = modality.encode_file(path, tokenizer, options, args.device)
                    save_tokens(target, tokens, spec, media=media or None, weights_sha256=fingerprint)
                except OmnitokError as err:
                    failures[index] = per_file_message(err, path)
                progress.update()
        else:

            def read(index: int) -> tuple[Tensor, dict]:
                return modality.read_input(files[index][0], spec, options)

            def encode(items: list[tuple[int, Tensor, dict]]) -> None:
                inputs = [x for _, x, _ in items]
                for (index, _, media), tokens in zip(
                    items, modality.encode_inputs(inputs, tokenizer, options, args.device)
                ):
                    save_tokens(targets[index], tokens, spec, media=media or None, weights_sha256=fingerprint)

            run_batches(len(files), batch_size, read, encode, lambda i: files[i][0], failures, progress)
    return _finish("encoded", len(files) - len(failures), in_order(failures), args.out, done)


def run_decode(args: argparse.Namespace) -> int:
    from omnitok.data.files import list_files
    from omnitok.fingerprint import weights_fingerprint
    from omnitok.progress import Progress

    tokenizer = load_from_args(args)
    spec = tokenizer.spec
    files = _collect(args.inputs, lambda root: list_files(root, {TOKEN_SUFFIX}, "token"))
    modality, options = _modality_of(tokenizer), vars(args)
    modality.check_codec_options(tokenizer, options)
    targets = _plan(files, lambda relative: Path(args.out) / modality.output_name(relative), args.overwrite)
    fingerprint = weights_fingerprint(tokenizer)
    failures: dict[int, str] = {}

    def read(index: int) -> tuple[Tensor, dict]:
        return _read_tokens(files[index][0], spec, fingerprint, args.allow_other_weights)

    def decode(items: list[tuple[int, Tensor, dict]]) -> None:
        tokens = torch.cat([t for _, t, _ in items]).to(args.device)
        decoded = modality.decode_tokens(tokenizer, tokens, options).float().cpu()
        for row, (index, _, media) in enumerate(items):
            modality.write(targets[index], decoded[row : row + 1], spec, media)

    batch_size = args.batch_size if modality.batchable(options) else 1
    with Progress(len(files), "decode", "file") as progress:
        run_batches(len(files), batch_size, read, decode, lambda i: files[i][0], failures, progress)
    return _finish("decoded", len(files) - len(failures), in_order(failures), args.out)


def _read_tokens(path: Path, spec, fingerprint: str | None, allow_other_weights: bool) -> tuple[Tensor, dict]:
    """The tokens [1, ...] of the token file ``path`` and its media record, after checking that this tokenizer
    (``spec``, weights ``fingerprint``) wrote it and that it holds one sample."""
    from omnitok.tokens import read_token_file

    file = read_token_file(path)
    mine = (spec.modality, spec.codebook_sizes, spec.latent_dim, spec.downsample, spec.sample_rate)
    theirs = (file.spec.modality, file.spec.codebook_sizes, file.spec.latent_dim, file.spec.downsample)
    if (*theirs, file.spec.sample_rate) != mine:
        raise ConfigError(f"{path} was written by a different tokenizer (its spec: {file.spec.to_json()})")
    if file.weights_sha256 and fingerprint and file.weights_sha256 != fingerprint and not allow_other_weights:
        raise ConfigError(
            f"{path} was written by weights with SHA-256 {file.weights_sha256[:16]}..., not this tokenizer's "
            f"({fingerprint[:16]}...); decoding it would give other media (pass --allow-other-weights to "
            "decode anyway)"
        )
    if file.tokens.shape[0] != 1:
        raise ShapeError(
            f"{path} holds a batch of {file.tokens.shape[0]} token grids; decode writes one media file per "
            "token file (save each item to its own file, or decode the batch with the library)"
        )
    return (file.tokens if file.tokens.is_floating_point() else file.tokens.long()), file.media  # latents stay float


def _plan(files: list[tuple[Path, Path]], target_of, overwrite: bool) -> list[Path]:
    """Every output path, checked before anything is written: no two inputs may share one, existing files (the
    inputs themselves, when --out is the input folder) are only replaced with --overwrite, and temporary files a
    killed earlier run left beside them are removed."""
    targets = [target_of(relative) for _, relative in files]
    seen: dict[Path, Path] = {}
    for (path, _), target in zip(files, targets):
        if target in seen:
            raise ConfigError(f"{seen[target]} and {path} would both be written to {target}; encode them separately")
        seen[target] = path
    inputs = {path.resolve() for path, _ in files}
    clobbered = [t for t in targets if t.exists() and t.resolve() in inputs]
    if clobbered:
        raise ConfigError(f"{clobbered[0]} is an input and would be overwritten by an output; choose another --out")
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); pass --overwrite")
    from omnitok.utils import remove_stale_temporaries

    remove_stale_temporaries(targets)
    return targets


def _plan_encode(
    files: list[tuple[Path, Path]], target_of, args: argparse.Namespace, tokenizer
) -> tuple[list[tuple[Path, Path]], list[Path], int]:
    """:func:`_plan` for encode, where ``--resume`` leaves out inputs whose token file exists already, after
    checking each was written by this tokenizer (spec and weights fingerprint). Returns (files to encode, their
    targets, how many were left out)."""
    if not args.resume:
        return files, _plan(files, target_of, args.overwrite), 0
    if args.overwrite:
        raise ConfigError("--resume keeps existing token files and --overwrite replaces them; pass one of them")
    from omnitok.fingerprint import weights_fingerprint
    from omnitok.tokens import read_token_file
    from omnitok.utils import remove_stale_temporaries

    remove_stale_temporaries(target_of(relative) for _, relative in files)  # kept outputs' leftovers too
    fingerprint = weights_fingerprint(tokenizer)
    todo = []
    for path, relative in files:
        target = target_of(relative)
        if not target.exists():
            todo.append((path, relative))
            continue
        try:
            written = read_token_file(target)
        except OmnitokError as err:
            raise ConfigError(f"--resume: {err}; delete it or pass --overwrite instead") from None
        other_weights = written.weights_sha256 and fingerprint and written.weights_sha256 != fingerprint
        if written.spec != tokenizer.spec or other_weights:  # files without a fingerprint (older) are kept
            raise ConfigError(
                f"--resume: {target} was written by another tokenizer; choose another --out or pass --overwrite"
            )
    return todo, _plan(todo, target_of, overwrite=False), len(files) - len(todo)


def _finish(verb: str, done: int, failures: list[str], out: str, kept: int = 0) -> int:
    print(f"{verb} {done} file(s) into {out}" + (f" ({kept} already there, kept)" if kept else ""))
    if failures:
        print(f"{len(failures)} file(s) failed:")
        for line in failures:
            print(f"  {line}")
        more = f" (and {len(failures) - 1} more, listed above)" if len(failures) > 1 else ""
        print(f"omnitok: error: {failures[0]}{more}", file=sys.stderr)
        return 1
    return 0

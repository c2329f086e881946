"""The two stages ``omnitok tokenize`` runs on Ray Data: :func:`read_inputs` (CPU tasks: fetch, decode, resize and
pad each input with the modality's ``read_input``; no model) and :class:`EncodeInputs` (an actor pool: the tokenizer
loaded once per actor, on a GPU where asked, encoding with the modality's ``encode_input``). ``read_input`` followed
by ``encode_input`` is ``encode_file``, what ``omnitok encode`` runs, so shard tokens equal token files.

Batches travel as numpy columns of plain values (bytes and JSON text): Ray Data turns a column of None into NaN and
would keep tensors in its own extension types. An input that fails at any stage keeps its row with ``error`` set
(naming the input, never a temporary local copy) and is skipped by the driver.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from omnitok.corpus.sources import open_source
from omnitok.errors import ConfigError, OmnitokError

ROW_FIELDS = ("key", "source", "shard", "error", "media", "text")


@functools.lru_cache(maxsize=4)
def _source(data: str) -> Any:
    """One source per worker process and ``--data`` (a packed source keeps its litdata dataset open)."""
    return open_source(data)


def _failure(err: Exception, name: str, local: str | None = None) -> str:
    message = str(err).replace(local, name) if local else str(err)  # the input, not its temporary local copy
    if not isinstance(err, OmnitokError):
        message = f"{type(err).__name__}: {message}"
    return message if name in message else f"{name}: {message}"


def _columns(out: dict[str, list]) -> dict[str, Any]:
    return {k: np.array(v, dtype=np.int64 if k in ("shard", "levels") else object) for k, v in out.items()}


def read_inputs(batch: dict[str, Any], data: str, spec: Any, modality: Any, options: dict[str, Any]) -> dict:
    """Ray Data task: each input of ``batch`` (key, source, shard) read by ``modality`` for tokenizers of ``spec``:
    ``input`` (float32 bytes) and ``input_shape`` (JSON), the media record and caption (JSON), or ``error``."""
    import torch

    torch.set_num_threads(1)
    source = _source(data)
    out: dict[str, list] = {k: [] for k in (*ROW_FIELDS, "input", "input_shape")}
    for key, locator, shard in zip(batch["key"], batch["source"], batch["shard"]):
        name, x, media, text, error = str(locator), None, {}, None, ""
        try:
            with source.open_input(str(locator)) as (path, name, text):
                try:
                    x, media = modality.read_input(path, spec, options)
                except Exception as err:  # noqa: BLE001 (a reader's failure skips the input, named, not the job)
                    error = _failure(err, name, str(path))
        except Exception as err:  # noqa: BLE001 (the source could not deliver it: download, caption, pack)
            error = _failure(err, name)
        array = None if error else x.detach().to(torch.float32).contiguous().numpy()
        out["key"].append(str(key))
        out["source"].append(name)
        out["shard"].append(int(shard))
        out["error"].append(error)
        out["media"].append(json.dumps(media or {}, sort_keys=True))
        out["text"].append(json.dumps(text))
        out["input"].append(b"" if array is None else array.tobytes())
        out["input_shape"].append(json.dumps([] if array is None else list(array.shape)))
    return _columns(out)


class EncodeInputs:
    """Ray Data actor: loads the tokenizer once (its ``modality`` view when the job names one: an omni folder), then
    encodes batches of read inputs with its modality."""

    def __init__(self, tokenizer: str, modality: str | None, trust_remote_code: bool, weights_sha256: str | None,
                 options: dict[str, Any], dtype: str, device: str, threads: int) -> None:  # fmt: skip
        import torch

        from omnitok.fingerprint import weights_fingerprint
        from omnitok.modalities import get_modality
        from omnitok.resolve import load_tokenizer

        torch.set_num_threads(threads)
        self.tokenizer = load_tokenizer(
            tokenizer, trust_remote_code=trust_remote_code, device=device, modality=modality
        )
        if weights_fingerprint(self.tokenizer) != weights_sha256:
            raise ConfigError(f"{tokenizer} resolves to other weights on this Ray node than on the driver")
        self.modality = get_modality(self.tokenizer.spec.modality)
        self.options, self.device, self.dtype = options, device, dtype

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import torch

        from omnitok.tokens import token_grid

        spec = self.tokenizer.spec
        out: dict[str, list] = {k: [] for k in (*ROW_FIELDS, "tokens", "shape", "grid", "levels")}
        for n in range(len(batch["key"])):
            error, tokens, grid, levels = str(batch["error"][n]), None, [], 0
            if not error:
                try:
                    shape = json.loads(batch["input_shape"][n])
                    x = torch.from_numpy(np.frombuffer(batch["input"][n], dtype=np.float32).reshape(shape).copy())
                    with torch.inference_mode():
                        encoded = self.modality.encode_input(x, self.tokenizer, self.options, self.device)
                    encoded = encoded.detach().cpu()
                    grid = list(token_grid(encoded, spec))
                    levels = 0 if not spec.discrete else 1 if spec.codebook_kind == "single" else encoded.shape[-1]
                    tokens = encoded[0].numpy().astype(self.dtype)
                except Exception as err:  # noqa: BLE001 (an input the tokenizer refuses is skipped, named)
                    error = _failure(err, str(batch["source"][n]))
            for field in ROW_FIELDS:
                out[field].append(batch[field][n] if field != "error" else error)
            out["tokens"].append(b"" if tokens is None else tokens.tobytes())
            out["shape"].append(json.dumps([] if tokens is None else list(tokens.shape)))
            out["grid"].append(json.dumps(grid))
            out["levels"].append(int(levels))
        return _columns(out)

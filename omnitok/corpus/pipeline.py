"""Tokenizing a corpus on Ray Data: media files -> Parquet token shards + ``manifest.json`` (see :mod:`.shards`).

The driver plans everything before Ray starts (tokenizer spec and weights fingerprint, the protocol, the input list,
which shards are already finished), so every refusal costs no cluster time and leaves no output. Ray Data then
streams the unfinished shards' inputs through two stages (:mod:`.workers`): CPU tasks fetch and decode each input
with the tokenizer's modality definition, then an actor pool, each actor holding the tokenizer once (on a GPU where
asked), encodes them; the two halves make the ``encode_file`` that ``omnitok encode`` runs, so shard tokens equal
token files. Execution is streaming with back-pressure and keeps
input order (``preserve_order``), so the driver holds about one shard of rows at a time, sorts them by key and
writes the shard atomically; a shard is never written twice.

ray and pyarrow are imported inside the functions (the ``scale`` extra).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from omnitok.corpus import shards as S
from omnitok.corpus.sources import open_source
from omnitok.errors import ConfigError, DataError, OutputError

PROTOCOL_KEYS = ("size", "frames", "fps", "chunk_frames", "chunk_seconds")  # ``omnitok encode``'s reading options


@dataclasses.dataclass
class TokenizeJob:
    """What ``omnitok tokenize`` was asked to do.

    Attributes:
        tokenizer: tokenizer reference (folder, zoo name, hub id, ...) every worker resolves.
        data: a folder (searched recursively by the modality's lister) or a text file listing one input per line.
        out: the corpus folder.
        protocol: how files become samples: ``size``, ``frames``, ``fps``, ``chunk_frames``, ``chunk_seconds``
            (``omnitok encode``'s options; None where unset).
        address: a Ray cluster to join; None starts an embedded local Ray sized to the machine.
        workers: actors in the encoding pool; None sizes it from the cluster (CPUs - 1, or GPUs / gpus_per_worker).
        gpus_per_worker: GPUs each actor holds (0: encode on CPU).
        batch_size: inputs per Ray Data batch (each stage pays a fixed cost per batch: 32 images of 64x64 tokenize
            1.4x faster than 8 on 2 CPUs; lower it for long videos, whose decoded frames travel between the stages).
        shard_size: inputs per shard (a shard holds fewer rows when some of its inputs are skipped).
        modality: the modality to tokenize from a tokenizer of several (an omni folder: every worker loads that
            view, :func:`omnitok.resolve.select_modality`); for a single-modality tokenizer, a check that it is that
            modality. None for a single-modality tokenizer.
    """

    tokenizer: str
    data: str
    out: Path
    protocol: dict[str, Any]
    trust_remote_code: bool = False
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    batch_size: int = 32
    shard_size: int = 1000
    modality: str | None = None


@dataclasses.dataclass
class Plan:
    job: TokenizeJob
    identity: dict[str, Any]  # tokenizer, protocol, inputs: what an existing corpus must match
    inputs: list[tuple[str, str]]  # (key, locator in the source) in input order
    dtype: Any
    spec: Any  # the tokenizer's TokenizerSpec
    modality: Any  # its Modality definition (read_input / encode_input)

    def shard_inputs(self, index: int) -> list[tuple[str, str]]:
        size = self.job.shard_size
        return self.inputs[index * size : (index + 1) * size]

    @property
    def shard_count(self) -> int:
        return math.ceil(len(self.inputs) / self.job.shard_size)


@dataclasses.dataclass
class Result:
    rows: int
    shards: int
    reused: int
    skipped: list[dict[str, str]]


def plan(job: TokenizeJob) -> Plan:
    """Load the tokenizer, list the inputs and check ``job.out``, before any Ray work (refusals raise here)."""
    from omnitok.fingerprint import weights_fingerprint
    from omnitok.modalities import get_modality
    from omnitok.resolve import load_tokenizer, select_modality

    if job.out.exists() and not job.out.is_dir():
        raise OutputError(f"--out {job.out} is a file, not a folder")
    tokenizer = load_tokenizer(job.tokenizer, trust_remote_code=job.trust_remote_code, device="cpu")
    tokenizer = select_modality(tokenizer, job.modality, str(job.tokenizer))  # an omni folder: the view asked for
    spec = tokenizer.spec
    modality = get_modality(spec.modality)
    modality.check_codec_options(tokenizer, dict(job.protocol))
    inputs = open_source(job.data).list_inputs(modality)
    identity = {
        "tokenizer": {"spec": json.loads(spec.to_json()), "weights_sha256": weights_fingerprint(tokenizer)},
        "protocol": {
            **{k: job.protocol.get(k) for k in sorted(job.protocol)},
            "sample_rate": spec.sample_rate,
            "channels": spec.channels,
        },
        "inputs": {
            "count": len(inputs),
            "sha256": S.inputs_digest([k for k, _ in inputs]),
            "shard_size": job.shard_size,
        },
    }
    existing = S.read_manifest(job.out) if job.out.is_dir() else None
    if existing is not None:
        S.check_same_job(existing, identity, job.out)
    elif job.out.is_dir() and any(job.out.iterdir()):
        raise OutputError(f"--out {job.out} is not empty and holds no corpus manifest; choose an empty or new folder")
    return Plan(job, identity, inputs, S.token_dtype(spec), spec, modality)


def run(plan: Plan, log=print) -> Result:
    """Tokenize the shards of ``plan`` that are not finished; returns what the corpus holds."""
    from omnitok.utils import remove_stale_temporaries

    out = plan.job.out
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries([out / S.MANIFEST] + [out / S.shard_name(i) for i in range(plan.shard_count)])
    finished = {i: entry for i in range(plan.shard_count) if (entry := _finished_shard(plan, i)) is not None}
    _write_manifest(plan, finished, complete=len(finished) == plan.shard_count)
    reused = len(finished)
    pending = [i for i in range(plan.shard_count) if i not in finished]
    if pending:
        log(
            f"tokenizing {sum(len(plan.shard_inputs(i)) for i in pending)} input(s) into {len(pending)} shard(s)"
            + (f" ({reused} finished shard(s) kept)" if reused else "")
        )
        for index, entry in _encode_shards(plan, pending):
            finished[index] = entry
            _write_manifest(plan, finished, complete=len(finished) == plan.shard_count)
    ordered = [finished[i] for i in range(plan.shard_count)]
    skipped = [s for entry in ordered for s in entry["skipped"]]
    rows = sum(entry["rows"] for entry in ordered)
    if rows == 0:
        for i in range(plan.shard_count):
            (out / S.shard_name(i)).unlink(missing_ok=True)
        (out / S.MANIFEST).unlink(missing_ok=True)
        first = skipped[0] if skipped else {"source": "?", "reason": "?"}
        raise DataError(
            f"all {len(plan.inputs)} input(s) failed; nothing was written (first: {first['source']}: {first['reason']})"
        )
    return Result(rows, plan.shard_count, reused, skipped)


def _shard_metadata(plan: Plan, index: int, rows: int, skipped: list[dict[str, str]]) -> dict[str, Any]:
    return {"index": index, "identity": plan.identity, "rows": rows, "skipped": skipped}


def _finished_shard(plan: Plan, index: int) -> dict[str, Any] | None:
    """The manifest entry of shard ``index`` when a finished shard of this very job is in place, else None."""
    from omnitok.fingerprint import file_sha256

    path = plan.job.out / S.shard_name(index)
    if not path.is_file():
        return None
    metadata = S.read_shard_metadata(path)
    if metadata is None or metadata.get("index") != index:
        return None  # not a shard of ours (it cannot be half-written: shards are renamed into place)
    if metadata.get("identity") != plan.identity:
        raise ConfigError(f"{path} was written by another tokenizer, protocol or input list; choose another --out")
    return _entry(index, metadata["rows"], metadata["skipped"], file_sha256(path))


def _entry(index: int, rows: int, skipped: list[dict[str, str]], sha256: str) -> dict[str, Any]:
    return {"index": index, "file": S.shard_name(index), "rows": rows, "sha256": sha256, "skipped": skipped}


def _write_manifest(plan: Plan, finished: dict[int, dict[str, Any]], complete: bool) -> None:
    entries = [finished[i] for i in sorted(finished)]
    manifest = {
        "format": S.CORPUS_FORMAT,
        **plan.identity,
        "token_dtype": str(plan.dtype),
        "complete": complete,
        "rows": sum(e["rows"] for e in entries),
        "shards": [{k: v for k, v in e.items() if k != "skipped"} | {"skipped": len(e["skipped"])} for e in entries],
        "skipped": [s for e in entries for s in e["skipped"]],
    }
    S.write_manifest(plan.job.out, manifest)


# -- Ray ------------------------------------------------------------------------------------------------------------
def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def size_pool(cpus: float, gpus: float, workers: int | None, gpus_per_worker: float) -> tuple[int, float]:
    """(actors, CPUs per actor) for a cluster of ``cpus`` CPUs and ``gpus`` GPUs.

    Actors never take every CPU: each asks at most ``cpus / (actors + 1)``, so Ray Data's own tasks always find a
    CPU (on 2 CPUs, two whole-CPU actors plus a task would wait for each other forever)."""
    if gpus_per_worker > 0:
        if gpus < gpus_per_worker:
            raise ConfigError(f"--gpus-per-worker {gpus_per_worker}: the Ray cluster has {gpus:g} GPU(s)")
        workers = workers or max(1, int(gpus // gpus_per_worker))
    else:
        workers = workers or max(1, int(cpus) - 1)
    per_worker = min(1.0, math.floor(cpus / (workers + 1) * 100) / 100)
    if per_worker <= 0:
        raise ConfigError(f"--workers {workers}: too many for the Ray cluster's {cpus:g} CPU(s)")
    return workers, per_worker


def _encode_shards(plan: Plan, pending: list[int]):
    """Yield (shard index, manifest entry) as each pending shard is written, in order."""
    import numpy as np
    import ray

    from omnitok.corpus.workers import EncodeInputs, read_inputs

    job = plan.job
    started = False
    if not ray.is_initialized():
        try:
            if job.address:
                ray.init(address=job.address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as err:  # noqa: BLE001 (ray raises RuntimeError, ConnectionError, its own types)
            where = f"join the Ray cluster at {job.address}" if job.address else "start a local Ray"
            raise ConfigError(
                f"cannot {where}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from None
        started = True
    try:
        import ray.data

        resources = ray.cluster_resources()
        workers, per_worker = size_pool(
            resources.get("CPU", 0.0), resources.get("GPU", 0.0), job.workers, job.gpus_per_worker
        )
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        items = [{"key": k, "source": s, "shard": i} for i in pending for k, s in plan.shard_inputs(i)]
        dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / job.batch_size))
        dataset = dataset.map_batches(  # CPU tasks: fetch, decode, resize (no model)
            read_inputs,
            batch_size=job.batch_size,
            batch_format="numpy",
            num_cpus=per_worker,
            fn_kwargs={"data": job.data, "spec": plan.spec, "modality": plan.modality, "options": dict(job.protocol)},
        )
        dataset = dataset.map_batches(  # the actor pool: the tokenizer once per actor
            EncodeInputs,
            batch_size=job.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=per_worker,
            num_gpus=job.gpus_per_worker or None,
            fn_constructor_kwargs={
                "tokenizer": job.tokenizer,
                "modality": job.modality,
                "trust_remote_code": job.trust_remote_code,
                "weights_sha256": plan.identity["tokenizer"]["weights_sha256"],
                "options": dict(job.protocol),
                "dtype": str(plan.dtype),
                "device": "cuda" if job.gpus_per_worker else "cpu",
                "threads": max(1, int(per_worker)),
            },
        )
        expected = {i: len(plan.shard_inputs(i)) for i in pending}
        rows: dict[int, list[dict]] = {i: [] for i in pending}
        skipped: dict[int, list[dict]] = {i: [] for i in pending}
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for n in range(len(batch["key"])):
                index = int(batch["shard"][n])
                if batch["error"][n]:
                    skipped[index].append(
                        {"key": batch["key"][n], "source": batch["source"][n], "reason": batch["error"][n]}
                    )
                else:
                    rows[index].append(
                        {
                            "key": batch["key"][n],
                            "source": batch["source"][n],
                            "tokens": np.frombuffer(batch["tokens"][n], dtype=plan.dtype),
                            "shape": json.loads(batch["shape"][n]),
                            "grid": json.loads(batch["grid"][n]),
                            "levels": int(batch["levels"][n]),
                            "media": batch["media"][n],
                            "text": json.loads(batch["text"][n]),
                        }
                    )
                if len(rows[index]) + len(skipped[index]) == expected[index]:
                    done_skipped = sorted(skipped.pop(index), key=lambda s: s["key"])
                    done_rows = rows.pop(index)
                    path = job.out / S.shard_name(index)
                    metadata = _shard_metadata(plan, index, len(done_rows), done_skipped)
                    sha256 = S.write_shard(path, done_rows, plan.dtype, metadata)
                    yield index, _entry(index, len(done_rows), done_skipped, sha256)
    finally:
        if started:
            ray.shutdown()
        sys.stdout.flush()

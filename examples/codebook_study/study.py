"""Codebook-usage study: how much of a codebook each quantizer (and each VQ trick) actually uses.

Data: ``blobs`` Gaussian clusters in ``dim`` dimensions at a small scale (as encoder outputs often are, unlike
a unit-variance codebook initialisation). Each quantizer is trained to reconstruct the points (projections and
learned codebooks by Adam, EMA codebooks by their updates) and then measured on held-out points.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from omnitok.config import to_config
from omnitok.quantizers import (
    BinarySphericalQuantizer,
    CodebookStats,
    FiniteScalarQuantizer,
    IndexBackpropQuantizer,
    LookupFreeQuantizer,
    Quantizer,
    SimVQQuantizer,
    VectorQuantizer,
    VQPytorchQuantizer,
)
from omnitok.utils import atomic_path


@dataclasses.dataclass(frozen=True)
class StudySettings:
    dim: int = 16
    codebook_size: int = 1024
    blobs: int = 4096
    steps: int = 300
    batch_size: int = 2048
    eval_points: int = 32768
    center_scale: float = 0.1
    noise_scale: float = 0.01
    lr: float = 1e-2
    seed: int = 0


MAX_CODES = {"ibq": 2**16, "vqp": 2**16}  # both build N x K matrices: 2048 x 2^18 float32 alone is 2 GiB
"""Largest codebook each family is run at (by name prefix); larger sizes are listed as skipped, with the reason."""


def variants(s: StudySettings) -> dict[str, Callable[[], Quantizer]]:
    """The quantizers compared, each with the same codebook size (FSQ/LFQ/BSQ: the nearest power-of-two product);
    ``vqp ...`` rows are vector-quantize-pytorch's own classes through :class:`~omnitok.quantizers.VQPytorchQuantizer`."""
    d, k = s.dim, s.codebook_size
    bits = k.bit_length() - 1
    return {
        "vq learned (no tricks)": lambda: VectorQuantizer(d, k, update="learned"),
        "vq ema": lambda: VectorQuantizer(d, k),
        "vq ema + k-means init": lambda: VectorQuantizer(d, k, kmeans_init=True),
        "vq ema + dead-code restart": lambda: VectorQuantizer(d, k, dead_code_threshold=1.0),
        "vq ema + l2-normalized codes": lambda: VectorQuantizer(d, k, metric="cosine"),
        "vq ema + k-means + restart + l2": lambda: VectorQuantizer(
            d, k, metric="cosine", kmeans_init=True, dead_code_threshold=1.0
        ),
        "vq 8-dim l2 lookup + restart": lambda: VectorQuantizer(
            d, k, codebook_dim=8, metric="cosine", dead_code_threshold=1.0
        ),
        f"fsq {fsq_levels(bits)}": lambda: FiniteScalarQuantizer(d, fsq_levels(bits)),
        f"lfq 2^{bits}": lambda: LookupFreeQuantizer(d, bits),
        # the rotation trick changes only the gradient reaching what feeds the quantizer: here the lookup projection
        f"vq learned, {d // 2}-dim lookup": lambda: VectorQuantizer(d, k, codebook_dim=d // 2, update="learned"),
        f"vq learned, {d // 2}-dim lookup + rotation trick": lambda: VectorQuantizer(
            d, k, codebook_dim=d // 2, update="learned", rotation_trick=True
        ),
        "simvq (rotation trick)": lambda: SimVQQuantizer(d, k),
        "ibq (entropy 0.05)": lambda: IndexBackpropQuantizer(d, k, entropy_weight=0.05),
        f"bsq 2^{bits}": lambda: BinarySphericalQuantizer(d, bits),
        "vqp VectorQuantize (ema, rotation trick)": lambda: VQPytorchQuantizer(
            "VectorQuantize", d, {"codebook_size": k}
        ),
        "vqp SimVQ": lambda: VQPytorchQuantizer("SimVQ", d, {"codebook_size": k}),
    }


def skip_reason(name: str, codebook_size: int) -> str | None:
    """Why a variant is not run at this codebook size (None: it runs)."""
    for prefix, limit in MAX_CODES.items():
        if name.startswith(prefix) and codebook_size > limit:
            return f"skipped above {limit} codes (N x K logits or distances in training)"
    return None


def fsq_levels(bits: int) -> list[int]:
    """Levels of 8 and 4 (3 and 2 bits) whose product is 2^bits, e.g. 10 bits -> [8, 8, 4, 4]."""
    if bits < 2:
        raise ValueError(f"FSQ needs at least 2 bits (levels >= 3), got {bits}")
    threes, rest = divmod(bits, 3)
    twos = {0: 0, 1: 2, 2: 1}[rest]
    threes -= 1 if rest == 1 else 0
    return [8] * threes + [4] * twos


class BlobData:
    def __init__(self, s: StudySettings):
        g = torch.Generator().manual_seed(s.seed)
        self.centers = torch.randn(s.blobs, s.dim, generator=g) * s.center_scale
        self.noise_scale, self.generator = s.noise_scale, g

    def sample(self, n: int) -> torch.Tensor:
        which = torch.randint(self.centers.shape[0], (n,), generator=self.generator)
        return self.centers[which] + self.noise_scale * torch.randn(n, self.centers.shape[1], generator=self.generator)


def reproduces_direction_only(quantizer: Quantizer) -> bool:
    """l2-normalized codes with no output projection: outputs have unit norm, so only directions are compared."""
    return (
        isinstance(quantizer, VectorQuantizer)
        and quantizer.metric == "cosine"
        and quantizer.codebook_dim == quantizer.dim
    )


def train_and_measure(make: Callable[[], Quantizer], s: StudySettings) -> tuple[dict[str, float], Quantizer]:
    """Train one quantizer on the blobs -> (held-out figures, the trained quantizer)."""
    torch.manual_seed(s.seed)
    data = BlobData(s)
    quantizer = make()
    target = (lambda x: F.normalize(x, dim=1)) if reproduces_direction_only(quantizer) else (lambda x: x)
    params = [p for p in quantizer.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=s.lr) if params else None
    start = time.perf_counter()
    quantizer.train()
    for _ in range(s.steps):
        x = data.sample(s.batch_size)
        out = quantizer(x[:, :, None])  # tokens as a 1-D grid of length 1: [N, D, 1]
        loss = F.mse_loss(out.quantized, target(x[:, :, None])) + out.loss
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    quantizer.eval()
    stats = CodebookStats(quantizer.codebook_sizes)
    x = data.sample(s.eval_points)[:, :, None]
    with torch.no_grad():
        out = quantizer(x)
    stats.update(out.indices)
    figures = stats.compute()
    x = target(x)
    mse = F.mse_loss(out.quantized, x).item()
    return {
        "codebook_size": float(quantizer.codebook_size),
        "usage": figures["usage"],
        "dead_codes": figures["dead_codes"],
        "perplexity": figures["perplexity"],
        "mse": mse,
        "relative_mse": mse / x.var().item(),
        "train_seconds": seconds,
        "direction_only": float(reproduces_direction_only(quantizer)),
    }, quantizer


def run_study(out_dir: str | Path, settings: StudySettings | None = None, log: Callable[[str], None] = print) -> dict:
    """Train every variant, then write ``metrics.json`` and ``report.md`` into ``out_dir``; returns the metrics."""
    s = settings or StudySettings()
    results, configs = {}, {}
    skipped = {}
    for name, make in variants(s).items():
        reason = skip_reason(name, s.codebook_size)
        if reason:
            skipped[name] = reason
            continue
        log(f"training {name} ...")
        results[name], trained = train_and_measure(make, s)
        configs[name] = to_config(trained)
        r = results[name]
        log(f"  usage {r['usage']:.1%}  perplexity {r['perplexity']:.0f}  relative mse {r['relative_mse']:.4f}")
    metrics = {
        "protocol": {
            **dataclasses.asdict(s),
            "torch": torch.__version__,
            "data": "Gaussian blobs, see examples.codebook_study.study",
        },
        "results": results,
        "skipped": skipped,
        "configs": configs,
    }
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(render_markdown(metrics))
    return metrics


def render_markdown(metrics: dict) -> str:
    p, results = metrics["protocol"], metrics["results"]
    best_usage = max(r["usage"] for r in results.values())
    best_mse = min(r["relative_mse"] for r in results.values() if not r.get("direction_only"))
    lines = [
        "# Codebook usage study",
        "",
        (
            f"{p['blobs']} Gaussian blobs in {p['dim']} dimensions (centres ~ N(0, {p['center_scale']}^2), "
            f"noise {p['noise_scale']}), {p['steps']} training steps of {p['batch_size']} points, "
            f"measured on {p['eval_points']} held-out points. Seed {p['seed']}, torch {p['torch']}."
        ),
        "",
        "| quantizer | codes | usage | dead codes | perplexity | relative MSE | train s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        usage = f"{r['usage']:.1%}" + (" **best**" if r["usage"] == best_usage else "")
        mse = f"{r['relative_mse']:.4f}" + (" **best**" if r["relative_mse"] == best_mse else "")
        mse += " (direction)" if r.get("direction_only") else ""
        lines.append(
            f"| {name} | {int(r['codebook_size'])} | {usage} | {int(r['dead_codes'])} | {r['perplexity']:.0f} | {mse} | {r['train_seconds']:.1f} |"
        )
    lines += [
        "",
        (
            "Relative MSE is the quantization error divided by the variance of the target (lower is better). "
            "Rows marked (direction) use l2-normalized codes with no output projection: they return unit vectors, "
            "so they are compared with the l2-normalized input (in a tokenizer the decoder restores the scale)."
        ),
        (
            "FSQ, LFQ and BSQ have no codebook to move towards the data: their usage depends on the encoder (here one "
            "linear projection) spreading the latents over the levels."
        ),
        (
            f"Usage cannot exceed {p['eval_points']} held-out points / codes; vqp rows are vector-quantize-pytorch's own "
            "classes through omnitok's bridge."
        ),
        "",
    ]
    lines += [f"- {name}: {reason}" for name, reason in metrics.get("skipped", {}).items()]
    return "\n".join(lines)


def run_sizes(
    out_dir: str | Path, sizes: list[int], settings: StudySettings | None = None, log: Callable[[str], None] = print
) -> dict[int, dict]:
    """:func:`run_study` once per codebook size (into ``out_dir/k<size>``), plus one ``report.md`` with every size."""
    base = settings or StudySettings()
    out_dir = Path(out_dir)
    everything = {}
    for size in sizes:
        log(f"== {size} codes ==")
        everything[size] = run_study(out_dir / f"k{size}", dataclasses.replace(base, codebook_size=size), log)
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(
            "\n".join(
                render_markdown(m).replace("# Codebook usage study", f"# {k} codes", 1) for k, m in everything.items()
            )
        )
    return everything

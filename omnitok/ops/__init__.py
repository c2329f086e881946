"""Quantization ops: each with a Triton kernel, an exact torch reference and a memory-bounded default path.

Every entry point takes ``backend="auto" | "triton" | "torch" | "reference"`` (see :mod:`omnitok.ops.backend`);
triton is imported only when a kernel runs.
"""

from omnitok.ops.backend import Backend
from omnitok.ops.codebook_update import cluster_sums, ema_codebook, ema_update_
from omnitok.ops.fsq import FSQCodes, fsq_codes_from_indices, fsq_quantize
from omnitok.ops.kmeans import kmeans
from omnitok.ops.lfq import LFQCodes, LFQEntropy, lfq_entropy_terms, lfq_quantize
from omnitok.ops.nearest_code import NearestCode, nearest_code

__all__ = [
    "Backend",
    "FSQCodes",
    "LFQCodes",
    "LFQEntropy",
    "NearestCode",
    "cluster_sums",
    "ema_codebook",
    "ema_update_",
    "fsq_codes_from_indices",
    "fsq_quantize",
    "kmeans",
    "lfq_entropy_terms",
    "lfq_quantize",
    "nearest_code",
]

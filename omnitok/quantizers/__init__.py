"""The codebook interface (DESIGN.md contract 1) and every quantizer omnitok ships."""

from omnitok.quantizers.base import FlatQuantized, Quantizer, QuantizerOutput
from omnitok.quantizers.bridge import VQPytorchQuantizer
from omnitok.quantizers.bsq import BinarySphericalQuantizer
from omnitok.quantizers.continuous import GaussianQuantizer, IdentityQuantizer
from omnitok.quantizers.dual import DualCodebookQuantizer
from omnitok.quantizers.fsq import FiniteScalarQuantizer
from omnitok.quantizers.grouped import GroupedQuantizer
from omnitok.quantizers.ibq import IndexBackpropQuantizer
from omnitok.quantizers.lfq import LookupFreeQuantizer
from omnitok.quantizers.residual import ResidualQuantizer
from omnitok.quantizers.simvq import SimVQQuantizer
from omnitok.quantizers.stats import CodebookStats, SharedCodebookStats, batch_code_metrics, shared_codebook_stats
from omnitok.quantizers.vq import VectorQuantizer

__all__ = [
    "BinarySphericalQuantizer",
    "CodebookStats",
    "DualCodebookQuantizer",
    "FiniteScalarQuantizer",
    "FlatQuantized",
    "GaussianQuantizer",
    "GroupedQuantizer",
    "IdentityQuantizer",
    "IndexBackpropQuantizer",
    "LookupFreeQuantizer",
    "Quantizer",
    "QuantizerOutput",
    "ResidualQuantizer",
    "SharedCodebookStats",
    "SimVQQuantizer",
    "VQPytorchQuantizer",
    "VectorQuantizer",
    "batch_code_metrics",
    "shared_codebook_stats",
]

"""Every quantizer configuration the conformance suite runs, as name -> factory."""

from omnitok.quantizers import (
    FiniteScalarQuantizer,
    GaussianQuantizer,
    GroupedQuantizer,
    IdentityQuantizer,
    LookupFreeQuantizer,
    ResidualQuantizer,
    VectorQuantizer,
)

QUANTIZERS = {
    "vq_ema_l2": lambda: VectorQuantizer(16, 64, dead_code_threshold=0.5),
    "vq_learned": lambda: VectorQuantizer(16, 64, update="learned", entropy_weight=0.1),
    "vq_cosine_lowdim_kmeans": lambda: VectorQuantizer(
        16, 64, codebook_dim=8, metric="cosine", kmeans_init=True, kmeans_iters=3, dead_code_threshold=1.0
    ),
    "fsq": lambda: FiniteScalarQuantizer(16, [8, 5, 5, 5]),
    "fsq_native_dim": lambda: FiniteScalarQuantizer(4, [7, 5, 5, 4]),
    "lfq": lambda: LookupFreeQuantizer(16, 10, entropy_group_bits=5),
    "residual_vq_dropout": lambda: ResidualQuantizer(VectorQuantizer(16, 32), num_levels=3, dropout=0.5),
    "residual_fsq": lambda: ResidualQuantizer(
        FiniteScalarQuantizer(4, [5, 5, 5, 5]), num_levels=3, level_scales=[1.0, 0.25, 0.0625]
    ),
    "grouped_vq": lambda: GroupedQuantizer(VectorQuantizer(8, 32), num_groups=2),
    "gaussian": lambda: GaussianQuantizer(8),
    "identity": lambda: IdentityQuantizer(16),
}

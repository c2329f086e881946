"""Every quantizer configuration the conformance suite runs, as name -> factory."""

from omnitok.quantizers import (
    BinarySphericalQuantizer,
    FiniteScalarQuantizer,
    GaussianQuantizer,
    GroupedQuantizer,
    IdentityQuantizer,
    IndexBackpropQuantizer,
    LookupFreeQuantizer,
    ResidualQuantizer,
    SimVQQuantizer,
    VectorQuantizer,
    VQPytorchQuantizer,
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
    "vq_rotation_trick": lambda: VectorQuantizer(16, 64, rotation_trick=True, dead_code_threshold=0.5),
    "residual_vq_rotation_trick": lambda: ResidualQuantizer(VectorQuantizer(16, 32, rotation_trick=True), num_levels=2),
    "ibq": lambda: IndexBackpropQuantizer(16, 64, entropy_weight=0.1, init_scale=0.5),
    "simvq": lambda: SimVQQuantizer(16, 64, frozen_dim=8),
    "bsq": lambda: BinarySphericalQuantizer(16, 10, entropy_group_bits=5),
    # vector-quantize-pytorch classes through the bridge
    "vqp_vector_quantize": lambda: VQPytorchQuantizer("VectorQuantize", 16, {"codebook_size": 64, "decay": 0.8}),
    "vqp_residual_vq": lambda: VQPytorchQuantizer("ResidualVQ", 16, {"codebook_size": 32, "num_quantizers": 3}),
    "vqp_fsq": lambda: VQPytorchQuantizer("FSQ", 16, {"levels": [8, 5, 5]}),
    "vqp_lfq": lambda: VQPytorchQuantizer("LFQ", 16, {"codebook_size": 256}),
    "vqp_simvq": lambda: VQPytorchQuantizer("SimVQ", 16, {"codebook_size": 64}),
    "vqp_latent_quantize": lambda: VQPytorchQuantizer("LatentQuantize", 16, {"levels": [5, 5, 5]}),
    "vqp_residual_fsq": lambda: VQPytorchQuantizer("ResidualFSQ", 16, {"levels": [5, 5, 5], "num_quantizers": 2}),
    "vqp_residual_lfq": lambda: VQPytorchQuantizer("ResidualLFQ", 16, {"codebook_size": 64, "num_quantizers": 2}),
    "identity": lambda: IdentityQuantizer(16),
}

"""Compile every Triton kernel of omnitok.ops for an sm_90 GPU without one (run as a script: not interpreted).

Catches what the CPU interpreter cannot: type errors of the compiler, libdevice calls, shared memory over the
H100's 227 KiB in any autotune config. Prints one line per kernel and exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import sys

assert os.environ.get("TRITON_INTERPRET", "0") in ("", "0"), "run without TRITON_INTERPRET"

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from omnitok.ops import triton_fsq, triton_lfq, triton_nearest_code

TARGET = GPUTarget("cuda", 90, 32)
SHARED_LIMIT = 232448  # bytes of shared memory per block on an H100


def compile_kernel(fn: object, signature: dict[str, str], constexprs: dict[str, object], **options: int) -> int:
    source = ASTSource(fn=fn, signature={**signature, **dict.fromkeys(constexprs, "constexpr")}, constexprs=constexprs)
    kernel = triton.compile(source, target=TARGET, options=options or {"num_warps": 4})
    assert kernel.metadata.shared <= SHARED_LIMIT, f"{kernel.metadata.shared} bytes of shared memory"
    return kernel.metadata.shared


def main() -> None:
    search = {"bias_ptr": "*fp32", "scale_ptr": "*fp32", "best_val_ptr": "*fp32", "best_idx_ptr": "*i32"}
    search |= dict.fromkeys(["N", "K", "D", "stride_x", "stride_c", "K_PER_SPLIT", "N_BUCKET"], "i32")
    configs = triton_nearest_code._configs()
    for dtype, precision, block_d, d_tiles in [
        ("bf16", "ieee", 128, 2),
        ("fp32", "ieee", 64, 4),
        ("fp32", "tf32", 64, 1),
    ]:
        for config in configs:
            shared = compile_kernel(
                triton_nearest_code._nearest_code_kernel.fn,
                {"x_ptr": f"*{dtype}", "c_ptr": f"*{dtype}", **search},
                {**config.kwargs, "BLOCK_D": block_d, "D_TILES": d_tiles, "PRECISION": precision, "UPCAST": False},
                num_warps=config.num_warps,
                num_stages=config.num_stages,
            )
            print(f"nearest_code {dtype} {precision} D_TILES={d_tiles} {config.kwargs}: {shared} B shared")
    rows = {"N": "i32", "C": "i32"}
    blocks = {"BLOCK_N": 128, "BLOCK_C": 8}
    consts = {"shift_ptr": "*fp32", "half_ptr": "*fp32", "half_width_ptr": "*fp32"}
    for dtype in ("fp32", "bf16"):
        compile_kernel(
            triton_fsq._fsq_forward_kernel,
            {"x_ptr": f"*{dtype}", **consts, "offset_ptr": "*fp32", "basis_ptr": "*i64", "codes_ptr": "*fp32",
             "idx_ptr": "*i64", **rows},
            {**blocks, "LIBDEVICE": True},
        )  # fmt: skip
        compile_kernel(
            triton_fsq._fsq_backward_kernel,
            {"x_ptr": f"*{dtype}", "grad_ptr": "*fp32", **consts, "grad_x_ptr": "*fp32", **rows},
            {**blocks, "LIBDEVICE": True},
        )
        compile_kernel(
            triton_lfq._lfq_sign_kernel,
            {"x_ptr": f"*{dtype}", "bit_values_ptr": "*i64", "codes_ptr": "*fp32", "idx_ptr": "*i64", **rows,
             "scale": "fp32"},
            blocks,
        )  # fmt: skip
    compile_kernel(
        triton_fsq._fsq_decode_kernel,
        {"idx_ptr": "*i64", "levels_ptr": "*fp32", "basis_ptr": "*i64", "half_width_ptr": "*fp32",
         "codes_ptr": "*fp32", **rows},
        blocks,
    )  # fmt: skip
    compile_kernel(
        triton_lfq._bit_entropy_kernel, {"x_ptr": "*fp32", "out_ptr": "*fp32", **rows, "gain": "fp32"}, blocks
    )
    compile_kernel(
        triton_lfq._bit_entropy_backward_kernel,
        {"x_ptr": "*fp32", "grad_ptr": "*fp32", "grad_x_ptr": "*fp32", **rows, "gain": "fp32"},
        blocks,
    )
    print("fsq and lfq kernels: ok")


if __name__ == "__main__":
    sys.exit(main())

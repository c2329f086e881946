"""Quantizer ops: omnitok vs vector-quantize-pytorch (VectorQuantize, FSQ, LFQ, SimVQ, ...) on the same inputs, in one table.

Every (case, implementation) runs in its own subprocess with a memory cap, so a case that exhausts memory prints
"out of memory" instead of killing the script. Columns: median wall time over ``--repeats`` runs after one warm-up,
peak extra memory of a run (CPU: RSS above the inputs during the first run on the case, after libraries were
initialised on a tiny input; GPU: allocator peak above the inputs after a warm-up run),
speed-up and memory ratio against vector-quantize-pytorch, speed-up against matmul+argmin (vq), and on the GPU the
fraction of the bf16 matmul rate measured in the same run (VQ search counted as 2 N K D FLOPs). ``--rounds R`` runs
the implementations of a case R times in turn (interleaved, so that a machine whose load changes affects them
alike): times are medians over rounds, speed-ups medians of the per-round ratios, and the load column gives the
1-minute load average over the case's rounds (min-max).

What each row times:
- vq: the nearest-code search (indices + distances); vqp is ``VectorQuantize(...).eval()`` forward with the same
  codebook; "matmul+argmin" is the plain formula in torch; "omnitok" is ``nearest_code`` with its default backend
  (on CPUs with native bf16 matmuls and large problems: the exact bf16 shortlist; its notes give the rows re-ranked
  exactly and the rows that fell back to the float32 path); on the CPU also "omnitok-fp32", the float32 chunked path
  the shortlist replaces; on the GPU also flash-kmeans' FlashAssign kernel (``pip install flash-kmeans``; reported as
  not installed otherwise).
- fsq: forward + backward of the codes (levels multiplying to K); vqp is ``FSQ(levels)``.
- lfq: forward + backward of sign codes and the exact one-group MAGVIT-v2 entropy loss over K = 2^d codes; vqp is
  ``LFQ(dim=d, codebook_size=K)`` in training mode (it materializes N x K distances).
- kmeans: Lloyd iterations of k-means codebook initialisation (omnitok only; vqp has no standalone k-means).
- rotation: a training step (forward + backward to the input, EMA update) of VQ with rotation-trick gradients;
  omnitok ``VectorQuantizer(rotation_trick=True)``, vqp ``VectorQuantize`` (its default rotation trick, EMA).
- simvq: a training step of SimVQ (frozen codebook through a learned linear map, rotation trick); omnitok
  ``SimVQQuantizer``, vqp ``SimVQ``.
- bsq: a training step of binary spherical quantization with the exact one-group entropy loss over 2^d codes;
  omnitok ``BinarySphericalQuantizer``, vqp ``LFQ(spherical=True)`` (N x K distances).
- ibq: a training step of index-backpropagation VQ (N x K softmax) with its entropy penalty (omnitok only; vqp has
  no IBQ).

    .venv/bin/python benchmarks/quantizers.py --preset cpu            # CPU table (a few minutes on 2 cores)
    .venv/bin/python benchmarks/quantizers.py --preset cpu-target     # the CPU target row alone (about a minute)
    .venv/bin/python benchmarks/quantizers.py --preset cpu-target --rounds 3 --repeats 3  # interleaved, on a busy box
    .venv/bin/python benchmarks/quantizers.py --preset quick          # seconds: checks the script works
    python benchmarks/quantizers.py --preset gpu-target --device cuda # the GPU target row alone (gpu_check.sh)
    python benchmarks/quantizers.py --preset gpu --device cuda        # the issue's full grid on a GPU (~10-20 min)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

FSQ_LEVELS = {1024: [8, 5, 5, 5], 16384: [8, 8, 8, 8, 4], 65536: [8, 8, 8, 8, 4, 4]}
IMPLS = {
    "vq": ["vqp", "matmul+argmin", "omnitok"],
    "fsq": ["vqp", "omnitok"],
    "lfq": ["vqp", "omnitok"],
    "rotation": ["vqp", "omnitok"],
    "simvq": ["vqp", "omnitok"],
    "bsq": ["vqp", "omnitok"],
    "ibq": ["omnitok"],
}
ANTI_COLLAPSE = ["rotation", "simvq", "bsq", "ibq"]


def _anti_collapse(n: int, d: int, ks: list[int], bsq_ks: list[int]) -> list[dict[str, Any]]:
    """Training steps of the anti-collapse quantizers at N tokens of d channels (bsq: K = 2^bits, bits channels)."""
    cases = [{"op": op, "n": n, "d": d, "k": k} for op in ("rotation", "simvq", "ibq") for k in ks]
    return cases + [{"op": "bsq", "n": n, "d": k.bit_length() - 1, "k": k} for k in bsq_ks]


def _grid(ops: list[str], ns: list[int], ds: list[int], ks: list[int], lfq_ks: list[int]) -> list[dict[str, Any]]:
    cases = []
    for n in ns:
        if "vq" in ops:
            cases += [{"op": "vq", "n": n, "d": d, "k": k} for d in ds for k in ks]
        if "fsq" in ops:
            cases += [{"op": "fsq", "n": n, "d": len(FSQ_LEVELS[k]), "k": k} for k in ks if k in FSQ_LEVELS]
        if "lfq" in ops:
            cases += [{"op": "lfq", "n": n, "d": k.bit_length() - 1, "k": k} for k in lfq_ks]
    return cases


PRESETS: dict[str, list[dict[str, Any]]] = {
    "quick": _grid(["vq", "fsq", "lfq"], [2048], [64], [1024], [1024])
    + [{"op": "kmeans", "n": 4096, "d": 16, "k": 256, "iters": 2}]
    + _anti_collapse(2048, 32, [1024], [1024]),
    "anti-collapse": _anti_collapse(4096, 32, [1024, 16384], [1024, 16384, 262144]),  # the 16k image arms' shapes
    "cpu-target": [{"op": "vq", "n": 16384, "d": 256, "k": 8192}],  # the CPU target case alone
    # the shapes that set nearest_code's shortlist gate (_SHORTLIST_MIN_*): the bf16 shortlist forced against the
    # float32 path on each side of it (run with OMP_NUM_THREADS=1, as the gate was measured)
    "shortlist-gate": [
        {"op": "vq", "n": n, "d": d, "k": k, "impls": ["omnitok-fp32", "omnitok-shortlist"]}
        for n, k, d in [
            (16384, 4096, 16), (1024, 8192, 256), (16384, 8192, 64), (16384, 2048, 256), (16384, 1024, 64), (256, 16384, 256)
        ]
    ],
    "cpu": [{"op": "vq", "n": 16384, "d": 256, "k": 8192}]  # the CPU target case
    + _grid(["vq", "fsq", "lfq"], [16384], [8, 64, 256], [1024, 16384], [1024, 16384, 262144])
    + [{"op": "kmeans", "n": 65536, "d": 64, "k": 1024, "iters": 5}]
    + _anti_collapse(4096, 32, [1024, 16384], [1024, 16384, 262144]),
    "gpu-target": [{"op": "vq", "n": 65536, "d": 256, "k": 16384, "dtype": "bfloat16"}],  # the GPU target alone
    "gpu": [{"op": "vq", "n": 65536, "d": 256, "k": 16384, "dtype": "bfloat16"}]  # the GPU target case
    + _grid(["vq", "fsq", "lfq"], [16384, 65536], [8, 64, 256], [1024, 16384], [1024, 16384, 262144])
    + [{"op": "vq", "n": n, "d": d, "k": k, "dtype": "bfloat16"} for n in (16384, 65536) for d in (64, 256)
       for k in (1024, 16384)]
    + [{"op": "kmeans", "n": 10**6, "d": 64, "k": 16384, "iters": 5}],
}  # fmt: skip


# -- measurement (runs inside the worker subprocess) -------------------------------------------------------------
def _rss_reset() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _make_runner(case: dict[str, Any], impl: str, device: str) -> Callable[[], Any]:
    import torch

    torch.manual_seed(0)
    n, d, k, op = case["n"], case["d"], case["k"], case["op"]
    if op in ("vq", "kmeans"):
        x, codebook = _search_inputs(case, device)
        if op == "kmeans":
            from omnitok.ops import kmeans

            init = x[:k].float()
            return lambda: kmeans(x, k, iters=case["iters"], init=init)
        if impl == "omnitok":
            from omnitok.ops import nearest_code

            return lambda: nearest_code(x, codebook)
        if impl == "omnitok-shortlist":  # the bf16 shortlist whatever the gate says (CPU)
            from omnitok.ops.nearest_code_shortlist import shortlist_indices

            return lambda: shortlist_indices(x, codebook, "l2")
        if impl == "omnitok-fp32":  # the float32 chunked path the bf16 shortlist replaces on the CPU
            from omnitok.ops.nearest_code import _chunked_indices, code_distance

            return lambda: code_distance(x, codebook, _chunked_indices(x, codebook, "l2", None), "l2")
        if impl == "flash-kmeans":  # FlashAssign, flash-kmeans' streaming argmin kernel (GPU only)
            from flash_kmeans.assign_euclid_triton import euclid_assign_triton

            x_sq = (x.float() ** 2).sum(1)[None]
            return lambda: euclid_assign_triton(x[None], codebook[None], x_sq)
        if impl == "matmul+argmin":
            xf, cf = x.float(), codebook.float()
            return lambda: ((xf * xf).sum(1, keepdim=True) - 2 * xf @ cf.T + (cf * cf).sum(1)).argmin(1)
        import vector_quantize_pytorch as vqp

        vq = vqp.VectorQuantize(dim=d, codebook_size=k, sync_codebook=False).to(device).eval()
        vq._codebook.embed.data.copy_(codebook.float()[None])
        return lambda: vq(x[None].float())[1]
    if op in ANTI_COLLAPSE:
        return _anti_collapse_runner(op, impl, n, d, k, device)
    x = torch.randn(n, d, device=device, requires_grad=True)
    grad = torch.randn(n, d, device=device)
    if op == "fsq":
        levels = FSQ_LEVELS[k]
        if impl == "omnitok":
            from omnitok.ops import fsq_quantize

            return lambda: fsq_quantize(x, levels).codes.backward(grad)
        import vector_quantize_pytorch as vqp

        fsq = vqp.FSQ(levels=levels).to(device)
        return lambda: fsq(x[None])[0].backward(grad[None])
    if impl == "omnitok":  # lfq: codes + exact entropy loss (one group of d bits), forward and backward
        from omnitok.ops import lfq_entropy_terms, lfq_quantize

        def step() -> None:
            codes = lfq_quantize(x).codes
            terms = lfq_entropy_terms(x, group_bits=d)
            probs = terms.probability_sums / n
            loss = terms.per_sample + (probs * probs.clamp_min(1e-10).log()).sum()
            (0.1 * loss + (codes * grad).sum()).backward()

        return step
    import vector_quantize_pytorch as vqp

    lfq = vqp.LFQ(dim=d, codebook_size=k, entropy_loss_weight=0.1).to(device).train()

    def vqp_step() -> None:
        out = lfq(x[None])
        (out.entropy_aux_loss + (out.quantized[0] * grad).sum()).backward()

    return vqp_step


def _anti_collapse_runner(op: str, impl: str, n: int, d: int, k: int, device: str) -> Callable[[], Any]:
    """One training step (forward, loss, backward to the input) of an anti-collapse quantizer on x [N, d]."""
    import torch

    x = torch.randn(n, d, device=device)
    grad = torch.randn(n, d, device=device)
    if impl == "omnitok":
        import omnitok.quantizers as oq

        ours = {
            "rotation": lambda: oq.VectorQuantizer(d, k, rotation_trick=True),
            "simvq": lambda: oq.SimVQQuantizer(d, k),
            "bsq": lambda: oq.BinarySphericalQuantizer(d, d, entropy_group_bits=d),
            "ibq": lambda: oq.IndexBackpropQuantizer(d, k, entropy_weight=0.05),
        }
        quantizer = ours[op]().to(device).train()

        def step() -> None:
            leaf = x.T[None].requires_grad_()  # [1, d, N]: N tokens on a 1-D grid
            out = quantizer(leaf)
            ((out.quantized * grad.T[None]).sum() + out.loss).backward()

        return step
    import vector_quantize_pytorch as vqp

    theirs = {
        "rotation": lambda: vqp.VectorQuantize(dim=d, codebook_size=k, sync_codebook=False),
        "simvq": lambda: vqp.SimVQ(dim=d, codebook_size=k),
        "bsq": lambda: vqp.LFQ(dim=d, codebook_size=k, spherical=True, entropy_loss_weight=0.1),
    }
    module = theirs[op]().to(device).train()

    def vqp_step() -> None:
        leaf = x[None].clone().requires_grad_()
        out = module(leaf)
        ((out[0] * grad[None]).sum() + out[2].sum()).backward()

    return vqp_step


def measure(case: dict[str, Any], impl: str, device: str, repeats: int) -> dict[str, Any]:
    """Median seconds and peak extra memory (MiB) of one implementation on one case."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    tiny = dict(case, n=case["k"] if case["op"] == "kmeans" else 16)  # k-means needs k rows to start from
    _make_runner(tiny, impl, device)()  # lazy library initialisation on a tiny input
    run = _make_runner(case, impl, device)
    if device == "cuda":  # the allocator counts live tensors only: measure after a warm-up run (and autotuning)
        run()
        sync()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:  # RSS: measure the first run, before freed blocks of an earlier run could be reused unseen
        base = _rss_kib("VmRSS") * 1024
        _rss_reset()
    run()
    sync()
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _rss_kib("VmHWM") * 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    result: dict[str, Any] = {"seconds": statistics.median(times), "extra_mib": max(0, peak - base) / 2**20}
    if case["op"] == "vq" and impl == "omnitok" and device == "cpu":
        result["notes"] = _shortlist_notes(case)
    return result


def _search_inputs(case: dict[str, Any], device: str) -> tuple[Any, Any]:
    """The vq / kmeans case's rows x [N, D] and codebook [K, D] (seed 0), the same for every implementation."""
    import torch

    torch.manual_seed(0)
    dtype = getattr(torch, case.get("dtype", "float32"))
    x = torch.randn(case["n"], case["d"], device=device).to(dtype)
    return x, torch.randn(case["k"], case["d"], device=device).to(dtype)


def _shortlist_notes(case: dict[str, Any]) -> str:
    """Which path the default CPU search took on the case's inputs, and how many rows the shortlist left open."""
    from omnitok.ops.nearest_code import uses_shortlist
    from omnitok.ops.nearest_code_shortlist import shortlist_indices

    x, codebook = _search_inputs(case, "cpu")
    if not uses_shortlist(x, codebook):
        return "float32 path"
    result = shortlist_indices(x, codebook, "l2")
    n = case["n"]
    return f"shortlist: {result.reranked / n:.1%} rows re-ranked, {int(result.fallback.sum()) / n:.2%} fell back"


def bf16_matmul_rate(device: str) -> float:
    """Measured bf16 matmul FLOP/s on 8192^3 (the roofline the VQ search is compared with)."""
    import torch

    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * 8192**3 * reps / (time.perf_counter() - start)


def _worker(spec: str) -> None:
    args = json.loads(spec)
    if args["device"] == "cpu":  # an address-space cap; CUDA reserves huge virtual ranges, so the GPU uses a fraction
        cap = int(args["memory_gib"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    else:
        import torch

        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args["memory_gib"] * 2**30 / total))
    try:
        result = measure(args["case"], args["impl"], args["device"], args["repeats"])
    except MemoryError:
        result = {"error": "out of memory"}
    except ImportError as err:
        result = {"error": f"not installed ({err.name})"}
    except RuntimeError as err:  # torch reports allocation failures as RuntimeError / OutOfMemoryError
        text = str(err).lower()
        result = {"error": "out of memory" if "memory" in text or "alloc" in text else str(err).splitlines()[0]}
    print("RESULT " + json.dumps(result), flush=True)


# -- driver ------------------------------------------------------------------------------------------------------
def run_case(case: dict[str, Any], impl: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = {"case": case, "impl": impl, "device": args.device, "repeats": args.repeats, "memory_gib": args.memory_gib}
    spec["load"] = os.getloadavg()[0]
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)  # real kernels on the GPU; the CPU default path never imports triton
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            check=False, capture_output=True, text=True, timeout=args.timeout, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timeout ({args.timeout} s)"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]), load=max(spec["load"], os.getloadavg()[0]))
    text = proc.stderr.lower()
    if proc.returncode in (-9, 137) or "memory" in text or "alloc" in text:
        return {"error": "out of memory"}
    return {"error": (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:80]}


def _fmt_case(case: dict[str, Any]) -> str:
    dtype = case.get("dtype", "float32").replace("float", "fp").replace("bfp16", "bf16")
    return f"| {case['op']} | {case['n']} | {case['d']} | {case['k']} | {dtype} "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument(
        "--ops", default="vq,fsq,lfq,kmeans," + ",".join(ANTI_COLLAPSE), help="comma-separated subset of the ops"
    )
    parser.add_argument("--max-n", type=int, default=None, help="skip cases with more rows (a quicker subset)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of a case's implementations")
    parser.add_argument(
        "--memory-gib", type=float, default=None, help="memory cap of each case's subprocess (8 on cpu, 60 on cuda)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a case is reported as timeout")
    parser.add_argument("--no-vqp", action="store_true", help="skip vector-quantize-pytorch (ours only)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker)
    args.memory_gib = args.memory_gib or (60.0 if args.device == "cuda" else 8.0)
    ops = set(args.ops.split(","))
    cases = [c for c in PRESETS[args.preset] if c["op"] in ops and (args.max_n is None or c["n"] <= args.max_n)]
    rate = bf16_matmul_rate("cuda") if args.device == "cuda" else None
    if rate:
        print(f"measured bf16 matmul rate: {rate / 1e12:.1f} TFLOP/s (8192^3)")
    threads, wait = os.environ.get("OMP_NUM_THREADS", "default"), os.environ.get("OMP_WAIT_POLICY", "default")
    print(f"device: {args.device}, threads: {threads}, OpenMP wait policy: {wait}, repeats: {args.repeats}, ", end="")
    print(f"rounds: {args.rounds}, load average at start: {os.getloadavg()[0]:.2f}")
    print(
        "| op | N | D | K | dtype | impl | median ms | peak extra MiB | speed-up vs vqp | memory vs vqp | vs matmul "
        "| roofline | load | notes |"
    )
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for case in cases:
        impls = ["omnitok"] if case["op"] == "kmeans" else list(case.get("impls") or IMPLS[case["op"]])
        if case["op"] == "vq" and "impls" not in case:
            impls.insert(-1, "flash-kmeans" if args.device == "cuda" else "omnitok-fp32")
        if args.no_vqp:
            impls = [i for i in impls if i != "vqp"]
        rounds = [{impl: run_case(case, impl, args) for impl in impls} for _ in range(max(1, args.rounds))]
        for impl in impls:
            print(_fmt_case(case) + _row(impl, rounds, case, rate), flush=True)


def _row(impl: str, rounds: list[dict[str, dict[str, Any]]], case: dict[str, Any], rate: float | None) -> str:
    """The cells of one implementation over the rounds of a case (medians; ratios per round, then their median)."""
    errors = [r[impl]["error"] for r in rounds if "error" in r[impl]]
    if errors:
        return f"| {impl} | {errors[0]} | | | | | | | |"

    def ratio(baseline: str, key: str = "seconds", measurable: bool = False) -> str:
        pairs = [(r[baseline], r[impl]) for r in rounds if key in r.get(baseline, {})]
        if measurable:  # below 1 MiB is page-level noise
            pairs = [(b, o) for b, o in pairs if min(b[key], o[key]) >= 1]
        if not pairs:
            return "n/a"
        value = statistics.median(b[key] / o[key] for b, o in pairs)
        return f"{value:.2f}x" if key == "seconds" else f"{1 / value:.2f}"

    seconds = statistics.median(r[impl]["seconds"] for r in rounds)
    extra = statistics.median(r[impl]["extra_mib"] for r in rounds)
    vs_matmul = ratio("matmul+argmin") if case["op"] == "vq" else ""
    roofline = f"{2 * case['n'] * case['k'] * case['d'] / seconds / rate:.0%}" if rate and case["op"] == "vq" else ""
    loads = [r[impl]["load"] for r in rounds]
    load = f"{min(loads):.1f}-{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"
    notes = rounds[0][impl].get("notes", "")
    return (
        f"| {impl} | {seconds * 1e3:.1f} | {extra:.0f} | {ratio('vqp')} | {ratio('vqp', 'extra_mib', True)} "
        f"| {vs_matmul} | {roofline} | {load} | {notes} |"
    )


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()

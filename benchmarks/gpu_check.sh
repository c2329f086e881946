#!/usr/bin/env bash
# The GPU check: one prepared run that turns a lent GPU machine into numbers.
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--python PY] [--no-setup] [--dry-run]
#
# Parts, each with its own time limit so that one hang does not lose the rest (about 8 minutes in all):
#   1. set-up      the README's set-up (.ci/setup), unless --no-setup or --python is given      (300 s)
#   2. gpu-tests   pytest -m gpu: kernels vs torch at odd shapes and ties, every tokenizer family in
#                  bf16/fp16 and channels-last, training on the GPU (NCCL with two GPUs)           (150 s)
#   3. quantizers  benchmarks/quantizers.py, the VQ target case N=65536 D=256 K=16384 in bf16 against
#                  vector-quantize-pytorch, with the fraction of the measured bf16 matmul rate     (120 s)
#   4. image       benchmarks/image_throughput.py against diffusers, bf16, without and with torch.compile
#   5. audio       benchmarks/audio_throughput.py against transformers, bf16, without and with torch.compile
#                                                                                (4 and 5: 60 s each run)
# Every part writes DIR/<part>.txt (its output) and a line to DIR/summary.md (status and seconds).
# --dry-run checks the arguments, the tools and the files the parts use, prints the plan and exits 0
# without running anything; without a CUDA GPU the script says so and exits 3 before running anything.
set -uo pipefail
cd "$(dirname "$0")/.."

out=gpu-results
python=""
setup=1
dry_run=0
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "gpu_check: --out needs a folder" >&2; exit 2; }; out=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || { echo "gpu_check: --python needs an interpreter" >&2; exit 2; }; python=$2; setup=0; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

for file in .ci/setup benchmarks/quantizers.py benchmarks/image_throughput.py benchmarks/audio_throughput.py tests/gpu; do
  [ -e "$file" ] || { echo "gpu_check: $file is missing; run from a complete checkout" >&2; exit 2; }
done
command -v timeout >/dev/null || { echo "gpu_check: needs coreutils' timeout" >&2; exit 2; }
if [ -z "$python" ]; then
  if [ "$setup" = 1 ] || [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi

plan() {
  echo "gpu_check plan (results in $out/):"
  [ "$setup" = 1 ] && echo "  set-up      bash .ci/setup                                               300 s"
  echo "  gpu-tests   $python -m pytest -m gpu tests/gpu                             150 s"
  echo "  quantizers  $python benchmarks/quantizers.py --preset gpu-target           120 s"
  echo "  image       $python benchmarks/image_throughput.py --dtype bfloat16 [--compile]  2 x 60 s"
  echo "  audio       $python benchmarks/audio_throughput.py --dtype bfloat16 [--compile]  2 x 60 s"
}

if [ "$dry_run" = 1 ]; then
  plan
  echo "dry run: arguments and files checked; nothing was run"
  exit 0
fi

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no CUDA GPU on this machine (nvidia-smi finds none); nothing to measure" >&2
  exit 3
fi

mkdir -p "$out"
summary="$out/summary.md"
{
  echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  nvidia-smi -L | sed 's/^/    /'
  echo
  echo "| part | status | seconds |"
  echo "|---|---|---:|"
} > "$summary"

part() {  # part NAME SECONDS COMMAND...: run with a time limit, keep the output, record the status
  local name=$1 limit=$2
  shift 2
  local start status
  start=$(date +%s)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.txt" 2>&1
  status=$?
  case $status in
    0) state=ok ;;
    124|137) state="timed out" ;;
    *) state="failed ($status)" ;;
  esac
  echo "| $name | $state | $(( $(date +%s) - start )) |" >> "$summary"
  tail -n 25 "$out/$name.txt"
}

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
if [ "$setup" = 1 ]; then
  part setup 300 bash .ci/setup
  if [ "$state" != ok ] || ! .venv/bin/python -c "import omnitok" 2>/dev/null; then
    python=python3  # a machine without a package index: its preinstalled packages, omnitok installed over them
    echo "| (set-up) | the parts below use python3 instead of .venv | |" >> "$summary"
    part install 120 python3 -m pip install --no-deps --no-build-isolation -e .
  fi
fi
part gpu-tests 150 "$python" -m pytest -m gpu tests/gpu -p no:cacheprovider -q -rs
part quantizers 120 "$python" benchmarks/quantizers.py --preset gpu-target --device cuda --timeout 100
part image-bf16 60 "$python" benchmarks/image_throughput.py --device cuda --dtype bfloat16 --resolution 256 --batch 8
part image-bf16-compile 60 "$python" benchmarks/image_throughput.py --device cuda --dtype bfloat16 --resolution 256 --batch 8 --compile
part audio-bf16 60 "$python" benchmarks/audio_throughput.py --device cuda --dtype bfloat16 --seconds 10
part audio-bf16-compile 60 "$python" benchmarks/audio_throughput.py --device cuda --dtype bfloat16 --seconds 10 --compile
echo
cat "$summary"
echo "tables: $out/*.txt"

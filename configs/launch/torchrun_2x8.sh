#!/usr/bin/env bash
# VQ-f16 (LlamaGen setting) on 2 machines x 8 GPUs with torchrun. Run this script on each machine with
# NODE_RANK=0 on the first and NODE_RANK=1 on the second; MASTER_ADDR is the first machine's address.
# Global batch: data.batch_size (16 per GPU) x 8 GPUs x 2 machines = 256 images per step; a step is one global batch.
# Rerunning the same command after a crash or preemption resumes from the run folder's last checkpoint.
# A recipe whose weights and optimizer states do not fit one GPU: --set trainer.strategy=fsdp (sharded; last.ckpt is a folder).
set -euo pipefail
: "${NODE_RANK:?set NODE_RANK (0 or 1)}" "${MASTER_ADDR:?set MASTER_ADDR (the NODE_RANK=0 machine)}"
RUN=${RUN:-runs/vq_f16_llamagen}
DATA=${DATA:-/datasets/imagenet-packed}   # packed shards (omnitok data pack), a folder, or s3://bucket/prefix

resume=()
if [ -e "$RUN/checkpoints/last.ckpt" ]; then resume=(--resume "$RUN"); fi
torchrun --nnodes=2 --nproc_per_node=8 --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" --master_port="${MASTER_PORT:-29500}" \
  -m omnitok.cli.main train --config configs/image/vq_f16_llamagen.yaml --out "$RUN" "${resume[@]}" \
  --set trainer.devices=8 --set trainer.num_nodes=2 --set trainer.strategy=ddp \
  --set data.root="$DATA" --set data.num_workers=8

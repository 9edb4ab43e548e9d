#!/usr/bin/env bash
# "Trained on blood" on one CUDA GPU: the longer versions of the recipes behind the bundled
# weights (the CPU versions are in each model card's "recipe"). Designed for ~10 min on an
# H100/H200-class GPU; each stage has its own time limit and is stopped with SIGINT when it
# runs out (the tools save and exit; stages.jsonl then says "timed_out").
#
#   bash benchmarks/gpu_blood.sh [DATA_ROOT] [WORK]
#
# Stages, in parallel on the one GPU:
#   1. PBC pretraining (8 cell types) of mobilenet_v2, resnet18, shufflenet_v2 at 128 px, 30 epochs;
#   2. the open-data detector: YOLOv8n on blood_fields (BCCD train + TXL-PBC train minus
#      copies of BCCD val), 100 epochs at 640 px;
# then the per-source scores of the detector (benchmarks/universal_detector.py) and the
# ALL-IDB2 transfer table (benchmarks/transfer.py) with the GPU backbones.
# Not run yet: no GPU was lent when it was written. Record its figures in benchmarks/README.md.
set -uo pipefail
DATA_ROOT=${1:-${LEUKOSCAN_SHARED_DATA:-../shared/data}}
WORK=${2:-runs/gpu_blood}
LIMIT=${LIMIT:-420}
export YOLO_OFFLINE=${YOLO_OFFLINE:-1} LEUKOSCAN_OFFLINE=${LEUKOSCAN_OFFLINE:-1} WANDB_MODE=disabled
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "gpu_blood.sh: no CUDA GPU visible to torch; nothing run" >&2; exit 3; }
mkdir -p "$WORK"
stage() {
  local name=$1 limit=$2; shift 2
  local start=$(date +%s)
  timeout --signal=INT --kill-after=30 "$limit" "$@" >"$WORK/$name.log" 2>&1
  local rc=$?
  printf '{"stage": "%s", "rc": %d, "seconds": %d}\n' "$name" "$rc" "$(( $(date +%s) - start ))" >>"$WORK/stages.jsonl"
}
stage prepare_pbc 120 leukoscan prepare-data pbc --data-root "$DATA_ROOT"
stage prepare_fields 180 leukoscan prepare-data blood_fields --data-root "$DATA_ROOT"
for arch in mobilenet_v2 resnet18 shufflenet_v2; do
  stage "pbc_$arch" "$LIMIT" leukoscan pretrain-backbone --arch "$arch" --data runs/data/pbc --imgsz 128 \
    --epochs 30 --device 0 --name "gpu_pbc_$arch" "project=$WORK/classify" &
done
stage blood_yolov8n "$LIMIT" leukoscan train-detector --data runs/data/blood_fields --epochs 100 --imgsz 640 \
  --batch 32 --scratch --device 0 --name blood_yolov8n "project=$WORK/detect" workers=4 &
wait
stage universal 300 python benchmarks/universal_detector.py --weights "$WORK/detect/blood_yolov8n" \
  --data-root "$DATA_ROOT" --out "$WORK/universal_blood_yolov8n"
stage transfer 300 python benchmarks/transfer.py --data-root "$DATA_ROOT" --imgsz 128 \
  --backbones "$WORK/classify/gpu_pbc_{arch}/backbone.pt" --archs mobilenet_v2,resnet18,shufflenet_v2 \
  --out "$WORK/transfer_allidb2_gpu"
cat "$WORK/stages.jsonl"

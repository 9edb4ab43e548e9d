#!/usr/bin/env bash
# LeukoScan on one CUDA GPU, one prepared run, one JSON (designed for < 9 min on an H200-class GPU).
#
#   bash benchmarks/gpu.sh [DATA_ROOT] [OUT_JSON]
#     DATA_ROOT  raw datasets (BCCD/, ALL_IDB/); default $LEUKOSCAN_SHARED_DATA or ../shared/data
#     OUT_JSON   default benchmarks/results/gpu.json
#
# Needs: leukoscan installed (pip install -e .) with a CUDA build of torch, and a GPU.
# Stages (the three trainings and the classifier share the GPU at the same time; each has
# its own time limit and, when it runs out, is stopped with SIGINT, which makes the tools
# save and exit: the JSON then says "timed_out" and holds what was finished):
#   1. YOLOv8n, default recipe (configs/detect_bccd_yolov8n.yaml) on BCCD, 100 epochs at 640 px,
#      scored on BCCD val by the project's evaluator (metrics.json of the run);
#   2. Faster R-CNN MobileNetV3-Large FPN (configs/detect_bccd_frcnn_mobilenet.yaml) on BCCD,
#      40 epochs (from scratch when offline: the COCO weights need a download), scored the same way;
#   3. the ALL-IDB1 tiled recipe (configs/detect_allidb1_yolov8n.yaml), scored on dev-val;
#   4. a small torch classifier (cnn on ALL-IDB2) for the pipeline;
#   5. pipeline throughput (benchmarks/gpu_throughput.py): images/s at batch 1/16/64 for
#      640x480 and 2592x1944 inputs, and the per-image pipeline as `leukoscan infer` runs it.
# AMP (float16) is on for every stage on CUDA.
set -uo pipefail

DATA_ROOT=${1:-${LEUKOSCAN_SHARED_DATA:-../shared/data}}
OUT=${2:-benchmarks/results/gpu.json}
WORK=${GPU_BENCH_WORK:-runs/gpu_bench}
TRAIN_LIMIT=${TRAIN_LIMIT:-330}   # seconds for the parallel training block
export YOLO_OFFLINE=${YOLO_OFFLINE:-1} LEUKOSCAN_OFFLINE=${LEUKOSCAN_OFFLINE:-1} WANDB_MODE=disabled
export LEUKOSCAN_DATA="$DATA_ROOT"

python - <<'EOF' || { echo "gpu.sh: no CUDA GPU visible to torch; nothing run" >&2; exit 3; }
import sys, torch
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
rm -rf "$WORK" && mkdir -p "$WORK"
T0=$(date +%s)

# stage NAME LIMIT CMD...: run CMD under a time limit, log to $WORK/NAME.log, one line in stages.jsonl
stage() {
  local name=$1 limit=$2; shift 2
  local start=$(date +%s)
  timeout --signal=INT --kill-after=30 "$limit" "$@" >"$WORK/$name.log" 2>&1
  local rc=$?
  printf '{"stage": "%s", "rc": %d, "timed_out": %s, "seconds": %d}\n' "$name" "$rc" \
    "$([ $rc -eq 124 ] || [ $rc -eq 130 ] && echo true || echo false)" "$(( $(date +%s) - start ))" >>"$WORK/stages.jsonl"
}

# 0. canonical datasets (CPU; cached under runs/data)
stage prepare_bccd 120 leukoscan prepare-data bccd --data-root "$DATA_ROOT"
stage prepare_all_idb1 120 leukoscan prepare-data all_idb1 --data-root "$DATA_ROOT"
stage prepare_all_idb2 120 leukoscan prepare-data all_idb2 --data-root "$DATA_ROOT"

# 1-4 in parallel on the one GPU (16 CPU cores: 4 dataloader workers each)
stage yolo_bccd "$TRAIN_LIMIT" leukoscan train-detector --data bccd --epochs 100 --imgsz 640 --batch 32 \
  --device 0 --name yolo_bccd "project=$WORK/detect" workers=4 val=false &
stage frcnn_bccd "$TRAIN_LIMIT" leukoscan train-detector --config configs/detect_bccd_frcnn_mobilenet.yaml \
  --epochs 40 --batch 8 --device 0 --name frcnn_bccd "project=$WORK/detect" workers=4 val=false &
stage yolo_allidb1 "$TRAIN_LIMIT" leukoscan train-detector --config configs/detect_allidb1_yolov8n.yaml \
  --device 0 --name yolo_allidb1 "project=$WORK/detect" workers=4 val=false &
stage cnn_allidb2 "$TRAIN_LIMIT" leukoscan train-classifier --model cnn --data all_idb2 --folds 0 --epochs 20 \
  --scratch --device 0 --name cnn "project=$WORK/classify" &
wait

# a training stopped by its time limit has no metrics.json: score its best/last weights the same way
for pair in yolo_bccd:bccd frcnn_bccd:bccd yolo_allidb1:all_idb1; do
  run=${pair%%:*} data=${pair##*:}
  if [ ! -f "$WORK/detect/$run/metrics.json" ] && [ -d "$WORK/detect/$run/weights" ]; then
    stage "score_$run" 60 leukoscan evaluate-detector --weights "$WORK/detect/$run" --data "$data" --split val \
      --device 0 --out "$WORK/detect/$run/metrics.json"
  fi
done

# 5. throughput (alone on the GPU)
stage throughput 150 python benchmarks/gpu_throughput.py --detector "$WORK/detect/yolo_bccd" \
  --classifier "$WORK/classify/cnn" --data-root "$DATA_ROOT" --device cuda:0 --seconds 6 \
  --out "$WORK/throughput.json"

python - "$WORK" "$OUT" "$T0" <<'EOF'
import json, subprocess, sys, time
from pathlib import Path

work, out, t0 = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
def load(p):
    return json.loads(p.read_text()) if p.is_file() else None
keep = ("map50", "map50_95", "recall50", "epochs", "seconds_per_epoch", "train_seconds_this_session", "imgsz",
        "batch", "pretrained", "tile_size", "per_class")
res = {"gpu": subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip(),
       "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
       "total_seconds": int(time.time()) - t0,
       "stages": [json.loads(l) for l in (work / "stages.jsonl").read_text().splitlines()]}
for run in ("yolo_bccd", "frcnn_bccd", "yolo_allidb1"):
    m = load(work / "detect" / run / "metrics.json")
    res[run] = {k: m[k] for k in keep if k in m} if m else {"error": f"no metrics.json (see {run}.log)"}
res["throughput"] = load(work / "throughput.json")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(res, indent=2) + "\n")
print(json.dumps({k: res[k] for k in ("gpu", "total_seconds")}), "->", out)
EOF

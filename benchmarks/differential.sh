#!/usr/bin/env bash
# The differential (issue 24): the type stage measured per domain. One thread, CPU.
#   bash benchmarks/differential.sh [DATA_ROOT]        (default ../shared/data)
# (a) PBC held-out test split (stratified, seeded; no patient grouping is possible);
# (b) BCCD val full fields: the annotated WBC boxes typed through the pipeline's type crop
#     (--gt-boxes: no trained BCCD detector is used), recipes PBC only / PBC + BCCD train / BCCD train;
# (c) ALL-IDB1 dev-val: the types given to annotated non-blast leukocytes (reported, not scored).
# MODEL/IMGSZ/EXTRA pick the type classifier (default: the recipe of configs/classify_types.yaml).
set -euo pipefail
D=${1:-../shared/data}
MODEL=${MODEL:-handcrafted+svm}
IMGSZ=${IMGSZ:-128}
TAG=${TAG:-hc_svm}
export OMP_NUM_THREADS=1 LEUKOSCAN_THREADS=1 YOLO_OFFLINE=1 WANDB_MODE=offline
# pbc_crops, bccd_types and all_idb1 are prepared under runs/data/ on first use
for recipe in pbc:pbc_crops pbc_bccd:pbc_crops+bccd_types bccd:bccd_types; do
  name=types_${TAG}_${recipe%%:*}
  leukoscan train-classifier --config configs/classify_types.yaml --data-root "$D" --model "$MODEL" \
    --imgsz "$IMGSZ" --data "${recipe#*:}" --name "$name" ${EXTRA:-}
  leukoscan evaluate-pipeline --data bccd --data-root "$D" --type-classifier "runs/classify/$name" --gt-boxes \
    --out "runs/classify/$name/bccd_val.json"
done
leukoscan evaluate-pipeline --data all_idb1 --data-root "$D" --type-classifier "runs/classify/types_${TAG}_pbc_bccd" \
  --gt-boxes --out "runs/classify/types_${TAG}_pbc_bccd/allidb1_val_shares.json"

#!/usr/bin/env bash
# Full Chinese MRC runs with the bundled MiniLM on one GPU (bf16), about 5 minutes in all:
# CMRC 2018 (train -> dev), DRCD (train/dev carved by article from DRCD_dev.json: the shared copy
# has no DRCD training file), C3 (C3-M + C3-D, train -> dev) and DRCD context selection (same carve).
#
#   benchmarks/gpu_mrc.sh OUT_DIR [DATA_DIR]     # DATA_DIR default: ../shared/data beside the repo
#
# Writes OUT_DIR/<run>/ (metrics.json, curves.png, predictions, data_summary.json, train.log),
# OUT_DIR/timings.tsv and OUT_DIR/metrics.json (every run's metrics + seconds). Checkpoints are deleted
# after each run to keep OUT_DIR small (KEEP_CKPT=1 keeps them).
set -euo pipefail
OUT=${1:?usage: benchmarks/gpu_mrc.sh OUT_DIR [DATA_DIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${2:-$ROOT/../shared/data}
PY=${PYTHON:-python}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RELX_CACHE_DIR="$OUT/cache"
COMMON=(encoder=minilm trainer=gpu trainer.devices=1 trainer.enable_progress_bar=false trainer.log_every_n_steps=20
        trainer.early_stopping_patience=0 data.num_workers=2 data.pad_to_multiple_of=8)
DRCD_CARVE=(data_dir="$DATA/drcd" task.datamodule.files.train=DRCD_dev.json task.datamodule.files.validation=null
            task.datamodule.files.test=null data.dev_fraction=0.2)
printf 'run\tseconds\texit\n' > "$OUT/timings.tsv"

run() {
  local name=$1; shift
  local start=$SECONDS status=0
  "$PY" -m relx.train "$@" "${COMMON[@]}" hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1 || status=$?
  printf '%s\t%s\t%s\n' "$name" $((SECONDS - start)) "$status" >> "$OUT/timings.tsv"
  [ "${KEEP_CKPT:-0}" = 1 ] || rm -rf "$OUT/$name/checkpoints"
  tail -n 6 "$OUT/$name.log"
}

# Span QA: windows of 384 tokens overlapping by 128; EM/F1 by the CMRC 2018 script every quarter epoch.
run cmrc2018 task=cmrc2018 head=span_qa data_dir="$DATA/cmrc2018" data.max_length=384 data.doc_stride=128 \
  data.batch_size=32 data.eval_batch_size=64 trainer.max_epochs=2 trainer.val_check_interval=0.25 \
  optim.encoder_lr=1e-4
run drcd task=drcd head=span_qa "${DRCD_CARVE[@]}" data.max_length=384 data.doc_stride=128 \
  data.batch_size=32 data.eval_batch_size=64 trainer.max_epochs=3 trainer.val_check_interval=0.5 \
  optim.encoder_lr=1e-4
# Multiple choice: C3 passages truncated to 256 tokens; selection over 4 paragraphs of 384 tokens.
run c3 task=c3 head=choice data_dir="$DATA/c3" data.max_length=256 data.batch_size=16 data.eval_batch_size=32 \
  trainer.max_epochs=2 trainer.val_check_interval=0.5
run drcd_select task=drcd_select head=choice "${DRCD_CARVE[@]}" data.max_length=384 data.batch_size=8 \
  data.eval_batch_size=16 trainer.max_epochs=1 trainer.val_check_interval=0.5

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
seconds = {r.split("\t")[0]: float(r.split("\t")[1]) for r in (out / "timings.tsv").read_text().splitlines()[1:]}
runs = {}
for name in ("cmrc2018", "drcd", "c3", "drcd_select"):
    path = out / name / "metrics.json"
    runs[name] = {"metrics": json.loads(path.read_text()) if path.is_file() else None, "seconds": seconds.get(name)}
(out / "metrics.json").write_text(json.dumps(runs, indent=2) + "\n")
print(json.dumps(runs, indent=2))
PYEOF

#!/usr/bin/env bash
# Full Chinese MRC runs with the bundled MiniLM on one GPU (bf16), about 5 minutes in all:
# CMRC 2018 (train -> dev), DRCD (train/dev carved by article from DRCD_dev.json: the shared copy
# has no DRCD training file), C3 (C3-M + C3-D, train -> dev) and DRCD context selection (same carve).
#
#   benchmarks/gpu_mrc.sh OUT_DIR [DATA_DIR]     # DATA_DIR default: ../shared/data beside the repo
#
# Then the two-stage pipeline (selection -> span) over the carved DRCD dev articles.
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
# Smoke test on CPU: ENCODER=tiny TRAINER=cpu ACCELERATOR=cpu EXTRA="trainer.max_steps=2" benchmarks/gpu_mrc.sh OUT DATA
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
COMMON=(encoder="${ENCODER:-minilm}" trainer="${TRAINER:-gpu}" trainer.devices=1 trainer.enable_progress_bar=false trainer.log_every_n_steps=20
        trainer.early_stopping_patience=0 data.num_workers=2 data.pad_to_multiple_of=8 "${EXTRA_ARGS[@]}")
DRCD_CARVE=(data_dir="$DATA/drcd" task.files.train=DRCD_dev.json task.files.validation=null
            task.files.test=null data.dev_fraction=0.2)
printf 'run\tseconds\texit\n' > "$OUT/timings.tsv"

run() {
  local name=$1; shift
  local start=$SECONDS status=0
  "$PY" -m relx.train "$@" "${COMMON[@]}" hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1 || status=$?
  printf '%s\t%s\t%s\n' "$name" $((SECONDS - start)) "$status" >> "$OUT/timings.tsv"
  [ "${KEEP_CKPT:-0}" = 1 ] || [ "$name" = drcd ] || [ "$name" = drcd_select ] || rm -rf "$OUT/$name/checkpoints"
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
# The two-stage pipeline on the carved DRCD dev articles: select among all paragraphs of the article,
# then extract the answer; EM/F1 of the whole system into pipeline/answers.metrics.json.
mkdir -p "$OUT/pipeline"
"$PY" - "$DATA/drcd/DRCD_dev.json" "$OUT/pipeline/drcd_dev_carved.json" <<'PYEOF' || true
import json, sys
from relx.data.mrc import carve_by_article, read_squad
examples, _ = read_squad(sys.argv[1])
_, dev = carve_by_article(examples, 0.2, 42)  # the runs' data.dev_fraction and seed
held = {ex.article for ex in dev}
data = json.load(open(sys.argv[1], encoding="utf-8"))
data["data"] = [a for i, a in enumerate(data["data"]) if str(a.get("id") or a.get("title") or i) in held]
json.dump(data, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PYEOF
start=$SECONDS; status=0
"$PY" -m relx.predict ckpt_path="$OUT/drcd/checkpoints/best.ckpt" select_ckpt_path="$OUT/drcd_select/checkpoints/best.ckpt" \
  input="$OUT/pipeline/drcd_dev_carved.json" output="$OUT/pipeline/answers" accelerator="${ACCELERATOR:-gpu}" batch_size=64 \
  > "$OUT/pipeline.log" 2>&1 || status=$?
printf 'pipeline\t%s\t%s\n' $((SECONDS - start)) "$status" >> "$OUT/timings.tsv"
tail -n 2 "$OUT/pipeline.log"
[ "${KEEP_CKPT:-0}" = 1 ] || rm -rf "$OUT/drcd/checkpoints" "$OUT/drcd_select/checkpoints"

# Optional (SCRATCH=1, about one more minute): the same CMRC 2018 run from random weights (seed 003's Q4).
if [ "${SCRATCH:-0}" = 1 ]; then
  run cmrc2018_scratch task=cmrc2018 head=span_qa data_dir="$DATA/cmrc2018" encoder.pretrained=false \
    data.max_length=384 data.doc_stride=128 data.batch_size=32 data.eval_batch_size=64 trainer.max_epochs=2 \
    trainer.val_check_interval=0.25 optim.encoder_lr=1e-4
fi

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
seconds = {r.split("\t")[0]: float(r.split("\t")[1]) for r in (out / "timings.tsv").read_text().splitlines()[1:]}
runs = {}
for name in ("cmrc2018", "drcd", "c3", "drcd_select", "cmrc2018_scratch"):
    path = out / name / "metrics.json"
    if name not in seconds:
        continue
    runs[name] = {"metrics": json.loads(path.read_text()) if path.is_file() else None, "seconds": seconds.get(name)}
scores = out / "pipeline" / "answers.metrics.json"
runs["pipeline_drcd_carved_dev"] = {
    "metrics": json.loads(scores.read_text()) if scores.is_file() else None, "seconds": seconds.get("pipeline"),
}
(out / "metrics.json").write_text(json.dumps(runs, indent=2) + "\n")
print(json.dumps(runs, indent=2))
PYEOF

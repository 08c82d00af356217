#!/usr/bin/env bash
# The Chinese half of the encoder-adaptation table (README "Adapting the encoder"), prepared for one GPU:
# each Chinese MRC task fine-tuned from the bundled English MiniLM three ways at one budget,
#   (a) the tokenizer as it is, (b) encoder.extend_vocab=task, (c) (b) + continued MLM on the task's text first,
# with the three runs of a task trained at the same time on the GPU (so they share its contention equally),
# each stopped by the same trainer.max_time. The MLM runs come first, in parallel.
#
#   benchmarks/gpu_adaptation.sh OUT_DIR [DATA_DIR]       # ~12 min on an H200; BUDGET=00:00:01:00 per run
#
# Writes OUT_DIR/<run>/ (metrics.json, data_summary.json with the [UNK] rates, dev predictions, train.log),
# OUT_DIR/timings.tsv and OUT_DIR/metrics.json: every run's metrics, and each task's three runs tested pairwise
# on the same dev questions (relx.report --compare's paired bootstrap and randomisation test, 10,000 resamples).
# Checkpoints are deleted after each run (KEEP_CKPT=1 keeps them).
# Smoke test on CPU: ENCODER=tiny TRAINER=cpu BUDGET=00:00:00:20 EXTRA="trainer.max_steps=2" benchmarks/gpu_adaptation.sh OUT
set -euo pipefail
OUT=${1:?usage: benchmarks/gpu_adaptation.sh OUT_DIR [DATA_DIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${2:-$ROOT/../shared/data}
PY=${PYTHON:-python}
BUDGET=${BUDGET:-00:00:01:00}
MLM_BUDGET=${MLM_BUDGET:-00:00:02:00}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RELX_CACHE_DIR="$OUT/cache"
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
COMMON=(encoder="${ENCODER:-minilm}" trainer="${TRAINER:-gpu}" trainer.devices=1 trainer.enable_progress_bar=false
        trainer.early_stopping_patience=0 data.num_workers=2 "${EXTRA_ARGS[@]}")
DRCD_CARVE=(data_dir="$DATA/drcd" task.files.train=DRCD_dev.json task.files.validation=null
            task.files.test=null data.dev_fraction=0.2)
declare -A TASK_ARGS=(
  [cmrc2018]="task=cmrc2018 head=span_qa data_dir=$DATA/cmrc2018 data.max_length=384 data.doc_stride=128 data.batch_size=32 data.eval_batch_size=64 optim.encoder_lr=1e-4 trainer.max_epochs=3"
  [drcd]="task=drcd head=span_qa ${DRCD_CARVE[*]} data.max_length=384 data.doc_stride=128 data.batch_size=32 data.eval_batch_size=64 optim.encoder_lr=1e-4 trainer.max_epochs=5"
  [c3]="task=c3 head=choice data_dir=$DATA/c3 data.max_length=256 data.batch_size=16 data.eval_batch_size=32 trainer.max_epochs=3"
  [drcd_select]="task=drcd_select head=choice ${DRCD_CARVE[*]} data.max_length=384 data.batch_size=8 data.eval_batch_size=16 trainer.max_epochs=2"
)
# the text each task's MLM run reads (drcd_select reads DRCD's articles, as drcd does)
declare -A MLM_OF=([cmrc2018]=cmrc2018 [drcd]=drcd [c3]=c3 [drcd_select]=drcd)
# mlm.source=TASK reads a task's own files; the shared DRCD copy has only DRCD_dev.json, so the MLM run reads
# the carved training articles' contexts and questions as raw text (one passage a line), written below
declare -A MLM_DATA=(
  [cmrc2018]="mlm.source=cmrc2018 data_dir=$DATA/cmrc2018"
  [drcd]="data_dir=$OUT/drcd_text"
  [c3]="mlm.source=c3 data_dir=$DATA/c3"
)
[ -f "$OUT/timings.tsv" ] || printf 'run\tseconds\texit\n' > "$OUT/timings.tsv"

run() {  # run NAME OVERRIDES...: one relx.train, its time and exit status in timings.tsv
  local name=$1; shift
  local start=$SECONDS status=0
  [ -f "$OUT/$name/metrics.json" ] && return 0
  "$PY" -m relx.train "$@" "${COMMON[@]}" hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1 || status=$?
  printf '%s\t%s\t%s\n' "$name" $((SECONDS - start)) "$status" >> "$OUT/timings.tsv"
  [ "${KEEP_CKPT:-0}" = 1 ] || rm -rf "$OUT/$name/checkpoints"
  tail -n 4 "$OUT/$name.log"
}

mkdir -p "$OUT/drcd_text"
"$PY" - "$DATA/drcd/DRCD_dev.json" "$OUT/drcd_text/train.txt" <<'PYEOF'
import sys
from relx.data.mrc import carve_by_article, read_squad
examples, _ = read_squad(sys.argv[1])
train, _ = carve_by_article(examples, 0.2, 42)  # the fine-tuning runs' data.dev_fraction and seed
texts = dict.fromkeys(" ".join(t.split()) for ex in train for t in (ex.context, ex.question))
open(sys.argv[2], "w", encoding="utf-8").write("".join(t + "\n" for t in texts if t))
PYEOF
# 1. continued MLM with the extended vocabulary on each text, in parallel; each writes <run>/encoder/
for text in cmrc2018 drcd c3; do
  # shellcheck disable=SC2086
  run "mlm_$text" task=mlm ${MLM_DATA[$text]} encoder.extend_vocab=task data.max_length=384 \
    data.batch_size=64 trainer.max_epochs=1 trainer.max_time="$MLM_BUDGET" write_predictions=false &
done
wait
# 2. per task, (a), (b) and (c) at the same time, each with the same time budget
for task in cmrc2018 drcd c3 drcd_select; do
  # shellcheck disable=SC2086
  run "${task}_as_is" ${TASK_ARGS[$task]} trainer.max_time="$BUDGET" &
  # shellcheck disable=SC2086
  run "${task}_extend" ${TASK_ARGS[$task]} encoder.extend_vocab=task trainer.max_time="$BUDGET" &
  # shellcheck disable=SC2086
  run "${task}_extend_mlm" ${TASK_ARGS[$task]} encoder.name="$OUT/mlm_${MLM_OF[$task]}/encoder" \
    trainer.max_time="$BUDGET" &
  wait
done

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = {}
for run in sorted(p for p in out.iterdir() if (p / "metrics.json").is_file()):
    summary = json.loads((run / "data_summary.json").read_text()) if (run / "data_summary.json").is_file() else {}
    extension = {k: v for k, v in (summary.get("vocab_extension") or {}).items() if k != "tokens"}
    runs[run.name] = {"metrics": json.loads((run / "metrics.json").read_text()), "vocab_extension": extension}
# each task's three runs tested pairwise on the same dev questions (relx.report --compare's test)
from relx.comparison import compare
paired = {}
for task in ("cmrc2018", "drcd", "c3", "drcd_select"):
    for a, b in (("as_is", "extend"), ("as_is", "extend_mlm"), ("extend", "extend_mlm")):
        dir_a, dir_b = out / f"{task}_{a}", out / f"{task}_{b}"
        if not ((dir_a / "metrics.json").is_file() and (dir_b / "metrics.json").is_file()):
            continue
        for metric in (("f1", "em") if task in ("cmrc2018", "drcd") else ("auto",)):
            c = compare(dir_a, dir_b, split="validation", resamples=10_000, metric=metric)
            paired[f"{task}_{b}_minus_{a}_{metric if metric != 'auto' else 'acc'}"] = {
                "a": 100 * c.score_a, "b": 100 * c.score_b, "diff": 100 * c.diff, "low": 100 * c.low,
                "high": 100 * c.high, "p": c.p_value, "questions": c.items,
            }
(out / "metrics.json").write_text(json.dumps({"runs": runs, "paired": paired}, indent=2, ensure_ascii=False) + "\n")
for name, r in runs.items():
    print(name, {k: round(v, 4) for k, v in r["metrics"].items()})
for name, t in paired.items():
    print(f"{name}: {t['diff']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}] p={t['p']:.4f}")
PYEOF
cat "$OUT/timings.tsv"

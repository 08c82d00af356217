#!/usr/bin/env bash
# Every GPU measurement of the speed issue, as one prepared run on one GPU (bf16), most important first, so
# that a run stopped by a time limit keeps what it finished. Each step writes its JSON (and the profile its
# text) into OUT_DIR as it ends; OUT_DIR/timings.tsv says how long each took and how it exited.
#
#   benchmarks/gpu_speed.sh OUT_DIR [PART]      # PART: a (default; ~8 min on an H200) or b (bert-base ~6 min)
#
# a: MIT Movie NER, SemEval relation and UD biaffine parsing, MiniLM: the Trainer default, grouped, grouped + torch_compile, relx
#    eager and relx compiled (bench_training.py; the headline ratio is relx's best over the best reference);
#    bert-base 512-token MFU, eager and compiled (bench_mfu.py); DocRE encoder alone vs ATLOP (bench_docre.py)
#    and the ATLOP profile (profile_docre.py); parsing heads on UD (bench_parsing_heads.py); CMRC span QA
#    (bench_qa.py).
# b: the NER and relation comparisons with a bert-base config.
# Device-time plan: part a first; part b only if the lent time allows.
# Smoke test on CPU: DEVICE=cpu PRECISION=fp32 STEPS=3 benchmarks/gpu_speed.sh /tmp/speed
set -uo pipefail
OUT=${1:?usage: benchmarks/gpu_speed.sh OUT_DIR [a|b]}
PART=${2:-a}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
STEPS=${STEPS:-100}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ON=(--device "$DEVICE" --precision "$PRECISION")
[ -f "$OUT/timings.tsv" ] || printf 'step\tseconds\texit\n' > "$OUT/timings.tsv"
cd "$ROOT"

step() {  # step NAME COMMAND...: run it, log its output to OUT/NAME.log, record its time and exit status
  local name=$1; shift
  local start=$SECONDS status=0
  echo "== $name: $*"
  "$@" > "$OUT/$name.log" 2>&1 || status=$?
  tail -n 4 "$OUT/$name.log"
  printf '%s\t%s\t%s\n' "$name" $((SECONDS - start)) "$status" >> "$OUT/timings.tsv"
}

if [ "$PART" = a ]; then
  step ner_minilm $PY benchmarks/bench_training.py --task ner --model-size minilm "${ON[@]}" --steps "$STEPS" \
    --output "$OUT/ner_${DEVICE}_minilm_${PRECISION}.json"
  step relation_minilm $PY benchmarks/bench_training.py --task relation --model-size minilm "${ON[@]}" --steps "$STEPS" \
    --output "$OUT/relation_${DEVICE}_minilm_${PRECISION}.json"
  step parsing_minilm $PY benchmarks/bench_training.py --task parsing --model-size minilm "${ON[@]}" --steps "$STEPS" \
    --output "$OUT/parsing_${DEVICE}_minilm_${PRECISION}.json"
  step mfu_bert_base $PY benchmarks/bench_mfu.py "${ON[@]}" --steps $((STEPS < 30 ? STEPS : 30)) \
    --output "$OUT/mfu_${DEVICE}_bert-base_${PRECISION}.json"
  step docre $PY benchmarks/bench_docre.py "${ON[@]}" --variants encoder_only atlop encoder_only_plain docre_baseline \
    --steps $((STEPS < 30 ? STEPS : 30)) --warmup-steps 5 --output "$OUT/docre_heads_${DEVICE}_${PRECISION}.json"
  step atlop_profile $PY benchmarks/profile_docre.py "${ON[@]}" --steps 5 --trace "$OUT/atlop_trace.json"
  step parsing_heads $PY benchmarks/bench_parsing_heads.py "${ON[@]}" --steps $((STEPS < 40 ? STEPS : 40)) \
    --output "$OUT/parsing_heads_${DEVICE}_${PRECISION}.json"
  step qa $PY benchmarks/bench_qa.py "${ON[@]}" --steps $((STEPS < 50 ? STEPS : 50)) --batch-size 32 \
    --output "$OUT/qa_${DEVICE}_minilm_${PRECISION}.json"
elif [ "$PART" = b ]; then
  step ner_bert_base $PY benchmarks/bench_training.py --task ner --model-size bert-base "${ON[@]}" --steps "$STEPS" \
    --output "$OUT/ner_${DEVICE}_bert-base_${PRECISION}.json"
  step relation_bert_base $PY benchmarks/bench_training.py --task relation --model-size bert-base "${ON[@]}" \
    --steps "$STEPS" --output "$OUT/relation_${DEVICE}_bert-base_${PRECISION}.json"
else
  echo "unknown part: $PART (a or b)" >&2
  exit 2
fi
cat "$OUT/timings.tsv"

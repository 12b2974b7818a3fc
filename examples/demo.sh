#!/usr/bin/env bash
# The README's demo (npm run demo, after the build): on a fresh clone, with no
# model downloaded, make a small Qwen2-Instruct-shaped checkpoint, complete the
# sample prompts with it in dynamic mode, export it, and run the export in
# static mode. The checkpoint's weights are random, so the answers are random
# text; what the demo shows is the pipeline, and that both modes agree.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=.oar-demo
MODEL=$DEMO/qwen2-tiny-instruct
DATA=examples/data/sample.jsonl
GENERATE=(--data_file "$DATA" --decode_strategy greedy_search --max_length 32 --batch_size 3)
mkdir -p "$DEMO"

echo "demo: 1/4 making a tiny Qwen2-Instruct checkpoint in $MODEL"
npx make-tiny-model --arch qwen2 --preset tiny --dtype f32 --instruct --output_path "$MODEL" --overwrite

echo "demo: 2/4 predictor, dynamic mode, on $DATA"
npx predictor --model_name_or_path "$MODEL" "${GENERATE[@]}" --output_file "$DEMO/output-dynamic.json"

echo "demo: 3/4 export-model to $DEMO/inference"
npx export-model --model_name_or_path "$MODEL" --output_path "$DEMO/inference" --overwrite

echo "demo: 4/4 predictor, static mode, on the exported directory"
npx predictor --mode static --model_name_or_path "$DEMO/inference" "${GENERATE[@]}" --output_file "$DEMO/output-static.json"

if cmp -s "$DEMO/output-dynamic.json" "$DEMO/output-static.json"; then
  echo "demo: dynamic and static mode wrote the same results ($DEMO/output-dynamic.json, $DEMO/output-static.json)"
else
  echo "demo: dynamic and static results differ; compare $DEMO/output-dynamic.json and $DEMO/output-static.json" >&2
  exit 1
fi

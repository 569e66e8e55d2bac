#!/usr/bin/env bash
# Run one of the seed's ladders against an OpenAI-compatible server and write the report.
#   PRESET=quick|run|heavy  ENGINE=sglang|vllm  BASE_URL  MODEL  [API_KEY]  [EXTRA_ARGS]
# Output: reports/<engine>_bench_<preset>-<UTC time>/ (report.html inside).
set -euo pipefail

PRESET="${PRESET:-quick}"
ENGINE="${ENGINE:-sglang}"
case "$ENGINE" in
  sglang) DEFAULT_URL="http://127.0.0.1:30000" ;;
  vllm) DEFAULT_URL="http://127.0.0.1:8000" ;;
  *) echo "ENGINE must be sglang or vllm, got '$ENGINE'" >&2; exit 2 ;;
esac
BASE_URL="${BASE_URL:-$DEFAULT_URL}"
MODEL="${MODEL:?set MODEL to the served model name}"

case "$PRESET" in
  quick) LADDER="1,2,4,8"; PER_STAGE=10; MAX_TOKENS=64; STREAM=(--stream) ;;
  run) LADDER="1,2,4,8,16,32,64"; PER_STAGE=60; MAX_TOKENS=128; STREAM=(--stream) ;;
  heavy) LADDER="8,16,32,64,96,128"; PER_STAGE=100; MAX_TOKENS=128; STREAM=(--stream) ;;
  *) echo "PRESET must be quick, run or heavy, got '$PRESET'" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="${OUTDIR:-$ROOT/reports/${ENGINE}_bench_${PRESET}-$(date -u +%Y%m%dT%H%M%SZ)}"
export OPENAI_API_KEY="${API_KEY:-${OPENAI_API_KEY:-}}"

# shellcheck disable=SC2086
llmbench run --base-url "$BASE_URL" --model "$MODEL" --endpoint chat.completions \
  --concurrency "$LADDER" --requests-per-stage "$PER_STAGE" --max-tokens "$MAX_TOKENS" \
  "${STREAM[@]}" --outdir "$OUTDIR" ${EXTRA_ARGS:-}
echo "report: $OUTDIR/report.html"

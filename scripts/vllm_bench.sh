#!/usr/bin/env bash
# vLLM ladders: PRESET=quick|run|heavy (default quick); BASE_URL, MODEL and API_KEY from the environment.
set -euo pipefail
ENGINE=vllm exec bash "$(dirname "${BASH_SOURCE[0]}")/llm_bench_preset.sh" "$@"

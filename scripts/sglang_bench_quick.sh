#!/usr/bin/env bash
# The seed's SGLang "quick" ladder; BASE_URL, MODEL and API_KEY come from the environment.
set -euo pipefail
PRESET=quick ENGINE=sglang exec bash "$(dirname "${BASH_SOURCE[0]}")/llm_bench_preset.sh" "$@"

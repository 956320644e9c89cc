#!/usr/bin/env bash
# Precomputes the demo's default answers into the cache, so the first visitor gets a warm page.
# The Dockerfile runs this at build time; tests/test_deploy.py runs it outside Docker.
# Uses $DIMSCOPE_CACHE_DIR (default: ~/.cache/dimscope, see README). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
model="${DIMSCOPE_DEMO_MODEL:-sentence-transformers/all-MiniLM-L6-v2}"
corpus="${DIMSCOPE_DEMO_CORPUS:-chatterbot-english}"

python -m analysis stats --model "$model" --corpus "$corpus" --quiet --format csv > /dev/null
python -m analysis diagnose --model "$model" --format json > /dev/null
# "What can I drop?" opens on the built-in statement -> response pairs.
python -m analysis compress --model "$model" --corpus chatterbot-pairs --quiet --format json > /dev/null
# The check a visitor's request depends on: a cached answer must not load torch.
if python -X importtime -m analysis stats --model "$model" --corpus "$corpus" --quiet --format csv 2>&1 >/dev/null \
    | grep -E '\| +(torch|sentence_transformers)$' >/dev/null; then
  echo "prepare-demo: the cached request still imports torch" >&2
  exit 1
fi
echo "prepare-demo: cache warm for $model on $corpus in ${DIMSCOPE_CACHE_DIR:-the per-user cache}"

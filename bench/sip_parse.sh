#!/usr/bin/env bash
# SIP message-layer throughput on one core (pinned to CPU 0), release build.
# Usage: bench/sip_parse.sh [extra google-benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sip_parse_bench >/dev/null
exec taskset -c 0 build/release/bench/sip_parse_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"

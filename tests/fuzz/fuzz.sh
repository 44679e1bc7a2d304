#!/usr/bin/env bash
# Runs every fuzz target with libFuzzer for a while (default 120 s each), seeded from the committed
# corpus and the RFC 4475 torture messages. New interesting inputs are merged into the committed
# corpus; crashes are written to tests/fuzz/crashes/ — after fixing, move them into the corpus as
# regression inputs. Not part of CI (slow); run by hand: tests/fuzz/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-120}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sip_message_fuzz sip_uri_fuzz sip_framer_fuzz sdp_fuzz)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}"
mkdir -p tests/fuzz/crashes
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  corpus=tests/fuzz/corpus/$name
  work=$(mktemp -d)
  seeds=("$corpus")
  [ "$name" = sip_message ] && seeds+=(../shared/testdata/rfc4475)
  echo "== $t for ${seconds}s"
  build/fuzz/tests/fuzz/targets/$t "$work" "${seeds[@]}" -max_total_time="$seconds" \
    -max_len=8192 -artifact_prefix=tests/fuzz/crashes/$name- -print_final_stats=1 2>&1 | tail -n 12 || true
  # Keep the corpus small: merge only inputs that add coverage.
  build/fuzz/tests/fuzz/targets/$t -merge=1 "$corpus" "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
done
ls tests/fuzz/crashes

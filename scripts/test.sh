#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the "ci" preset (ASan + UBSan, -Werror) with Ninja,
# and runs CTest (labels: unit, conformance, fuzz-replay, netns). Extra arguments go to ctest,
# e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
if [ ! -d ../shared/testdata/rfc4475 ]; then
  echo "test: ../shared/testdata/rfc4475 not found next to the checkout; conformance tests need it" >&2
  exit 1
fi
# catch_discover_tests splits test names on ';' and then silently runs nothing for them.
if grep -rnE 'TEST_CASE\(\s*"[^"]*;' tests; then
  echo "test: the TEST_CASE names above contain ';' (CTest would skip them); use ',' instead" >&2
  exit 1
fi
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci -j2 "$@"

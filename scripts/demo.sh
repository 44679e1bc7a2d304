#!/usr/bin/env bash
# The demo: builds Portcullis (release) and runs portcullis-sipcheck on the RFC 4475 torture
# messages, printing each verdict beside the RFC's. (This grows into the NAT lab demo.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target portcullis-sipcheck >/dev/null
torture=../shared/testdata/rfc4475
if [ ! -f "$torture/expectations.tsv" ]; then
  echo "demo: $torture not found (the shared test data must sit next to the checkout)" >&2
  exit 1
fi
sipcheck=build/release/controller/app/sipcheck/portcullis-sipcheck

echo "portcullis-sipcheck on the RFC 4475 torture suite ($torture)"
echo
printf '%-16s %-34s %s\n' "FILE" "RFC 4475 VERDICT" "PORTCULLIS"
tail -n +2 "$torture/expectations.tsv" | while IFS=$'\t' read -r file _section _title verdict _rest; do
  line=$("$sipcheck" "$torture/$file" | cut -f2-)
  printf '%-16s %-34s %s\n' "$file" "$verdict" "${line//$'\t'/ }"
done

#!/usr/bin/env bash
# The demo: builds Portcullis (release) and runs the NAT lab (deploy/lab/lab.sh demo): phones in
# network namespaces call across a real NAT — office phone A behind the router that runs
# portcullis-agent, phone B on the Internet, home worker C behind a second NAT — while the
# controller opens exactly the holes each call needs and closes them at hang-up. Then, briefly,
# portcullis-sipcheck on a few RFC 4475 torture messages (when the shared test data is present).
#
# Needs root (network namespaces, nftables); re-runs itself with sudo otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E bash "$0" "$@"
fi

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target portcullis-controller portcullis-agent portcullisctl portcullis-sipcheck \
  >/dev/null

echo "================ Part 1: the NAT lab (deploy/lab/lab.sh demo) ================"
bash deploy/lab/lab.sh demo build/release

echo
echo "================ Part 2: portcullis-sipcheck on RFC 4475 torture messages ================"
torture=../shared/testdata/rfc4475
if [ ! -f "$torture/expectations.tsv" ]; then
  echo "demo: $torture not found (the shared test data sits next to the checkout); skipped"
  exit 0
fi
sipcheck=build/release/controller/app/sipcheck/portcullis-sipcheck
printf '%-16s %-34s %s\n' "FILE" "RFC 4475 VERDICT" "PORTCULLIS"
sed -n '2,13p' "$torture/expectations.tsv" | while IFS=$'\t' read -r file _section _title verdict _rest; do
  line=$("$sipcheck" "$torture/$file" | cut -f2-)
  printf '%-16s %-34s %s\n' "$file" "$verdict" "${line//$'\t'/ }"
done
echo "(first 12 of $(($(wc -l <"$torture/expectations.tsv") - 1)); all of them: $sipcheck $torture/*.dat)"

#!/usr/bin/env bash
# End-to-end test of the portcullis-sipcheck command line: runs it on every torture file and
# checks the output format, the JSON mode and the exit codes.
set -u
tool=$1
dir=$2
fail=0
expect() { # description condition...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

out=$("$tool" "$dir"/*.dat); rc=$?
expect "exit 0 on the torture suite" test "$rc" -eq 0
expect "one line per file" test "$(printf '%s\n' "$out" | wc -l)" -eq "$(ls "$dir"/*.dat | wc -l)"
bad=$(printf '%s\n' "$out" | grep -Ev $'^[^\t]+\t(valid|invalid\t[0-9]{3}\t.+|invalid\tdrop\t.+)$' || true)
expect "every line is well-formed" test -z "$bad"
expect "badvers.dat answered with 505" grep -q $'badvers.dat\tinvalid\t505\t' <<<"$out"
expect "bigcode.dat dropped" grep -q $'bigcode.dat\tinvalid\tdrop\t' <<<"$out"
expect "wsinv.dat valid" grep -q $'wsinv.dat\tvalid$' <<<"$out"

json=$("$tool" --json "$dir/badvers.dat" "$dir/wsinv.dat")
expect "json for a rejection" grep -q '"verdict":"invalid","status":505' <<<"$json"
expect "json for a valid message" grep -q '"file":".*wsinv.dat","verdict":"valid"}' <<<"$json"

"$tool" >/dev/null 2>&1; rc=$?
expect "no file is a usage error (2)" test "$rc" -eq 2
"$tool" --bogus "$dir/wsinv.dat" >/dev/null 2>&1; rc=$?
expect "unknown option is a usage error (2)" test "$rc" -eq 2
"$tool" "$dir/does-not-exist.dat" >/dev/null 2>&1; rc=$?
expect "unreadable file is a usage error (2)" test "$rc" -eq 2

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
head -c 200000 /dev/urandom >"$tmp/big.dat"
: >"$tmp/empty.dat"
printf 'INVITE sip:a@b SIP/2.0\r\n' >"$tmp/trunc.dat"
out=$("$tool" "$tmp/big.dat" "$tmp/empty.dat" "$tmp/trunc.dat"); rc=$?
expect "oversized, empty and truncated inputs checked with exit 0" test "$rc" -eq 0
expect "oversized input rejected" grep -q $'big.dat\tinvalid\t' <<<"$out"
expect "empty input rejected" grep -q $'empty.dat\tinvalid\t' <<<"$out"
exit $fail

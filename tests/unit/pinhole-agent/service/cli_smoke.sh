#!/usr/bin/env bash
# Smoke test: portcullis-agent (fake backend, insecure lab, port 0) driven by portcullisctl.
# usage: cli_smoke.sh PATH/portcullis-agent PATH/portcullisctl
set -euo pipefail
agent_bin=$1
ctl_bin=$2
dir=$(mktemp -d)
agent_pid=
cleanup() {
  if [[ -n "$agent_pid" ]]; then kill -TERM "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- agent log" >&2; cat "$dir/agent.log" >&2; exit 1; }

cat > "$dir/agent.yaml" <<YAML
agent:
  id: edge-smoke
  listen: 127.0.0.1:0
backend:
  type: fake
pools:
  - public_address: 203.0.113.10
    ports: {first: 40000, last: 40003}
tls:
  insecure_lab: true
YAML

# Bad config: exit 2 with file:line: key.
printf 'agent:\n  id: x\nbackend:\n  type: fake\npools:\n  - public_address: 203.0.113.10\n    ports: {first: 80, last: 90}\n' > "$dir/bad.yaml"
set +e
"$agent_bin" --config "$dir/bad.yaml" --check-config 2> "$dir/bad.err"; rc=$?
set -e
[[ $rc == 2 ]] || fail "bad config exit $rc"
grep -q "bad.yaml:7: pools\[0\].ports.first: must be 1024..65535" "$dir/bad.err" || fail "bad config message: $(cat "$dir/bad.err")"
"$agent_bin" --config "$dir/agent.yaml" --check-config > /dev/null || fail "check-config"

"$agent_bin" --config "$dir/agent.yaml" > "$dir/agent.log" 2>&1 &
agent_pid=$!
port=
for _ in $(seq 50); do
  port=$(grep -o 'port [0-9]*' "$dir/agent.log" | head -1 | cut -d' ' -f2 || true)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || fail "agent did not start"
grep -q "INSECURE LAB MODE" "$dir/agent.log" || fail "no insecure warning"

ctl() { "$ctl_bin" --agent "127.0.0.1:$port" --insecure --owner sbc/1 --token 3 "$@"; }

out=$(ctl --json reserve --private 10.0.0.5:4000 --ports 2 --lifetime 600 --group call-1)
echo "$out" | grep -q '"public":"203.0.113.10:40000"' || fail "reserve: $out"
id=$(echo "$out" | sed -n 's/.*"binding_id":"\([0-9]*\)".*/\1/p')
out=$(ctl --json enable "$id" --remote 198.51.100.7:30000)
echo "$out" | grep -q '"state":"ENABLED"' || fail "enable: $out"
out=$(ctl list)
echo "$out" | grep -q "198.51.100.7:30000" || fail "list: $out"

set +e
ctl --token 1 release "$id" 2> "$dir/err"; rc=$?
set -e
[[ $rc == 1 ]] || fail "stale token exit $rc"
grep -q "FAILED_PRECONDITION reason=STALE_FENCING_TOKEN" "$dir/err" || fail "stale token: $(cat "$dir/err")"

set +e
ctl bogus 2> /dev/null; rc=$?
set -e
[[ $rc == 2 ]] || fail "usage exit $rc"

ctl drain > /dev/null
set +e
ctl reserve --private 10.0.0.6:4000 2> "$dir/err"; rc=$?
set -e
[[ $rc == 1 ]] && grep -q "UNAVAILABLE reason=DRAINING" "$dir/err" || fail "drain: $rc $(cat "$dir/err")"
ctl drain --off > /dev/null

out=$(ctl --json release --group call-1)
[[ "$out" == '{"existed":true,"released":1}' ]] || fail "release: $out"

kill -TERM "$agent_pid"
wait "$agent_pid" || fail "agent exit status $?"
agent_pid=
grep -q "stopped" "$dir/agent.log" || fail "no clean stop"
echo "cli smoke OK"

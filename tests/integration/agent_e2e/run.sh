#!/bin/bash
# End-to-end namespace test of the pinhole agent: the real portcullis-agent (nft backend, mTLS)
# programs a router namespace; portcullisctl and a controller client (agent_e2e_client) talk FCP
# to it from a controller namespace; python UDP senders/receivers in the host namespaces check
# what passes.
#
#   wan host (198.51.100.2/.3/.4) --veth-- router (wan0 198.51.100.1 | lan0 10.0.0.1 | ctl0 10.0.1.1)
#                                             |-- lan host (10.0.0.2)
#                                             `-- controller (10.0.1.2): portcullisctl, agent_e2e_client
#
# Certificates are generated at test time with the openssl CLI (never committed). Addresses and
# traffic stay inside the four namespaces this script creates (unique names, deleted on exit).
#
# Usage: run.sh <portcullis-agent> <portcullisctl> [<agent_e2e_client>]
# Exit 0 = pass, 1 = failure, 77 = skipped (not root, tools or namespaces unavailable).
set -u

AGENT=${1:?usage: run.sh <portcullis-agent> <portcullisctl> [<agent_e2e_client>]}
CTL=${2:?usage: run.sh <portcullis-agent> <portcullisctl> [<agent_e2e_client>]}
# Default: the client built next to the agent (same build tree).
CLIENT=${3:-$(dirname "$AGENT")/../../tests/integration/agent_e2e/agent_e2e_client}
HERE=$(cd "$(dirname "$0")" && pwd)
UDP="$HERE/netns_udp.py"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (network namespaces, nf_tables)"
  exit 77
fi
for tool in ip nft conntrack python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
for bin in "$AGENT" "$CTL" "$CLIENT"; do
  [ -x "$bin" ] || { echo "FAIL: $bin is not built (ninja portcullis-agent portcullisctl agent_e2e_client)"; exit 1; }
done

P="pce$$"
NS_WAN="${P}w"
NS_RTR="${P}r"
NS_LAN="${P}l"
NS_CTL="${P}c"
TABLE="portcullis"
TMP=$(mktemp -d)
BG=()           # background helpers (receivers, controller clients)
AGENT_PID=""
START=$(date +%s.%N)

cleanup() {
  [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
  for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for n in "$NS_WAN" "$NS_RTR" "$NS_LAN" "$NS_CTL"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

if ! ip netns add "$NS_WAN" 2>/dev/null; then
  echo "SKIP: cannot create network namespaces"
  exit 77
fi
for n in "$NS_RTR" "$NS_LAN" "$NS_CTL"; do
  ip netns add "$n" || { echo "SKIP: namespaces"; exit 77; }
done
for n in "$NS_WAN" "$NS_RTR" "$NS_LAN" "$NS_CTL"; do ip -n "$n" link set lo up; done
ip link add wan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_WAN"
ip link add lan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_LAN"
ip link add ctl0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_CTL"
for a in 198.51.100.2 198.51.100.3 198.51.100.4; do ip -n "$NS_WAN" addr add $a/24 dev eth0; done
ip -n "$NS_WAN" link set eth0 up
ip -n "$NS_LAN" addr add 10.0.0.2/24 dev eth0 && ip -n "$NS_LAN" link set eth0 up
ip -n "$NS_LAN" route add default via 10.0.0.1
ip -n "$NS_CTL" addr add 10.0.1.2/24 dev eth0 && ip -n "$NS_CTL" link set eth0 up
ip -n "$NS_RTR" addr add 198.51.100.1/24 dev wan0 && ip -n "$NS_RTR" link set wan0 up
ip -n "$NS_RTR" addr add 10.0.0.1/24 dev lan0 && ip -n "$NS_RTR" link set lan0 up
ip -n "$NS_RTR" addr add 10.0.1.1/24 dev ctl0 && ip -n "$NS_RTR" link set ctl0 up
ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1

FAILS=0
PASSES=0
STEP=0
elapsed() { python3 -c "import time; print('%5.1fs' % (time.time() - $START))"; }
step() { STEP=$((STEP + 1)); echo; echo "== [$(elapsed)] $STEP. $*"; }
note() { echo "     $*"; }
pass() { PASSES=$((PASSES + 1)); echo "  PASS $*"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL $*"; }
check() { # desc command...: PASS when the command succeeds
  local desc=$1; shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# ---- PKI (openssl CLI; everything in $TMP, deleted on exit) ----
PKI="$TMP/pki"
mkdir -p "$PKI"
ossl() { openssl "$@" >>"$PKI/openssl.log" 2>&1; }
make_ca() { # name
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt"
}
issue() { # ca name subject-alt-name extended-key-usage
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$PKI/$2.key" -out "$PKI/$2.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$PKI/$2.ext"
  ossl x509 -req -in "$PKI/$2.csr" -CA "$PKI/$1.crt" -CAkey "$PKI/$1.key" -CAcreateserial -days 1 \
    -extfile "$PKI/$2.ext" -out "$PKI/$2.crt"
}
make_ca ca
make_ca rogue-ca
issue ca agent "IP:10.0.1.1,DNS:edge-e2e" serverAuth
issue ca ops "URI:spiffe://e2e/ops" clientAuth           # operator: admin, every owner
issue ca ctl-a "URI:spiffe://e2e/ctl-a" clientAuth       # controller A: sbc-east/*
issue ca ctl-b "URI:spiffe://e2e/ctl-b" clientAuth       # controller B: same fleet sbc-east/*
issue ca ctl-west "URI:spiffe://e2e/ctl-west" clientAuth # another fleet: sbc-west/*
issue ca stranger "URI:spiffe://e2e/stranger" clientAuth # our CA, not in tls.identities
issue rogue-ca rogue "URI:spiffe://e2e/ops" clientAuth   # claims the operator identity, wrong CA
[ -s "$PKI/rogue.crt" ] && [ -s "$PKI/agent.crt" ] || { echo "FAIL: openssl"; cat "$PKI/openssl.log"; exit 1; }

# ---- agent ----
LISTEN=10.0.1.1:7443
write_config() { # file kernel_lease session_ttl orphan_grace
  cat >"$1" <<YAML
agent:
  id: edge-e2e
  listen: $LISTEN
  log_level: info
backend:
  type: nft
  table: $TABLE
  wan_interfaces: [wan0]
  lan_interfaces: [lan0]
  ipv6: false
pools:
  # Tiny on purpose: 8 ports, so the test can exhaust it.
  - public_address: 198.51.100.1
    ports: {first: 40000, last: 40007}
timers:
  session_ttl: $3
  heartbeat_interval: 1s
  kernel_lease: $2
  default_orphan_grace: $4
  max_orphan_grace: 60s
  rpc_timeout: 5s
  shutdown_grace: 1s
tls:
  cert: $PKI/agent.crt
  key: $PKI/agent.key
  client_ca: $PKI/ca.crt
  identities:
    - identity: spiffe://e2e/ops
      owners: ["*"]
      admin: true
    - identity: spiffe://e2e/ctl-a
      owners: ["sbc-east/*"]
    - identity: spiffe://e2e/ctl-b
      owners: ["sbc-east/*"]
    - identity: spiffe://e2e/ctl-west
      owners: ["sbc-west/*"]
YAML
}
CFG_LONG="$TMP/agent-long.yaml"    # kernel lease long enough to survive a restart
CFG_SHORT="$TMP/agent-short.yaml"  # 3 s kernel lease, 2 s orphan grace: the kill -9 test
write_config "$CFG_LONG" 60s 3s 30s
write_config "$CFG_SHORT" 3s 2s 2s

AGENT_RUNS=0
start_agent() { # config
  AGENT_RUNS=$((AGENT_RUNS + 1))
  local log="$TMP/agent.$AGENT_RUNS.log"
  ip netns exec "$NS_RTR" "$AGENT" --config "$1" >"$log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 1 100); do
    if grep -q "serving FCP" "$log"; then
      note "agent #$AGENT_RUNS pid $AGENT_PID: $(grep -o 'adopted table.*\|new state epoch.*' "$log" | head -1)"
      return 0
    fi
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: agent #$AGENT_RUNS did not start"
  sed 's/^/    | /' "$log"
  exit 1
}
stop_agent() { # signal
  kill "-$1" "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=""
}

# ---- clients (all from the controller namespace) ----
# ctl <identity> [portcullisctl args...]; output in $TMP/out, errors in $TMP/err.
ctl() {
  local who=$1; shift
  ip netns exec "$NS_CTL" "$CTL" --agent "$LISTEN" --ca "$PKI/ca.crt" --cert "$PKI/$who.crt" \
    --key "$PKI/$who.key" "$@" >"$TMP/out" 2>"$TMP/err"
}
client() { # <identity|-> [agent_e2e_client args...]  ("-": TLS without a client certificate)
  local who=$1; shift
  local id=()
  [ "$who" != "-" ] && id=(--cert "$PKI/$who.crt" --key "$PKI/$who.key")
  ip netns exec "$NS_CTL" "$CLIENT" --agent "$LISTEN" --ca "$PKI/ca.crt" "${id[@]}" "$@"
}
json_field() { # field  (from $TMP/out, first line)
  head -1 "$TMP/out" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}
err_is() { grep -qF -- "$1" "$TMP/err"; }
# Agent state as a controller sees it (expiry countdowns removed) plus the kernel element counts.
state() {
  ctl ops list --json
  sed 's/,"expires_in_s":[-0-9]*//' "$TMP/out" | sort
  ip netns exec "$NS_RTR" nft -j list table inet "$TABLE" >"$TMP/nft.json" 2>/dev/null
  python3 "$UDP" count "$TMP/nft.json"
}
nft_counts() {
  ip netns exec "$NS_RTR" nft -j list table inet "$TABLE" >"$TMP/nft.json" 2>/dev/null
  python3 "$UDP" count "$TMP/nft.json"
}
nft_set() { ip netns exec "$NS_RTR" nft list set inet "$TABLE" "$1" 2>/dev/null; }
ct_count() { ip netns exec "$NS_RTR" conntrack -L --mark "$1" 2>/dev/null | grep -c .; }

# ---- UDP: receivers for the whole run (one line per datagram), one-shot senders ----
listen() { # ns ip port
  ip netns exec "$1" python3 -u "$UDP" rx "$2" "$3" >"$TMP/rx_$2_$3" 2>/dev/null &
  BG+=($!)
}
send() { ip netns exec "$1" python3 "$UDP" tx "$2" "$3" "$4" "$5" "$6"; }  # ns src sport dst dport msg
expect_rx() { # ip port msg from desc
  for _ in $(seq 1 20); do
    if grep -qF "msg=$3 from=$4" "$TMP/rx_$1_$2" 2>/dev/null; then pass "$5 (seen from $4)"; return; fi
    sleep 0.1
  done
  fail "$5 (not received; got: $(grep -F "msg=$3 " "$TMP/rx_$1_$2" | tr '\n' ' '))"
}
expect_drop() { # ip port msg desc  (call after a common settle delay, see settle)
  if grep -qF "msg=$3 " "$TMP/rx_$1_$2" 2>/dev/null; then
    fail "$4 (received: $(grep -F "msg=$3 " "$TMP/rx_$1_$2" | tr '\n' ' '))"
  else
    pass "$4 (dropped)"
  fi
}
settle() { sleep 0.6; }

PUB=198.51.100.1
R1=198.51.100.2
R2=198.51.100.3
R3=198.51.100.4
PRIV=10.0.0.2
for port in 5000 5002 5004 5012 5014; do listen "$NS_LAN" "$PRIV" "$port"; done
for port in 7000 7002 7003 7004 7012 9999; do listen "$NS_WAN" "$R1" "$port"; done
listen "$NS_WAN" "$R2" 7002
sleep 0.5

step "start the agent in the router namespace (nft backend, mTLS, pool $PUB:40000-40007)"
start_agent "$CFG_LONG"
client ops info >"$TMP/info1" && INFO1=$(cat "$TMP/info1")
note "controller sees: $INFO1"
EPOCH1=$(sed -n 's/.*state_epoch=\([0-9a-f]*\).*/\1/p' "$TMP/info1")
# Every event of every owner, as an operator sees it (ends with the agent's first restart).
ip netns exec "$NS_CTL" "$CTL" --agent "$LISTEN" --ca "$PKI/ca.crt" --cert "$PKI/ops.crt" --key "$PKI/ops.key" \
  --json watch >"$TMP/events" 2>"$TMP/watch.err" &
BG+=($!)
expect_event() { # grep-pattern desc: PASS when a watched event line matches within 8 s
  for _ in $(seq 1 80); do
    if grep -q -- "$1" "$TMP/events" 2>/dev/null; then pass "$2: $(grep -- "$1" "$TMP/events" | head -1)"; return; fi
    sleep 0.1
  done
  fail "$2 (no event matching $1; got: $(tr '\n' ' ' <"$TMP/events"))"
}
INSTANCE1=$(sed -n 's/.*instance_id=\([0-9a-f]*\).*/\1/p' "$TMP/info1")
ctl ops caps --json
check "portcullisctl caps over mTLS: state_epoch $EPOCH1" grep -q '"agent_id":"edge-e2e"' "$TMP/out"
check "owned table created with policy-drop forward chain" \
  bash -c "ip netns exec $NS_RTR nft list chain inet $TABLE filter_fwd | grep -q 'policy drop'"

step "before a hole is enabled, WAN -> public port is dropped"
send "$NS_WAN" $R1 7009 $PUB 40000 T1-nobinding
ctl ctl-a --owner sbc-east/1 --token 5 --json reserve --private $PRIV:5000 --public-port 40000 --exact --group call-1
B1=$(json_field binding_id)
note "reserve -> $(head -1 "$TMP/out")"
check "reserve (controller A, sbc-east/1, token 5) -> binding $B1 at $PUB:40000, RESERVED" \
  grep -q "\"state\":\"RESERVED\".*\"public\":\"$PUB:40000\"" "$TMP/out"
note "kernel: $(nft_counts)"
send "$NS_WAN" $R1 7000 $PUB 40000 T2-reserved
settle
expect_drop $PRIV 5000 T1-nobinding "no binding: $R1:7009 -> $PUB:40000"
expect_drop $PRIV 5000 T2-reserved "reserved, not enabled: $R1:7000 -> $PUB:40000"

step "enable exact remotes $R1:7000 and $R2:7002: only they pass, both directions, EIM"
ctl ctl-a --owner sbc-east/1 --token 5 --json enable "$B1" --remote $R1:7000 --remote $R2:7002
check "enable -> ENABLED" grep -q '"state":"ENABLED"' "$TMP/out"
note "kernel: $(nft_counts)"
send "$NS_WAN" $R1 7000 $PUB 40000 T3-in
expect_rx $PRIV 5000 T3-in "$R1:7000" "allowed remote $R1:7000 -> $PUB:40000 delivered to $PRIV:5000"
send "$NS_WAN" $R2 7002 $PUB 40000 T3-in2
expect_rx $PRIV 5000 T3-in2 "$R2:7002" "allowed remote $R2:7002 -> $PUB:40000 delivered"
send "$NS_WAN" $R1 7001 $PUB 40000 T4-port
send "$NS_WAN" $R3 7000 $PUB 40000 T4-addr
send "$NS_WAN" $R2 7000 $PUB 40000 T4-mix
send "$NS_LAN" $PRIV 5000 $R1 9999 T6-nohole
send "$NS_LAN" $PRIV 5000 $R1 7000 T5-out
send "$NS_LAN" $PRIV 5000 $R2 7002 T5-out2
expect_rx $R1 7000 T5-out "$PUB:40000" "LAN $PRIV:5000 -> $R1:7000 leaves from the binding's public port"
expect_rx $R2 7002 T5-out2 "$PUB:40000" "LAN $PRIV:5000 -> $R2:7002 leaves from the same public port (endpoint-independent)"
settle
expect_drop $PRIV 5000 T4-port "other remote port $R1:7001"
expect_drop $PRIV 5000 T4-addr "other remote address $R3:7000"
expect_drop $PRIV 5000 T4-mix "allowed address with the other remote's port $R2:7000"
expect_drop $R1 9999 T6-nohole "LAN -> $R1:9999 (not a remote of the binding)"
n=$(ct_count "$B1")
check "conntrack flows carry the binding's mark $B1 ($n entries)" test "$n" -ge 1

step "latch: enable --latch $R1 on a second binding; the first packet fixes the remote port"
ctl ctl-a --owner sbc-east/1 --token 5 --json reserve --private $PRIV:5002 --group call-2
B2=$(json_field binding_id)
P2=$(json_field public | cut -d: -f2)
ctl ctl-a --owner sbc-east/1 --token 5 --json enable "$B2" --remote $R1 --latch
check "binding $B2 at $PUB:$P2 enabled with a latch" grep -q '"latch":true' "$TMP/out"
note "kernel: $(nft_counts)"
send "$NS_WAN" $R3 7003 $PUB "$P2" T7-notsignalled
send "$NS_WAN" $R1 7003 $PUB "$P2" T7-latch
expect_rx $PRIV 5002 T7-latch "$R1:7003" "first packet from the signalled address $R1:7003 latches and is delivered"
send "$NS_WAN" $R1 7005 $PUB "$P2" T7-second
send "$NS_LAN" $PRIV 5002 $R1 7003 T8-reply
expect_rx $R1 7003 T8-reply "$PUB:$P2" "reply $PRIV:5002 -> $R1:7003 leaves from $PUB:$P2"
settle
expect_drop $PRIV 5002 T7-notsignalled "other address $R3:7003 cannot latch"
expect_drop $PRIV 5002 T7-second "second source port $R1:7005 after the latch"
check "kernel learned pinhole $R1:7003 -> $PRIV:5002, latch element consumed" \
  bash -c "nft_out=\$(ip netns exec $NS_RTR nft list table inet $TABLE); echo \"\$nft_out\" | grep -q '$R1 . 7003 . $PRIV . 5002' && ! echo \"\$nft_out\" | sed -n '/set latch4/,/}/p' | grep -q elements"

expect_event "\"kind\":\"LATCHED\".*\"binding_id\":\"$B2\".*\"latched_remote\":\"$R1:7003\"" \
  "LATCHED event on the Session stream (from the conntrack NEW event of the latching flow)"
ctl ops --json get "$B2"
check "get $B2 shows the learned remote port 7003" grep -q '"latch":true,"latched_port":7003' "$TMP/out"

step "release binding $B1: the next packet of the established flow is dropped, conntrack flushed"
before=$(ct_count "$B1")
ctl ctl-a --owner sbc-east/1 --token 5 --json release "$B1"
check "release -> $(cat "$TMP/out")" grep -q '"existed":true' "$TMP/out"
after=$(ct_count "$B1")
check "conntrack entries with mark $B1: $before before, $after after" test "$after" -eq 0
check "no element of $PUB:40000 / $PRIV:5000 left in the table" \
  bash -c "! ip netns exec $NS_RTR nft list table inet $TABLE | grep -q '$PRIV . 5000'"
send "$NS_WAN" $R1 7000 $PUB 40000 T9-in-after
send "$NS_LAN" $PRIV 5000 $R1 7000 T9-out-after
settle
expect_drop $PRIV 5000 T9-in-after "next packet $R1:7000 -> $PUB:40000 of the released flow"
expect_drop $R1 7000 T9-out-after "next packet $PRIV:5000 -> $R1:7000 of the released flow"
ctl ctl-a --owner sbc-east/1 --token 5 --json release "$B2"
check "release of the latched binding $B2" grep -q '"existed":true' "$TMP/out"
send "$NS_LAN" $PRIV 5002 $R1 7003 T10-latched-after
settle
expect_drop $R1 7003 T10-latched-after "LAN -> latched remote after release (learned pinhole removed)"

step "fencing and identities: a stale controller, a foreign fleet, unknown and invalid clients"
ctl ctl-a --owner sbc-east/1 --token 5 --json reserve --private $PRIV:5004 --group call-3
B3=$(json_field binding_id)
P3=$(json_field public | cut -d: -f2)
ctl ctl-a --owner sbc-east/1 --token 5 --json enable "$B3" --remote $R1:7004
check "controller A (token 5) holds binding $B3 at $PUB:$P3" grep -q '"state":"ENABLED"' "$TMP/out"
state >"$TMP/state0"
ctl ctl-b --owner sbc-east/1 --token 3 release "$B3"
check "controller B, token 3 < 5: release -> $(cat "$TMP/err")" err_is "FAILED_PRECONDITION reason=STALE_FENCING_TOKEN"
ctl ctl-b --owner sbc-east/1 --token 3 enable "$B3" --remote $R1:7999
check "controller B, token 3: enable -> STALE_FENCING_TOKEN" err_is "FAILED_PRECONDITION reason=STALE_FENCING_TOKEN"
ctl ctl-west --owner sbc-east/1 --token 9 release "$B3"
check "identity ctl-west (sbc-west/*) for owner sbc-east/1 -> $(cat "$TMP/err")" err_is "PERMISSION_DENIED reason=REALM_DENIED"
ctl ctl-west --owner sbc-west/1 --token 9 release "$B3"
check "identity ctl-west, its own owner, binding of sbc-east/1 -> $(cat "$TMP/err")" err_is "PERMISSION_DENIED reason=NOT_OWNER"
ctl stranger --owner sbc-east/1 --token 9 list
check "certificate from our CA, identity not configured -> $(cat "$TMP/err")" err_is "PERMISSION_DENIED"
ctl rogue --owner sbc-east/1 --token 9 list
check "certificate from another CA -> $(cut -c1-60 "$TMP/err")" err_is "UNAVAILABLE"
client - probe >"$TMP/out"
check "TLS client without a certificate -> $(cut -c1-60 "$TMP/out")" grep -q "code=UNAVAILABLE" "$TMP/out"
ip netns exec "$NS_CTL" "$CTL" --agent "$LISTEN" --insecure caps >/dev/null 2>"$TMP/err"
check "plaintext client -> $(cut -c1-60 "$TMP/err")" err_is "UNAVAILABLE"
state >"$TMP/state1"
check "nothing changed (portcullisctl list --json and nft element counts identical)" cmp -s "$TMP/state0" "$TMP/state1"
send "$NS_WAN" $R1 7004 $PUB "$P3" T11-still
expect_rx $PRIV 5004 T11-still "$R1:7004" "binding $B3 still passes traffic"
ctl ctl-b --owner sbc-east/1 --token 6 --json enable "$B3" --remote $R1:7004
check "controller B with a higher token 6 takes over" grep -q '"fencing_token":6' "$TMP/out"
ctl ctl-a --owner sbc-east/1 --token 5 release "$B3"
check "controller A (token 5) is now the stale one" err_is "STALE_FENCING_TOKEN"

step "bad requests get the right code and change nothing"
ctl ctl-a --owner sbc-east/9 --token 1 --json reserve --private $PRIV:5006 --group bad
B4=$(json_field binding_id)
state >"$TMP/state0"
client ctl-a bad --owner sbc-east/9 --token 1 --binding "$B4" >"$TMP/bad"
expect_case() { # case code reason
  local line
  line=$(grep "^case=$1 " "$TMP/bad")
  if echo "$line" | grep -q "code=$2 reason=$3 "; then
    pass "$1 -> $2/$3"
  else
    fail "$1: want $2/$3, got: ${line:-nothing}"
  fi
}
expect_case reserve_ip_5_bytes INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_ip_empty INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_ip_unspecified INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_ip_multicast INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_port_0 INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_port_70000 INVALID_ARGUMENT BAD_TUPLE
expect_case reserve_lifetime_negative INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_lifetime_0 INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_lifetime_missing INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_deadline_past INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_orphan_grace_negative INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_port_count_3 INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_protocol_unspecified INVALID_ARGUMENT INVALID_FIELD
expect_case reserve_session_without_session FAILED_PRECONDITION NO_SESSION
expect_case enable_unknown_id NOT_FOUND UNKNOWN_BINDING
expect_case enable_garbage_id NOT_FOUND UNKNOWN_BINDING
expect_case enable_remote_port_0 INVALID_ARGUMENT BAD_TUPLE
expect_case enable_remote_wrong_family INVALID_ARGUMENT BAD_TUPLE
expect_case enable_remote_loopback INVALID_ARGUMENT BAD_TUPLE
expect_case enable_too_many_remotes FAILED_PRECONDITION EXCESSIVE_REMOTE_PEERS
expect_case renew_unknown_id NOT_FOUND UNKNOWN_BINDING
expect_case renew_lifetime_negative INVALID_ARGUMENT INVALID_FIELD
expect_case get_unknown_id NOT_FOUND UNKNOWN_BINDING
expect_case apply_good_then_bad INVALID_ARGUMENT BAD_TUPLE
expect_case release_unknown_id_idempotent OK -
ctl ctl-a --owner sbc-east/9 --token 1 reserve --private $PRIV:5006 --group bad
check "portcullisctl reserve of a private endpoint already bound -> $(cut -c1-70 "$TMP/err")" err_is "reason=ENDPOINT_IN_USE"
ctl ctl-a --owner sbc-east/9 --token 1 enable 4242 --remote $R1:7000
check "portcullisctl enable of an unknown id -> NOT_FOUND" err_is "NOT_FOUND reason=UNKNOWN_BINDING"
ctl ctl-a --owner sbc-east/9 --token 1 reserve --private $PRIV:5008 --public-port 80 --exact
check "portcullisctl reserve --public-port 80 --exact (outside the pool) -> $(cut -c1-70 "$TMP/err")" err_is "reason="
state >"$TMP/state1"
check "nothing changed (list --json and nft element counts identical)" cmp -s "$TMP/state0" "$TMP/state1"
[ "$FAILS" -eq 0 ] || diff "$TMP/state0" "$TMP/state1" | sed 's/^/    /'
# Exhaust the 8-port pool.
filled=0
for i in $(seq 0 8); do
  state >"$TMP/state0"
  if ctl ctl-a --owner sbc-east/9 --token 1 reserve --private $PRIV:$((5100 + i)) --group fill; then
    filled=$((filled + 1))
  else
    break
  fi
done
note "pool: $filled more bindings reserved, then: $(cat "$TMP/err")"
check "exhausted pool -> RESOURCE_EXHAUSTED/NO_PORTS" err_is "RESOURCE_EXHAUSTED reason=NO_PORTS"
state >"$TMP/state1"
check "the refused reserve changed nothing ($(tail -1 "$TMP/state1"))" cmp -s "$TMP/state0" "$TMP/state1"
ctl ctl-a --owner sbc-east/9 --token 1 --json release --group fill
check "release the fillers: $(cat "$TMP/out")" grep -q "\"released\":$filled" "$TMP/out"
ctl ctl-a --owner sbc-east/9 --token 1 --json release "$B4" >/dev/null

step "idle: --idle-timeout 2 closes the binding 2 s after conntrack expired its last flow"
# Short UDP conntrack timeouts in the router namespace only (restored below), so the flow ends
# within the test: the kernel destroys it 1 s after its last packet and reports DESTROY.
CT_UDP=$(ip netns exec "$NS_RTR" sysctl -n net.netfilter.nf_conntrack_udp_timeout)
CT_UDP_STREAM=$(ip netns exec "$NS_RTR" sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream)
ip netns exec "$NS_RTR" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1 net.netfilter.nf_conntrack_udp_timeout_stream=1
# A watch of this owner only, started now: the step does not depend on the long-running watch.
ip netns exec "$NS_CTL" "$CTL" --agent "$LISTEN" --ca "$PKI/ca.crt" --cert "$PKI/ops.crt" --key "$PKI/ops.key" \
  --owner sbc-east/4 --json watch >"$TMP/events_idle" 2>"$TMP/watch_idle.err" &
BG+=($!)
sleep 0.3
ctl ctl-a --owner sbc-east/4 --token 1 --json reserve --private $PRIV:5014 --lifetime 600 --idle-timeout 2 --group call-idle
B7=$(json_field binding_id)
P7=$(json_field public | cut -d: -f2)
ctl ctl-a --owner sbc-east/4 --token 1 --json enable "$B7" --remote $R3:7014
send "$NS_WAN" $R3 7014 $PUB "$P7" T15-idle
expect_rx $PRIV 5014 T15-idle "$R3:7014" "binding $B7 ($PUB:$P7, idle timeout 2 s) passes"
IDLE_START=$(date +%s.%N)
ctl ops --json get "$B7"
check "binding $B7 is not idle while its flow lives" grep -q '"state":"ENABLED"' "$TMP/out"
# The conntrack gc worker reaps expired entries on its own schedule (seconds when the global
# table is busy); a dump of the namespace's table also evicts expired entries, so poke it.
for _ in $(seq 1 60); do
  grep -q "\"kind\":\"IDLE\".*\"binding_id\":\"$B7\"" "$TMP/events_idle" && break
  ip netns exec "$NS_RTR" conntrack -L >/dev/null 2>&1
  sleep 0.2
done
IDLE_S=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $IDLE_START))")
if grep -q "\"kind\":\"IDLE\".*\"cause\":\"IDLE\".*\"binding_id\":\"$B7\"" "$TMP/events_idle"; then
  pass "IDLE event ${IDLE_S} s after the only packet (1 s conntrack timeout + 2 s idle timeout): $(head -1 "$TMP/events_idle")"
else
  fail "IDLE event for $B7 (events: $(tr '\n' ' ' <"$TMP/events_idle"); watch: $(tr '\n' ' ' <"$TMP/watch_idle.err"))"
fi
check "idle close took >= the idle timeout (${IDLE_S} s >= 2 s)" python3 -c "import sys; sys.exit(0 if $IDLE_S >= 2.0 else 1)"
ctl ops --json list
check "binding $B7 closed" bash -c "! grep -q '\"binding_id\":\"$B7\"' $TMP/out"
ip netns exec "$NS_RTR" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$CT_UDP" \
  net.netfilter.nf_conntrack_udp_timeout_stream="$CT_UDP_STREAM"

step "restart the agent while a flow runs: same state_epoch, new instance_id, orphans adopted"
client ctl-a hold --owner sbc-east/2 --token 1 --private $PRIV:5010 --remote $R1:7010 >"$TMP/hold1" &
HOLD1=$!
BG+=($HOLD1)
for _ in $(seq 1 50); do grep -q "^binding=" "$TMP/hold1" && break; sleep 0.1; done
B5=$(sed -n 's/^binding=\([0-9]*\).*/\1/p' "$TMP/hold1")
P5=$(sed -n 's/.* public=[0-9.]*:\([0-9]*\).*/\1/p' "$TMP/hold1")
check "controller A holds a Session and a session-bound binding $B5 at $PUB:$P5" test -n "$P5"
ip netns exec "$NS_LAN" python3 "$UDP" echo $PRIV 5010 9 &
ECHO=$!
BG+=($ECHO)
sleep 0.3
ip netns exec "$NS_WAN" python3 "$UDP" ping $R1 7010 $PUB "$P5" 7 100 >"$TMP/ping" &
PING=$!
BG+=($PING)
sleep 1.5
note "SIGTERM the agent (pid $AGENT_PID) with the flow running"
stop_agent TERM
wait "$HOLD1" 2>/dev/null
note "controller A's stream: $(grep -E 'goaway|ended' "$TMP/hold1" | tr '\n' ' ')"
sleep 0.5
start_agent "$CFG_LONG"
client ops info >"$TMP/info2"
EPOCH2=$(sed -n 's/.*state_epoch=\([0-9a-f]*\).*/\1/p' "$TMP/info2")
INSTANCE2=$(sed -n 's/.*instance_id=\([0-9a-f]*\).*/\1/p' "$TMP/info2")
check "same state_epoch after restart ($EPOCH1 -> $EPOCH2)" test "$EPOCH1" = "$EPOCH2"
check "new instance_id (${INSTANCE1:0:12}... -> ${INSTANCE2:0:12}...)" test -n "$INSTANCE2" -a "$INSTANCE1" != "$INSTANCE2"
ctl ops --json list
note "recovered: $(grep -o '"binding_id":"[0-9]*"\|"state":"[A-Z]*"' "$TMP/out" | tr '\n' ' ')"
check "session-bound binding $B5 listed ORPHANED until adopted" \
  grep -q "\"binding_id\":\"$B5\".*\"state\":\"ORPHANED\"" "$TMP/out"
check "lifetime-only binding $B3 recovered ENABLED" grep -q "\"binding_id\":\"$B3\".*\"state\":\"ENABLED\"" "$TMP/out"
client ctl-a hold --owner sbc-east/2 --token 1 --adopt >"$TMP/hold2" &
HOLD2=$!
BG+=($HOLD2)
for _ in $(seq 1 50); do grep -q "^adopted=" "$TMP/hold2" && break; sleep 0.1; done
note "controller A reconnects: $(grep '^adopted=' "$TMP/hold2")"
check "Adopt takes the orphan back" grep -q "^adopted=1 .*state_epoch=$EPOCH1" "$TMP/hold2"
ctl ops --json get "$B5"
check "binding $B5 ENABLED again" grep -q '"state":"ENABLED"' "$TMP/out"
wait "$PING"
note "flow $R1:7010 <-> $PUB:$P5 (echoed by $PRIV:5010): $(cat "$TMP/ping")"
sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$TMP/ping")
echoed=$(sed -n 's/.*echoed=\([0-9]*\).*/\1/p' "$TMP/ping")
gap=$(sed -n 's/.*max_gap_ms=\([0-9]*\).*/\1/p' "$TMP/ping")
# The kernel forwards while the agent is down, so a gap here is the pinger's own scheduling, not
# the data plane: at most 2 packets may be missing, and no gap may come near the 1 s a dropped
# hole would show. 200 ms failed twice in seven runs at load 5-7, none lost.
check "flow kept passing during and after the restart: $echoed/$sent echoed, longest gap ${gap} ms" \
  test "${sent:-0}" -gt 500 -a "$((sent - ${echoed:-0}))" -le 2 -a "${gap:-9999}" -lt 1000
check "echoes came from the binding's public port only" grep -q "from=$PUB:$P5 " "$TMP/ping"

step "short leases (kernel 3 s, orphan grace 2 s): kill -9 the agent, holes close by kernel timeouts"
kill "$HOLD2" 2>/dev/null
wait "$HOLD2" 2>/dev/null
stop_agent TERM
start_agent "$CFG_SHORT"
ctl ops --json list
check "restart with a 2 s orphan grace: $B5 ORPHANED" grep -q "\"binding_id\":\"$B5\".*\"state\":\"ORPHANED\"" "$TMP/out"
ctl ctl-a --owner sbc-east/3 --token 1 --json reserve --private $PRIV:5012 --lifetime 600 --group call-k
B6=$(json_field binding_id)
P6=$(json_field public | cut -d: -f2)
ctl ctl-a --owner sbc-east/3 --token 1 --json enable "$B6" --remote $R1:7012
send "$NS_WAN" $R1 7012 $PUB "$P6" T12-alive
expect_rx $PRIV 5012 T12-alive "$R1:7012" "binding $B6 ($PUB:$P6, lifetime 600 s) passes"
sleep 2.2
ctl ops --json list
check "unadopted orphan $B5 closed by the agent after its grace" bash -c "! grep -q '\"binding_id\":\"$B5\"' $TMP/out"
note "element timeouts (re-armed every 1.5 s): $(nft_set pin4 | grep -o 'expires [0-9a-z]*' | tr '\n' ' ')"
stop_agent KILL
KILLED=$(date +%s.%N)
note "kill -9 at $(elapsed); kernel: $(nft_counts)"
send "$NS_WAN" $R1 7012 $PUB "$P6" T13-afterkill
expect_rx $PRIV 5012 T13-afterkill "$R1:7012" "right after the kill, $R1:7012 -> $PUB:$P6 still passes"
send "$NS_LAN" $PRIV 5012 $R1 7012 T13-out
expect_rx $R1 7012 T13-out "$PUB:$P6" "right after the kill, LAN -> $R1:7012 still passes"
python3 -c "import time; time.sleep(max(0, $KILLED + 3.3 - time.time()))"
note "$(python3 -c "import time; print('%.1f' % (time.time() - $KILLED))") s after the kill; kernel: $(nft_counts)"
counts=$(nft_counts)
check "no binding or pinhole element left (kernel timeouts, agent dead): $counts" \
  bash -c "echo '$counts' | grep -q 'bind_in4=0 .*pin4=0'"
send "$NS_WAN" $R1 7012 $PUB "$P6" T14-expired
send "$NS_LAN" $PRIV 5012 $R1 7012 T14-out-expired
settle
expect_drop $PRIV 5012 T14-expired "after the lease: $R1:7012 -> $PUB:$P6"
expect_drop $R1 7012 T14-out-expired "after the lease: LAN -> $R1:7012"
start_agent "$CFG_SHORT"
ctl ops --json list
check "a new agent adopts the empty table: nothing to recover" test ! -s "$TMP/out"
stop_agent TERM

echo
echo "agent_e2e netns test: $PASSES passed, $FAILS failed ($(elapsed))"
[ "$FAILS" -eq 0 ]

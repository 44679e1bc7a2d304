#!/bin/bash
# Pinhole agent benchmark: FCP (gRPC, mTLS) -> PinholeManager -> libnftnl -> kernel, measured
# end to end in network namespaces this script creates and deletes. Not part of CI.
#
#   wan host (198.51.100.2) --veth-- router (portcullis-agent, nft backend) --veth-- lan host (10.0.0.2)
#                                       `--veth-- controller (10.0.1.2): fcp_bench
#
# Measures: reserve+enable+release cycles sequential and with N in flight; batched through Apply;
# reserve+enable latency; time and kernel memory to hold 100 000 and 1 000 000 bindings; UDP
# forwarding through one binding with 10 vs 1 000 000 holes. Bounded (< 10 min), cleans up.
#
# Forwarding, 10 vs BIG holes: a twin router namespace (with its own WAN and LAN host namespaces,
# same addresses) gets a copy of the agent's table while it holds 10 bindings; at the end the
# agent's router holds BIG. A C++ sendmmsg sender blasts one flow for FLOOD_S seconds and a
# recvmmsg sink counts what arrives; the two routers are measured alternately (twin, agent,
# twin, agent, ...; FLOOD_REPS each) and the median and spread reported. An A/A round at the start
# (both at 10 holes) shows how far apart two identical routers measure.
#
# Usage: sudo bench/agent_bench.sh [BUILD_DIR] [--insecure]
#   BUILD_DIR: a Release build with PORTCULLIS_BUILD_BENCH=ON (default build/agentbench), e.g.
#     cmake -S . -B build/agentbench -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTCULLIS_BUILD_TESTS=OFF
#     ninja -C build/agentbench portcullis-agent fcp_bench
#   --insecure: plaintext gRPC (tls.insecure_lab) instead of mTLS.
# Env: BIG=1000000 (largest table), SMALL=100000, FLOOD_S=4 (seconds per forwarding run),
#      FLOOD_REPS=3 (runs per router, interleaved),
#      FILL_BUDGET_S=240 (time cap on growing to BIG; the log then says how many were held).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/agentbench
TLS=1
for a in "$@"; do
  case "$a" in
    --insecure) TLS=0 ;;
    *) BUILD=$a ;;
  esac
done
AGENT=$BUILD/pinhole-agent/app/portcullis-agent
BENCH=$BUILD/bench/agent/fcp_bench
BIG=${BIG:-1000000}
SMALL=${SMALL:-100000}
FLOOD_S=${FLOOD_S:-4}
FLOOD_REPS=${FLOOD_REPS:-3}
FILL_BUDGET_S=${FILL_BUDGET_S:-240}  # cap on growing to BIG (keeps the run < 10 min)

[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces, nf_tables)"; exit 77; }
for b in "$AGENT" "$BENCH"; do
  [ -x "$b" ] || { echo "missing $b (ninja -C $BUILD portcullis-agent fcp_bench)"; exit 1; }
done

P="pcb$$"
NS_WAN="${P}w"
NS_RTR="${P}r"
NS_LAN="${P}l"
NS_CTL="${P}c"
NS_WAN2="${P}W"  # twin router for the forwarding comparison (a static copy of the 10-hole table)
NS_RT2="${P}R"
NS_LAN2="${P}L"
ALL_NS=("$NS_WAN" "$NS_RTR" "$NS_LAN" "$NS_CTL" "$NS_WAN2" "$NS_RT2" "$NS_LAN2")
TMP=$(mktemp -d)
AGENT_PID=""
START=$(date +%s)

cleanup() {
  if [ -n "$AGENT_PID" ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
    echo "agent (pid $AGENT_PID) died; its log:"; tail -30 "$TMP/agent.log"
  fi
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  for n in "${ALL_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

log() { echo "[$(($(date +%s) - START))s] $*"; }
meminfo() { awk '/^(Slab|SUnreclaim|MemAvailable):/ {printf "%s=%dMiB ", $1, $2/1024}' /proc/meminfo | tr -d ':'; }
slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
avail_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
agent_rss() { awk '/^VmRSS:/ {printf "%dMiB", $2/1024}' "/proc/$AGENT_PID/status" 2>/dev/null; }

log "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
log "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load: $(cut -d' ' -f1-3 /proc/loadavg)"

ip netns add "$NS_WAN" || exit 77
for n in "$NS_RTR" "$NS_LAN" "$NS_CTL"; do ip netns add "$n" || exit 77; done
for n in "$NS_WAN" "$NS_RTR" "$NS_LAN" "$NS_CTL"; do ip -n "$n" link set lo up; done
ip link add wan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_WAN"
ip link add lan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_LAN"
ip link add ctl0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_CTL"
ip -n "$NS_WAN" addr add 198.51.100.2/24 dev eth0 && ip -n "$NS_WAN" link set eth0 up
ip -n "$NS_LAN" addr add 10.0.0.2/24 dev eth0 && ip -n "$NS_LAN" link set eth0 up
ip -n "$NS_LAN" route add default via 10.0.0.1
ip -n "$NS_CTL" addr add 10.0.1.2/24 dev eth0 && ip -n "$NS_CTL" link set eth0 up
ip -n "$NS_RTR" addr add 198.51.100.1/24 dev wan0 && ip -n "$NS_RTR" link set wan0 up
ip -n "$NS_RTR" addr add 10.0.0.1/24 dev lan0 && ip -n "$NS_RTR" link set lan0 up
ip -n "$NS_RTR" addr add 10.0.1.1/24 dev ctl0 && ip -n "$NS_RTR" link set ctl0 up
ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
# The twin: same interface names and addresses, in its own three namespaces.
for n in "$NS_WAN2" "$NS_RT2" "$NS_LAN2"; do ip netns add "$n" || exit 77; ip -n "$n" link set lo up; done
ip link add wan0 netns "$NS_RT2" type veth peer name eth0 netns "$NS_WAN2"
ip link add lan0 netns "$NS_RT2" type veth peer name eth0 netns "$NS_LAN2"
ip -n "$NS_WAN2" addr add 198.51.100.2/24 dev eth0 && ip -n "$NS_WAN2" link set eth0 up
ip -n "$NS_LAN2" addr add 10.0.0.2/24 dev eth0 && ip -n "$NS_LAN2" link set eth0 up
ip -n "$NS_LAN2" route add default via 10.0.0.1
ip -n "$NS_RT2" addr add 198.51.100.1/24 dev wan0 && ip -n "$NS_RT2" link set wan0 up
ip -n "$NS_RT2" addr add 10.0.0.1/24 dev lan0 && ip -n "$NS_RT2" link set lan0 up
ip netns exec "$NS_RT2" sysctl -qw net.ipv4.ip_forward=1

# PKI (openssl CLI, in $TMP only).
PKI=$TMP/pki
mkdir -p "$PKI"
ossl() { openssl "$@" >>"$PKI/openssl.log" 2>&1; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt"
for who in agent bench; do
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" -keyout "$PKI/$who.key" -out "$PKI/$who.csr"
  if [ $who = agent ]; then ext="subjectAltName=IP:10.0.1.1\nextendedKeyUsage=serverAuth"; else ext="subjectAltName=URI:spiffe://bench/load\nextendedKeyUsage=clientAuth"; fi
  printf "$ext\n" >"$PKI/$who.ext"
  ossl x509 -req -in "$PKI/$who.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 1 \
    -extfile "$PKI/$who.ext" -out "$PKI/$who.crt"
done

# 16 public addresses x 63 536 ports (2000..65535) = 1 016 576 bindings; masquerade below 2000.
{
  cat <<YAML
agent:
  id: edge-bench
  listen: 10.0.1.1:7443
  log_level: info
backend:
  type: nft
  table: portcullis
  wan_interfaces: [wan0]
  lan_interfaces: [lan0]
  masquerade_ports: {first: 1024, last: 1999}
  ipv6: false
pools:
  - public_address: 198.51.100.1
    ports: {first: 2000, last: 65535}
YAML
  for i in $(seq 10 24); do
    printf '  - public_address: 198.51.100.%d\n    ports: {first: 2000, last: 65535}\n' "$i"
  done
  cat <<YAML
timers:
  kernel_lease: 1h
  max_lifetime: 12h
limits:
  max_bindings: 1100000
  max_bindings_per_owner: 1100000
  max_ports_per_owner: 1100000
  max_batch_operations: 1000
  binding_set_size: 1500000
  pinhole_set_size: 1500000
YAML
  if [ $TLS = 1 ]; then
    cat <<YAML
tls:
  cert: $PKI/agent.crt
  key: $PKI/agent.key
  client_ca: $PKI/ca.crt
  identities:
    - identity: spiffe://bench/load
      owners: ["*"]
      admin: true
YAML
  else
    printf 'tls:\n  insecure_lab: true\n'
  fi
} >"$TMP/agent.yaml"

ip netns exec "$NS_RTR" "$AGENT" --config "$TMP/agent.yaml" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 100); do grep -q "serving FCP" "$TMP/agent.log" && break; sleep 0.1; done
grep -q "serving FCP" "$TMP/agent.log" || { echo "agent did not start:"; cat "$TMP/agent.log" "$TMP/agent.yaml"; exit 1; }
log "agent pid $AGENT_PID ($( [ $TLS = 1 ] && echo mTLS || echo insecure-lab)), rss $(agent_rss); $(meminfo)"

if [ $TLS = 1 ]; then
  CONN=(--agent 10.0.1.1:7443 --ca "$PKI/ca.crt" --cert "$PKI/bench.crt" --key "$PKI/bench.key")
else
  CONN=(--agent 10.0.1.1:7443 --insecure)
fi
bench() { timeout 300 ip netns exec "$NS_CTL" "$BENCH" "${CONN[@]}" "$@"; }
elements() { # set-or-map name: element count (nft list is slow for 1M elements: bounded)
  local kind=set
  case "$1" in bind_*) kind=map ;; esac
  timeout 120 ip netns exec "$NS_RTR" nft list "$kind" inet portcullis "$1" 2>/dev/null | grep -o 'expires' | wc -l
}

# Forwarding: WAN 198.51.100.2:7000 -> 198.51.100.1:2000 -> DNAT 10.0.0.2:6000, one flow.
flood_once() { # wan-ns lan-ns label: prints the pps forwarded to the LAN host
  # Counted on the far side, over a fixed interval: the LAN host's eth0 rx_packets, read 0.5 s
  # after the sender started and again FLOOD_S - 1 s later (the sender runs FLOOD_S s). The sink
  # only keeps the port open (no ICMP unreachables flowing back through the router).
  ip netns exec "$2" "$BENCH" udp-sink --bind 10.0.0.2:6000 --seconds $((FLOOD_S + 2)) >"$TMP/sink" &
  local sink=$!
  sleep 0.3
  ip netns exec "$1" "$BENCH" udp-flood --from 198.51.100.2:7000 --to 198.51.100.1:2000 \
    --seconds "$FLOOD_S" --size 64 >"$TMP/flood" &
  local sender=$!
  sleep 0.5
  local c0 c1 t0 t1
  c0=$(ip netns exec "$2" cat /sys/class/net/eth0/statistics/rx_packets); t0=$(date +%s.%N)
  sleep $((FLOOD_S - 1))
  c1=$(ip netns exec "$2" cat /sys/class/net/eth0/statistics/rx_packets); t1=$(date +%s.%N)
  wait $sender
  wait $sink
  local pps
  pps=$(python3 -c "print(int(($c1 - $c0) / ($t1 - $t0)))")
  log "  forwarding ($3): $pps pps at the LAN host over $(python3 -c "print('%.2f' % ($t1 - $t0))") s | $(cat "$TMP/flood") | $(cat "$TMP/sink") | load $(cut -d' ' -f1 /proc/loadavg)" >&2
  echo "$pps"
}
# compare label-a wan-a lan-a label-b wan-b lan-b: FLOOD_REPS runs of each, alternating.
compare() {
  local a=() b=() r
  for r in $(seq 1 "$FLOOD_REPS"); do
    a+=("$(flood_once "$2" "$3" "$1, run $r")")
    b+=("$(flood_once "$5" "$6" "$4, run $r")")
  done
  python3 - "$1" "$4" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
la, lb, a, b = sys.argv[1], sys.argv[2], [int(x or 0) for x in sys.argv[3].split()], [int(x or 0) for x in sys.argv[4].split()]
ma, mb = statistics.median(a), statistics.median(b)
print("   %s: median %d pps (runs %s, spread %d..%d)" % (la, ma, " ".join(map(str, a)), min(a), max(a)))
print("   %s: median %d pps (runs %s, spread %d..%d)" % (lb, mb, " ".join(map(str, b)), min(b), max(b)))
print("   %s vs %s: %+.1f %% (medians)" % (lb, la, (mb - ma) * 100.0 / ma if ma else 0))
PY
}

log "== setup: the flow binding (198.51.100.1:2000 -> 10.0.0.2:6000, remote 198.51.100.2:7000) + 9 more"
bench hold --private 10.0.0.2:6000 --remote 198.51.100.2:7000 --public-port 2000 --owner-prefix flow
bench fill --count 9 --batch 9 --concurrency 1 --first 5000000 --owner-prefix few
log "   kernel: bind_in4 $(elements bind_in4) elements, pin4 $(elements pin4)"
# The twin router gets a static copy of this 10-hole table (not owned: the flags line is dropped;
# elements keep their 1 h timeouts, longer than the run).
ip netns exec "$NS_RTR" nft list table inet portcullis | sed -e '/^\tflags/d' -e 's/ expires [0-9hmsd]*//g' >"$TMP/twin.nft"
ip netns exec "$NS_RT2" nft -f "$TMP/twin.nft" || { echo "twin router: nft -f failed"; exit 1; }
log "   twin router: bind_in4 $(ip netns exec "$NS_RT2" nft list map inet portcullis bind_in4 | grep -o expires | wc -l) elements"
log "== forwarding A/A: twin (10 holes) vs agent router (10 holes), $FLOOD_REPS x ${FLOOD_S}s each, alternating"
compare "twin, 10 holes" "$NS_WAN2" "$NS_LAN2" "agent router, 10 holes" "$NS_WAN" "$NS_LAN"

log "== reserve+enable+release cycles, sequential (1 in flight)"
bench cycle --count 1000 --concurrency 1
log "== reserve+enable+release cycles, 8 in flight"
bench cycle --count 1000 --concurrency 8
log "== batched through Apply (250 bindings per Apply: 500 create ops, then 250 release ops)"
bench apply --count 50000 --batch 250 --concurrency 1
bench apply --count 25000 --batch 250 --concurrency 4
log "   kernel after the churn: bind_in4 $(elements bind_in4) elements; $(meminfo); agent rss $(agent_rss)"

log "== hold $SMALL bindings (Apply batches of 500 bindings = 1000 ops, 4 in flight)"
slab0=$(slab_kib); avail0=$(avail_kib)
bench fill --count "$SMALL" --batch 500 --concurrency 4 --first 0
slab1=$(slab_kib); avail1=$(avail_kib)
log "   kernel: bind_in4 $(elements bind_in4), pin4 $(elements pin4); slab +$(((slab1 - slab0) / 1024)) MiB" \
  "($(((slab1 - slab0) * 1024 / SMALL)) B/binding), MemAvailable $(((avail1 - avail0) / 1024)) MiB, agent rss $(agent_rss)"

if [ "$BIG" -gt "$SMALL" ]; then
  log "== grow to $BIG bindings"
  bench fill --count $((BIG - SMALL)) --batch 500 --concurrency 4 --first "$SMALL" --max-seconds "$FILL_BUDGET_S" \
    | tee "$TMP/fill"
  held=$((SMALL + $(sed -n 's/^fill concurrency.* bindings=\([0-9]*\) .*/\1/p' "$TMP/fill")))
  slab2=$(slab_kib); avail2=$(avail_kib)
  log "   holding $held bindings;" \
    "slab +$(((slab2 - slab0) / 1024)) MiB ($(((slab2 - slab0) * 1024 / held)) B/binding)," \
    "MemAvailable $(((avail2 - avail0) / 1024)) MiB, agent rss $(agent_rss)"
  BIG=$held
fi

log "== forwarding: twin (10 holes) vs agent router ($BIG holes), $FLOOD_REPS x ${FLOOD_S}s each, alternating"
compare "twin, 10 holes" "$NS_WAN2" "$NS_LAN2" "agent router, $BIG holes" "$NS_WAN" "$NS_LAN"

log "== teardown: SIGTERM the agent, delete the namespaces (the table goes with the router namespace)"
t0=$(date +%s.%N)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
for n in "${ALL_NS[@]}"; do ip netns del "$n"; done
sleep 3
log "   done in $(python3 -c "import time; print('%.1f' % (time.time() - $t0))") s; $(meminfo)"

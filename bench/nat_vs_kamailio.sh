#!/bin/bash
# NAT-slice benchmark: calls through portcullis-controller with real holes on a real
# portcullis-agent (nft backend, mTLS), against Kamailio as a plain record-routing proxy (no media
# handling) in the same namespaces, the same SIPp load, one after the other in one run.
#
# Topology: deploy/lab/lablib.sh (unique LAB_PREFIX). SIPp UAC in the LAN phone's namespace
# (10.0.0.2) -> the server in the DMZ namespace (LAN leg 10.0.0.10:5060, public leg
# 203.0.113.2:5060) -> SIPp UAS in the WAN phone's namespace (203.0.113.5:5060). SIP never crosses
# the router; with Portcullis every call's SDP offer (INVITE) makes the controller reserve a
# binding on the agent in the router namespace and the 200's answer opens its pinhole (nft set
# elements); BYE releases it. Each call offers its own private RTP port (bench/nat/nat_uac.xml,
# ports from an injection file) so that concurrent calls are distinct media endpoints, as real
# phones are.
#
# Equivalence: both servers route by registrar lookup — the UAS REGISTERs bench@example.test from
# 203.0.113.5:5060 first (Portcullis: its registrar; Kamailio: bench/kamailio/kamailio.cfg's
# usrloc, unchanged except mhomed=1 so replies leave by the right leg). Both record-route, both
# are transaction-stateful. Portcullis also hides the LAN topology (its lab realm config) and does
# the media step; Kamailio does neither — that is the point of the comparison (goal: CPU per call
# <= 1.0x Kamailio's plain proxy).
#
# Phases per server:
#  (1) setup delay: DELAY_RATE calls/s for STEP_SECONDS, SIPp -trace_rtt (INVITE -> 200 time seen
#      by the caller). Portcullis: the controller is then stopped and its log gives the time the
#      media step held each SDP offer (INVITE) / answer (200) for FCP (media_step.cc histograms,
#      merged over shards); a one-call RTP check through the hole (deploy/lab/labphone.py) and an
#      agent binding count (portcullisctl list) are taken during this phase.
#  (2) rising rates (RATES), calls of CALL_MS, STEP_SECONDS each, stop at the first step with
#      >= 0.1 % failed calls or the offered rate not held (SIPp needing more than
#      STEP_SECONDS * 1.05 + 1.5 s to start every call of the step). CPU from /proc (utime+stime, all threads;
#      Kamailio: every process) per 1 000 successful calls at each rate; agent CPU separately; nft
#      set elements sampled mid-step (bindings really held).
#
# Usage: sudo bench/nat_vs_kamailio.sh [BUILD_DIR]   (default build/release; needs the Release
#   portcullis-controller, portcullis-agent and portcullisctl there; AGENT / CONTROLLER / CTL
#   override each binary)
# Env: RATES ("100 200 300 400 600 800 1000") STEP_SECONDS (10) CALL_MS (1000, ACK -> BYE)
#      CPU_RATE (rate whose CPU/call is compared, default the second rate) DELAY_RATE (default
#      CPU_RATE) THREADS (controller shards, default 2)
#      SERVERS ("portcullis portcullis-nomedia kamailio"; portcullis-nomedia = the same controller
#      config with media.enabled: false, no FCP on the call path: splits the controller's cost)
#      CTL_LOG_LEVEL (info: needed for the hold-time line at shutdown) KEEP=1 keeps $LAB_DIR.
# Bounded: ~1-2.5 min per server at the defaults (< 10 min in total). Markdown on stdout.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build/release}" && pwd) || exit 1  # absolute: phases run from $W
SC="$ROOT/bench/kamailio/sipp"
NSC="$ROOT/bench/nat"
KCFG="$ROOT/bench/kamailio/kamailio.cfg"
RATES=${RATES:-100 200 300 400 600 800 1000}
STEP_SECONDS=${STEP_SECONDS:-10}
CALL_MS=${CALL_MS:-1000}
read -r -a RATE_LIST <<<"$RATES"
CPU_RATE=${CPU_RATE:-${RATE_LIST[1]:-${RATE_LIST[0]}}}
DELAY_RATE=${DELAY_RATE:-$CPU_RATE}
THREADS=${THREADS:-2}
CTL_LOG_LEVEL=${CTL_LOG_LEVEL:-info}
SERVERS=${SERVERS:-portcullis portcullis-nomedia kamailio}
CLK_TCK=$(getconf CLK_TCK)

LAB_PREFIX=${LAB_PREFIX:-pnb$$}
LAB_DIR=$(mktemp -d /tmp/portcullis-natbench.XXXXXX)
export LAB_PREFIX LAB_DIR
# shellcheck source=deploy/lab/lablib.sh
. "$ROOT/deploy/lab/lablib.sh"
W=$LAB_DIR
LOAD0=$(awk '{ print $1, $2, $3 }' /proc/loadavg)

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, nftables)"; exit 1; }
lab_need_root || exit 1
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester"; exit 1; }
command -v kamailio >/dev/null || [[ " $SERVERS " != *" kamailio "* ]] ||
  { echo "kamailio missing (bench/proxy_vs_kamailio.sh installs it, or apt-get install -y kamailio)"; exit 1; }
lab_bins "$BUILD" || exit 1
KMOD=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep -m1 '/modules/tm.so$')")

SERVER_PID=""
BG=()
cleanup() {
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  wait 2>/dev/null
  lab_down_quiet >/dev/null 2>&1
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }

# -------------------------------------------------------------------------- /proc accounting
server_pids() { [ -n "$SERVER_PID" ] && { echo "$SERVER_PID"; pgrep -P "$SERVER_PID" 2>/dev/null; }; }
agent_pid() { cat "$LAB_DIR/agent.pid" 2>/dev/null; }
ticks_of() {  # utime + stime of the given processes (all threads)
  local p t=0 v
  for p in "$@"; do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# shellcheck disable=SC2046
server_ticks() { ticks_of $(server_pids); }
agent_ticks() { ticks_of "$(agent_pid)"; }

# sipp_stats <stat csv> <calls>: "<successful> <failed> <seconds until every call was started>"
# (-fd 1: one row per second; the last figure says whether the offered rate was held, whatever a
# few timed-out calls add to the run's end)
sipp_stats() {
  python3 - "$1" "$2" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head, last = rows[0], rows[-1]
def secs(t):
    f = [float(x) for x in t.split(":")] + [0]  # hh:mm:ss[:usec]
    return f[0] * 3600 + f[1] * 60 + f[2] + f[3] / 1e6
out, el = head.index("OutgoingCall(C)"), head.index("ElapsedTime(C)")
started = next((secs(r[el]) for r in rows[1:] if int(r[out]) >= int(sys.argv[2])), 1e9)
print(int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")]), "%.1f" % started)
EOF
}

# SIPp's clock has 1 ms resolution: percentiles are whole ms; the mean of the samples is unbiased
# (each is the difference of two truncated readings) and finer.
rtt_percentiles() {  # <dir with *_rtt.csv>: "p50 p99 samples mean" of the INVITE -> 200 time in ms
  python3 - "$1" <<'EOF'
import glob, sys
v = []
for f in glob.glob(sys.argv[1] + "/*_rtt.csv"):
    for line in open(f):
        parts = line.strip().split(";")
        if len(parts) >= 2:
            try:
                v.append(float(parts[1]))
            except ValueError:
                pass
v.sort()
q = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")
print("%.0f %.0f %d %.2f" % (q(0.5), q(0.99), len(v), sum(v) / len(v) if v else float("nan")))
EOF
}

hold_percentiles() {  # <controller log> <offer|answer>: "n p50_ms p99_ms max_ms" merged over shards
  python3 - "$1" "$2" <<'EOF'
import re, sys
buckets, n, mx = {}, 0, 0
pat = re.compile(r"fcp hold %s: n=(\d+) .* max=(\d+)us buckets=(.*)$" % sys.argv[2])
for line in open(sys.argv[1], errors="replace"):
    m = pat.search(line)
    if not m:
        continue
    n += int(m.group(1)); mx = max(mx, int(m.group(2)))
    for pair in m.group(3).split():
        lo, c = pair.split(":")
        buckets[int(lo)] = buckets.get(int(lo), 0) + int(c)
def upper(lo):  # LatencyHistogram: exact below 16 us, then 16 sub-buckets per power of two
    return lo if lo < 16 else lo + (1 << max(0, lo.bit_length() - 5)) - 1
def q(p):
    rank, seen = int(p * (n - 1)) + 1, 0
    for lo in sorted(buckets):
        seen += buckets[lo]
        if seen >= rank:
            return min(upper(lo), mx)
    return mx
print("%d %.2f %.2f %.2f" % (n, q(0.5) / 1000, q(0.99) / 1000, mx / 1000) if n else "0 n/a n/a n/a")
EOF
}

nft_bindings() {  # elements of the agent's bind_in4 map (public address . port -> private) right now
  { ip netns exec "$NS_RTR" nft -j list map inet "$TABLE" bind_in4 2>/dev/null ||
    ip netns exec "$NS_RTR" nft -j list set inet "$TABLE" bind_in4 2>/dev/null; } |
    python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print(sum(len(o[k].get("elem", [])) for o in d["nftables"] for k in ("map", "set") if k in o))
except Exception:
    print("?")'
}

# -------------------------------------------------------------------------- lab
lab_net_up || { echo "cannot build the namespaces" >&2; exit 1; }
lab_pki || { echo "openssl failed" >&2; exit 1; }
lab_configs 60s
# bigger pool (the lab's 200 ports would run out at a few hundred concurrent calls)
sed -i -e 's/ports: {first: 40000, last: 40199}/ports: {first: 40000, last: 60999}/' \
  "$LAB_DIR/agent.yaml"
cat >"$LAB_DIR/portcullis.yaml" <<EOF
# bench/nat_vs_kamailio.sh: the lab controller (deploy/lab/controller.yaml) with the bench domain
controller:
  id: ctl-lab
  log_level: $CTL_LOG_LEVEL
  threads: $THREADS
listen:
  - transport: udp
    address: $CTL_LAN:5060
    realm: lan
  - transport: udp
    address: $CTL_WAN:5060
    realm: wan
realms:
  - name: lan
    networks: [10.0.0.0/24]
    hide_topology: true
  - name: wan
domains: [example.test, lab.example]
registrar:
  min_expires: 10
  default_expires: 3600
proxy:
  record_route: true
  strict: false
limits:
  max_transactions: 2000000
fcp:
  owner: ctl-lab
  fencing_token: 1
  cert: $LAB_DIR/pki/controller.crt
  key: $LAB_DIR/pki/controller.key
  ca: $LAB_DIR/pki/ca.crt
  agents:
    - id: edge-lab
      address: $AGENT_ADDR
      networks: [10.0.0.0/24]
media:
  on_bad_sdp: reject
  on_unsupported: reject
  max_streams: 8
  idle_timeout: 120s
  orphan_grace: 5s
timers: {t1: 500ms, t2: 4s, t4: 5s}
dns:
  servers: [127.0.0.1:9]
EOF
sed 's/^media:$/media:\n  enabled: false/' "$LAB_DIR/portcullis.yaml" >"$LAB_DIR/portcullis-nomedia.yaml"
sed "s|^loadpath .*|loadpath \"$KMOD/\"|; s|^children=2|children=2\nmhomed=1|" "$KCFG" >"$W/kamailio.cfg"

# UAC media ports: one private RTP port per call (even ports 20000-59998, reused cyclically)
{ echo SEQUENTIAL; seq 20000 2 59998; } >"$W/ports.csv"
printf 'SEQUENTIAL\nbench\n' >"$W/callee.csv"

lab_start_agent || exit 1
log "lab $LAB_PREFIX up in $W; agent pid $(agent_pid); rates: $RATES (${STEP_SECONDS}s each, calls of ${CALL_MS} ms)"

start_server() {
  local which=$1
  if [ "$which" != kamailio ]; then
    cp "$LAB_DIR/$which.yaml" "$LAB_DIR/controller.yaml"
    lab_start_controller || exit 1
    SERVER_PID=$(cat "$LAB_DIR/controller.pid")
    CTL_LOG=$LAB_DIR/controller.$LAB_CTL_RUNS.log
  else
    ip netns exec "$NS_CTL" kamailio -f "$W/kamailio.cfg" -DD -E -Y "$W" -P "$W/kamailio.pid" \
      -l "udp:$CTL_LAN:5060" -l "udp:$CTL_WAN:5060" -m 256 -M 16 >"$W/kamailio.log" 2>&1 &
    SERVER_PID=$!
    sleep 1.5
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$W/kamailio.log" >&2; exit 1; }
  fi
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null
  for _ in $(seq 1 80); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  rm -f "$LAB_DIR/controller.pid"
  SERVER_PID=""
}

sipp_args() {  # sipp_args NAME: output files of one SIPp run under $W/NAME.*
  echo "-nostdin -trace_stat -stf $W/$1.stat.csv -fd 1 -trace_err -error_file $W/$1.err"
}
sipp_in() {  # sipp_in NS NAME TIMEOUT ARGS...: SIPp in a namespace, run from $W/NAME.d (-trace_rtt files)
  local ns=$1 name=$2 tmo=$3 rc
  shift 3
  mkdir -p "$W/$name.d"
  cd "$W/$name.d" || return 1
  # shellcheck disable=SC2046
  timeout "$tmo" ip netns exec "$ns" sipp $(sipp_args "$name") "$@" >"$W/$name.out" 2>&1
  rc=$?
  cd "$W" || return 1
  return $rc
}

register_callee() {  # the UAS's address of record, from the port it then listens on
  sipp_in "$NS_B" "$1-calleereg" 20 -i "$B_IP" -p 5060 -mp 12000 -sf "$SC/bench_register.xml" \
    -inf "$W/callee.csv" -m 1 -timeout 10s -recv_timeout 5000 "$CTL_WAN:5060" ||
    { log "$1: callee registration failed"; return 1; }
}

start_uas() {
  # shellcheck disable=SC2046
  ip netns exec "$NS_B" sipp $(sipp_args "$1-uas") -i "$B_IP" -p 5060 -mp 12000 -sf "$SC/bench_uas.xml" \
    >"$W/$1-uas.out" 2>&1 &
  UAS=$!
  BG+=("$UAS")
  sleep 0.5
}
stop_uas() { kill "$UAS" 2>/dev/null; wait "$UAS" 2>/dev/null; }

# run_calls NAME RATE [sipp args]: one step of calls; sets OK BAD SECS
run_calls() {
  local name=$1 rate=$2 n
  shift 2
  n=$((rate * STEP_SECONDS))
  local t0 t1
  t0=$(date +%s.%N)
  sipp_in "$NS_A" "$name" $((STEP_SECONDS * 3 + 40)) -i "$A_IP" -p 5060 -mp 10000 -t un -max_socket 6000 \
    -sf "$NSC/nat_uac.xml" -inf "$W/ports.csv" -s bench -d "$CALL_MS" -r "$rate" -m "$n" \
    -l $((rate * (5 + CALL_MS / 1000))) -recv_timeout 5000 -timeout $((STEP_SECONDS * 3 + 30))s "$@" "$CTL_LAN:5060"
  t1=$(date +%s.%N)
  read -r OK BAD STARTED <<<"$(sipp_stats "$W/$name.stat.csv" "$n" 2>/dev/null || echo "0 $n 1e9")"
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

declare -A R  # results: R[<server>,<metric>]; FCP hold times: R[p|r,<offer|answer><n|50|99|max>]

hold_into() {  # hold_into p|r offer|answer: this controller run's hold histogram into R
  local n p50 p99 mx
  read -r n p50 p99 mx <<<"$(hold_percentiles "$CTL_LOG" "$2")"
  R[$1,$2_n]=$n; R[$1,${2}50]=$p50; R[$1,${2}99]=$p99; R[$1,${2}max]=$mx
}

media_check() {  # one call with RTP through the hole while the delay phase runs
  lab_phone "$NS_B" uas --sip "$B_IP:5062" --proxy "$CTL_WAN:5060" --user bob --rtp 6000 --wait 15 \
    >"$W/media.uas" 2>&1 &
  local uas=$!
  lab_wait_event "$W/media.uas" registered 5 || { log "media check: bob did not register"; kill $uas; return; }
  lab_phone "$NS_A" uac --sip "$A_IP:5062" --proxy "$CTL_LAN:5060" --user alice --to bob --rtp 4000 --talk 3 \
    >"$W/media.uac" 2>&1
  wait $uas 2>/dev/null
}
media_summary() {
  R[portcullis,media]="call $(lab_json_field "$W/media.uac" final status), caller sent $(lab_json_field "$W/media.uac" media sent) RTP packets to $(lab_json_field "$W/media.uac" final remote_media), callee got $(lab_json_field "$W/media.uas" bye rx), caller got $(lab_json_field "$W/media.uac" media echoed) echoes"
  log "media check: ${R[portcullis,media]}"
}

bench_server() {
  local s=$1 rate c0 c1 a0 a1 achieved cpu acpu failpct mid
  log "== $s: start"
  start_server "$s"
  R[$s,procs]=$(server_pids | wc -l)
  register_callee "$s"
  start_uas "$s"

  # (1) setup delay at DELAY_RATE
  local side=()
  if [ "$s" = portcullis ]; then
    ( sleep $((STEP_SECONDS / 2)); lab_ctl --json list 2>/dev/null | grep -c '"binding_id"' >"$W/ctl-list.count" ) &
    side+=("$!")
    media_check >"$W/media.check" 2>&1 &
    side+=("$!")
  fi
  run_calls "$s-delay" "$DELAY_RATE" -trace_rtt -rtt_freq 50
  [ ${#side[@]} -eq 0 ] || { wait "${side[@]}" 2>/dev/null; media_summary; }
  local v1 v2 v3 v4
  read -r v1 v2 v3 v4 <<<"$(rtt_percentiles "$W/$s-delay.d")"
  R[$s,rtt50]=$v1; R[$s,rtt99]=$v2; R[$s,rttn]=$v3; R[$s,rttmean]=$v4
  log "$s delay phase at $DELAY_RATE/s: $OK ok, $BAD failed; caller's INVITE->200 mean ${R[$s,rttmean]} ms, p50 ${R[$s,rtt50]} ms, p99 ${R[$s,rtt99]} ms (${R[$s,rttn]} samples, 1 ms resolution)"
  if [ "$s" = portcullis ]; then
    R[portcullis,listed]=$(cat "$W/ctl-list.count" 2>/dev/null || echo '?')
    stop_uas
    stop_server
    hold_into p offer; hold_into p answer
    log "FCP hold at $DELAY_RATE/s: offer (INVITE) n=${R[p,offer_n]} p50 ${R[p,offer50]} ms p99 ${R[p,offer99]} ms max ${R[p,offermax]} ms; answer (200) n=${R[p,answer_n]} p50 ${R[p,answer50]} ms p99 ${R[p,answer99]} ms max ${R[p,answermax]} ms; agent listed ${R[portcullis,listed]} bindings mid-phase"
    start_server "$s"
    register_callee "$s"
    start_uas "$s"
  fi

  # (2) rising rates
  R[$s,best]=0
  for rate in "${RATE_LIST[@]}"; do
    c0=$(server_ticks); a0=$(agent_ticks)
    ( sleep $((STEP_SECONDS / 2 + 1)); nft_bindings >"$W/$s-$rate.nft" ) &
    mid=$!
    run_calls "$s-call-$rate" "$rate"
    wait "$mid" 2>/dev/null
    c1=$(server_ticks); a1=$(agent_ticks)
    achieved=$(awk -v n=$((rate * STEP_SECONDS)) -v s="$STARTED" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    cpu=$(awk -v c=$((c1 - c0)) -v k="$CLK_TCK" -v n="$OK" 'BEGIN { printf "%.3f", n ? c / k / n * 1000 : 0 }')
    acpu=$(awk -v c=$((a1 - a0)) -v k="$CLK_TCK" -v n="$OK" 'BEGIN { printf "%.3f", n ? c / k / n * 1000 : 0 }')
    failpct=$(awk -v b="$BAD" -v n=$((rate * STEP_SECONDS)) 'BEGIN { printf "%.2f", 100 * b / n }')
    R[$s,cpu_at_$rate]=$cpu
    R[$s,agent_at_$rate]=$acpu
    R[$s,nft_at_$rate]=$(cat "$W/$s-$rate.nft" 2>/dev/null)
    log "$s calls at $rate/s: $OK ok, $BAD failed ($failpct %) in ${SECS}s (all started in ${STARTED}s: ~$achieved/s offered); CPU per 1000 calls: server $cpu s, agent $acpu s; agent nft bindings mid-step: ${R[$s,nft_at_$rate]}"
    if awk -v b="$BAD" -v ok="$OK" -v n=$((rate * STEP_SECONDS)) -v s="$STARTED" -v d="$STEP_SECONDS" \
         'BEGIN { exit !(b * 1000 < n && ok + b >= n && s <= d * 1.05 + 1.5) }'; then
      R[$s,best]=$rate
    else
      break
    fi
  done
  stop_uas
  stop_server
  if [ "$s" = portcullis ]; then
    hold_into r offer; hold_into r answer
    log "FCP hold over the whole ramp: offer n=${R[r,offer_n]} p50 ${R[r,offer50]} p99 ${R[r,offer99]} ms; answer n=${R[r,answer_n]} p50 ${R[r,answer50]} p99 ${R[r,answer99]} ms"
    # calls still up when the controller stopped (the failing step) stay open as orphans until
    # the agent's session_ttl (3 s) + orphan_grace (5 s) — the designed failure behaviour
    local left gone=""
    left=$(nft_bindings)
    for i in $(seq 1 30); do
      [ "$(nft_bindings)" = 0 ] && { gone=$((i / 2)); break; }
      sleep 0.5
    done
    R[portcullis,left]="$left when the controller stopped, $( [ -n "$gone" ] && echo "0 about $gone s later" || echo "still $(nft_bindings) 15 s later")"
    log "bindings left on the agent: ${R[portcullis,left]}"
  fi
}

for s in $SERVERS; do
  bench_server "$s"
  sleep 1
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
diffms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%+.2f", a - b; else print "n/a" }'; }
cp_=${R[portcullis,cpu_at_$CPU_RATE]:-n/a}
ck_=${R[kamailio,cpu_at_$CPU_RATE]:-n/a}
ver=$(kamailio -v 2>/dev/null | head -1 | awk '{ print $3 }')
cat <<EOF

NAT slice, UDP, LAN phone (SIPp UAC) -> server in the DMZ -> WAN phone (SIPp UAS), calls of ${CALL_MS} ms;
controller threads: ${THREADS}; load average before the run: ${LOAD0:-?}

| Metric | Portcullis (controller + agent, holes) | Kamailio ${ver} (plain record-routing proxy) | Portcullis / Kamailio | Goal |
|---|---|---|---|---|
| highest rate with < 0.1 % failed (of: ${RATES}) | ${R[portcullis,best]:-n/a}/s | ${R[kamailio,best]:-n/a}/s | $(ratio "${R[portcullis,best]:-n/a}" "${R[kamailio,best]:-n/a}") | |
| server CPU s per 1 000 calls at ${CPU_RATE}/s (controller / all Kamailio processes) | ${cp_} | ${ck_} | $(ratio "$cp_" "$ck_") | ≤ 1.0 |
| agent CPU s per 1 000 calls at ${CPU_RATE}/s (reported separately) | ${R[portcullis,agent_at_$CPU_RATE]:-n/a} | — | | |
| controller + agent CPU s per 1 000 calls at ${CPU_RATE}/s | $(awk -v a="$cp_" -v b="${R[portcullis,agent_at_$CPU_RATE]:-x}" 'BEGIN { if (b ~ /^[0-9.]+$/) printf "%.3f", a + b; else print "n/a" }') | ${ck_} | $(ratio "$(awk -v a="$cp_" -v b="${R[portcullis,agent_at_$CPU_RATE]:-x}" 'BEGIN { if (b ~ /^[0-9.]+$/) printf "%.3f", a + b; else print "n/a" }')" "$ck_") | |
| FCP hold of the INVITE (offer → binding reserved), p50 / p99 / max, at ${DELAY_RATE}/s (n=${R[p,offer_n]:-0}) | ${R[p,offer50]:-n/a} / ${R[p,offer99]:-n/a} / ${R[p,offermax]:-n/a} ms | — | | p99 < 5 ms |
| FCP hold of the 200 (answer → pinhole enabled), p50 / p99 / max, at ${DELAY_RATE}/s (n=${R[p,answer_n]:-0}) | ${R[p,answer50]:-n/a} / ${R[p,answer99]:-n/a} / ${R[p,answermax]:-n/a} ms | — | | p99 < 5 ms |
| caller's INVITE → 200 time (SIPp rtd, 1 ms clock), mean / p50 / p99, at ${DELAY_RATE}/s; last column: difference | ${R[portcullis,rttmean]:-n/a} / ${R[portcullis,rtt50]:-n/a} / ${R[portcullis,rtt99]:-n/a} ms | ${R[kamailio,rttmean]:-n/a} / ${R[kamailio,rtt50]:-n/a} / ${R[kamailio,rtt99]:-n/a} ms | $(diffms "${R[portcullis,rttmean]:-x}" "${R[kamailio,rttmean]:-x}") / $(diffms "${R[portcullis,rtt50]:-x}" "${R[kamailio,rtt50]:-x}") / $(diffms "${R[portcullis,rtt99]:-x}" "${R[kamailio,rtt99]:-x}") ms | |
| same controller, media off (no FCP): CPU s per 1 000 calls at ${CPU_RATE}/s / highest rate | ${R[portcullis-nomedia,cpu_at_$CPU_RATE]:-n/a} / ${R[portcullis-nomedia,best]:-n/a}/s | ${ck_} / ${R[kamailio,best]:-n/a}/s | $(ratio "${R[portcullis-nomedia,cpu_at_$CPU_RATE]:-x}" "$ck_") | |
| same controller, media off: caller's INVITE → 200 mean / p50 / p99 at ${DELAY_RATE}/s; last column: media on − media off | ${R[portcullis-nomedia,rttmean]:-n/a} / ${R[portcullis-nomedia,rtt50]:-n/a} / ${R[portcullis-nomedia,rtt99]:-n/a} ms | | $(diffms "${R[portcullis,rttmean]:-x}" "${R[portcullis-nomedia,rttmean]:-x}") / $(diffms "${R[portcullis,rtt50]:-x}" "${R[portcullis-nomedia,rtt50]:-x}") / $(diffms "${R[portcullis,rtt99]:-x}" "${R[portcullis-nomedia,rtt99]:-x}") ms | |
| FCP hold over the whole ramp incl. the failing step: offer p50 / p99, answer p50 / p99 | ${R[r,offer50]:-n/a} / ${R[r,offer99]:-n/a}, ${R[r,answer50]:-n/a} / ${R[r,answer99]:-n/a} ms | — | | |
EOF
echo
echo "Per rate: CPU s per 1 000 calls (controller, agent | Kamailio) and agent bindings (nft bind_in4 elements) mid-step:"
echo
echo "| rate (calls/s) | controller | agent | Kamailio | controller / Kamailio | controller, media off | bindings held mid-step |"
echo "|---|---|---|---|---|---|---|"
for rate in "${RATE_LIST[@]}"; do
  echo "| $rate | ${R[portcullis,cpu_at_$rate]:-not run} | ${R[portcullis,agent_at_$rate]:-not run} | ${R[kamailio,cpu_at_$rate]:-not run} | $(ratio "${R[portcullis,cpu_at_$rate]:-x}" "${R[kamailio,cpu_at_$rate]:-x}") | ${R[portcullis-nomedia,cpu_at_$rate]:-not run} | ${R[portcullis,nft_at_$rate]:-} |"
done
echo
echo "Holes really open: ${R[portcullis,media]:-not checked}; portcullisctl list mid delay-phase: ${R[portcullis,listed]:-?} bindings; left on the agent: ${R[portcullis,left]:-?}"

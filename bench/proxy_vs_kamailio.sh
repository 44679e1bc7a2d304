#!/bin/bash
# Signalling-core benchmark: portcullis-controller against Kamailio doing the same job (in-memory
# registrar + record-routing transaction-stateful proxy), the same SIPp load against both, one
# after the other in one run, UDP on 127.0.0.1 only.
#
#  (a) REGISTER: 2 x N distinct users (SIPp injection files), fixed rate
#        -> server CPU seconds per 1 000 REGISTERs, memory per registration (PSS and RSS growth
#           over the second batch once its transactions ended, summed over every server process:
#           Kamailio forks children)
#  (b) calls caller -> proxy -> registered callee (INVITE/180/200/ACK/BYE) at rising rates
#        -> highest rate with < 0.1 % failed calls (and the offered rate really reached),
#           server CPU seconds per 1 000 calls at each rate
#
# CPU = utime + stime from /proc/<pid>/stat summed over all server processes (all threads of
# each). Fair setting: Kamailio with 2 UDP workers (children=2), the controller with 2 threads,
# on a 2-vCPU machine that also runs SIPp. Output: a markdown table on stdout (+ a log directory).
#
# Usage: bench/proxy_vs_kamailio.sh [path/to/portcullis-controller]
#   default binary: build/release/controller/app/portcullis-controller
#   (cmake --preset release && cmake --build --preset release --target portcullis-controller)
# Env: USERS (20000 per batch) REG_RATE (2000/s) REG_SETTLE (34 s) RATES ("100 ... 2800")
#      STEP_SECONDS (10) CPU_RATE (rate whose CPU/call is compared, default the second rate)
#      KEEP=1 keeps the work directory; SERVERS ("portcullis kamailio") to run only one. Installs kamailio with apt-get when missing (needs root).
# Bounded: about 3-4 minutes per server at the defaults (< 10 min in total).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONTROLLER=${1:-$ROOT/build/release/controller/app/portcullis-controller}
SC="$ROOT/bench/kamailio/sipp"
KCFG="$ROOT/bench/kamailio/kamailio.cfg"
TOOL=(python3 "$ROOT/tests/integration/sip_proxy/sip_tool.py")
USERS=${USERS:-20000}
REG_RATE=${REG_RATE:-2000}
RATES=${RATES:-100 200 400 700 1000 1400 2000 2800}
# callers: one UDP socket per call (many client flows, as in a real deployment; with a single
# socket SO_REUSEPORT would put every request on one of the controller's shards)
UAC_MODE=${UAC_MODE:-un}
REG_SETTLE=${REG_SETTLE:-34}      # > Timer J (64*T1 = 32 s): REGISTER transactions have ended
STEP_SECONDS=${STEP_SECONDS:-10}
read -r -a RATE_LIST <<<"$RATES"
CPU_RATE=${CPU_RATE:-${RATE_LIST[1]:-${RATE_LIST[0]}}}
CLK_TCK=$(getconf CLK_TCK)

command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester"; exit 1; }
[[ " ${SERVERS:-portcullis} " != *" portcullis "* ]] || [ -x "$CONTROLLER" ] || { echo "$CONTROLLER not built (cmake --preset release && cmake --build --preset release --target portcullis-controller)"; exit 1; }
if ! command -v kamailio >/dev/null; then
  echo "installing kamailio (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio >/dev/null || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio >/dev/null; }
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y kamailio >/dev/null
  fi
  command -v kamailio >/dev/null || { echo "kamailio could not be installed"; exit 1; }
fi
KMOD=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep -m1 '/modules/tm.so$')")

W=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
SERVER_PID=""
BG=()
cleanup() {
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

# -------------------------------------------------------------------------- /proc accounting
server_pids() {  # the server and its children (Kamailio: attendant + workers + timers)
  echo "$SERVER_PID"
  pgrep -P "$SERVER_PID" 2>/dev/null
}
cpu_ticks() {  # utime + stime of every server process (all threads)
  local p t=0 v
  for p in $(server_pids); do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
mem_kb() {  # "<PSS kB> <RSS kB>" summed over the server processes
  local p pss=0 rss=0 a b
  for p in $(server_pids); do
    read -r a b < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null)
    pss=$((pss + ${a:-0})); rss=$((rss + ${b:-0}))
  done
  echo "$pss $rss"
}
nproc_server() { server_pids | wc -l; }

# sipp_stats <stat csv>: "<successful> <failed>" from the last line of -trace_stat
sipp_stats() {
  python3 - "$1" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head, last = rows[0], rows[-1]
ok = int(last[head.index("SuccessfulCall(C)")])
bad = int(last[head.index("FailedCall(C)")])
print(ok, bad)
EOF
}

read -r PORT UAS_PORT UAC_PORT CP1 CP2 CP3 MP1 MP2 MP3 <<<"$("${TOOL[@]}" ports 9)"

# users1.csv, users2.csv: 2 x N unique users
{ echo SEQUENTIAL; for i in $(seq -f "%07g" 1 "$USERS"); do echo "u$i"; done; } >"$W/users1.csv"
{ echo SEQUENTIAL; for i in $(seq -f "%07g" $((USERS + 1)) $((2 * USERS))); do echo "u$i"; done; } >"$W/users2.csv"
printf 'SEQUENTIAL\nbench\n' >"$W/callee.csv"

start_server() {
  local which=$1
  if [ "$which" = portcullis ]; then
    cat >"$W/controller.yaml" <<EOF
controller:
  id: bench
  log_level: warn
  threads: 2
listen:
  - transport: udp
    address: 127.0.0.1:$PORT
domains: [example.test]
registrar:
  enabled: true
  default_expires: 3600
  min_expires: 60
  max_expires: 7200
  max_contacts_per_aor: 10
  allowed_sources: [127.0.0.0/8]
proxy:
  record_route: true
  strict: false
  timer_c: 181s
  max_forwards_options_200: true
limits:
  max_message_bytes: 65535
  max_connections: 10000
  max_connections_per_ip: 1000
  idle_timeout: 600s
  # the default (200000, split over the shards) sheds with 503 from ~1400 calls/s: every call
  # keeps ~3 transactions for 32 s after it ends (RFC 6026 Accepted, Timer J)
  max_transactions: 2000000
timers: { t1: 500ms, t2: 4s, t4: 5s }
dns:
  servers: [127.0.0.1:9]
EOF
    "$CONTROLLER" --config "$W/controller.yaml" >"$W/portcullis.log" 2>&1 &
    SERVER_PID=$!
  else
    sed "s|^loadpath .*|loadpath \"$KMOD/\"|" "$KCFG" >"$W/kamailio.cfg"
    kamailio -f "$W/kamailio.cfg" -DD -E -Y "$W" -P "$W/kamailio.pid" \
      -l "udp:127.0.0.1:$PORT" -m 256 -M 16 >"$W/kamailio.log" 2>&1 &
    SERVER_PID=$!
  fi
  for _ in $(seq 1 100); do
    "${TOOL[@]}" probe udp "$PORT" OPTIONS >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$which did not start; log:" >&2
  tail -20 "$W/$which.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}

sipp_common() {  # sipp_common <name> <port> <cp> <mp> [transport mode]
  local extra=""
  [ "${5:-u1}" = un ] && extra="-max_socket 4000"
  echo "-i 127.0.0.1 -p $2 -cp $3 -mp $4 -nostdin -t ${5:-u1} $extra -trace_stat -stf $W/$1.stat.csv -fd 1 -trace_err -error_file $W/$1.err -recv_timeout 5000"
}

declare -A R  # results: R[<server>,<metric>]

bench_server() {
  local s=$1 c0 c1 rss0 pss1 rss1 pss2 rss2 ok bad t0 t1 secs
  log "== $s: start"
  start_server "$s"
  R[$s,procs]=$(nproc_server)
  sleep 1

  # (a) REGISTER: two batches of N unique users. Memory per registration is the growth over the
  # second batch, each batch measured once its transactions have ended (the controller's registrar
  # answers through a server transaction, kept 64*T1 = 32 s after the 200 on UDP, Timer J; the
  # first batch's freed transaction memory is reused by the second). The growth right after the
  # first batch (transactions included) is reported too.
  local b ok_all=0 bad_all=0 cticks=0 secs_all=0 rssA
  read -r _ rss0 <<<"$(mem_kb)"
  for b in 1 2; do
    c0=$(cpu_ticks)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    timeout $((USERS / REG_RATE + 60)) sipp $(sipp_common "$s-reg$b" "$UAC_PORT" "$CP1" "$MP1") \
      -sf "$SC/bench_register.xml" -inf "$W/users$b.csv" -r "$REG_RATE" -m "$USERS" -l 2000 \
      -timeout $((USERS / REG_RATE + 50))s "127.0.0.1:$PORT" >"$W/$s-reg$b.out" 2>&1
    t1=$(date +%s.%N)
    c1=$(cpu_ticks)
    read -r ok bad <<<"$(sipp_stats "$W/$s-reg$b.stat.csv")"
    ok_all=$((ok_all + ok)); bad_all=$((bad_all + bad)); cticks=$((cticks + c1 - c0))
    secs_all=$(awk -v x="$secs_all" -v a="$t0" -v b="$t1" 'BEGIN { print x + b - a }')
    if [ $b = 1 ]; then
      sleep 1
      read -r _ rssA <<<"$(mem_kb)"
      R[$s,mem_gross]=$(awk -v d=$((rssA - rss0)) -v n="$ok" 'BEGIN { printf "%.0f", n ? d * 1024 / n : 0 }')
    fi
    log "$s REGISTER batch $b: $ok ok, $bad failed; waiting ${REG_SETTLE}s for the transactions to end"
    sleep "$REG_SETTLE"
    if [ $b = 1 ]; then read -r pss1 rss1 <<<"$(mem_kb)"; else read -r pss2 rss2 <<<"$(mem_kb)"; fi
  done
  R[$s,reg_ok]=$ok_all; R[$s,reg_bad]=$bad_all
  R[$s,reg_cpu]=$(awk -v c="$cticks" -v k="$CLK_TCK" -v n="$ok_all" 'BEGIN { printf "%.3f", n ? c / k / n * 1000 : 0 }')
  R[$s,reg_rate]=$(awk -v n="$ok_all" -v t="$secs_all" 'BEGIN { printf "%.0f", n / t }')
  R[$s,mem_pss]=$(awk -v d=$((pss2 - pss1)) -v n="$USERS" 'BEGIN { printf "%.0f", d * 1024 / n }')
  R[$s,mem_rss]=$(awk -v d=$((rss2 - rss1)) -v n="$USERS" 'BEGIN { printf "%.0f", d * 1024 / n }')
  log "$s REGISTER: $ok_all ok, $bad_all failed, ${R[$s,reg_rate]}/s achieved, CPU ${R[$s,reg_cpu]} s per 1000; memory per registration: +${R[$s,mem_pss]} B PSS, +${R[$s,mem_rss]} B RSS (2nd batch, settled), +${R[$s,mem_gross]} B RSS right after the 1st batch"

  # (b) calls: register the callee from the port the UAS then listens on
  # shellcheck disable=SC2046
  timeout 20 sipp $(sipp_common "$s-calleereg" "$UAS_PORT" "$CP2" "$MP2") -sf "$SC/bench_register.xml" \
    -inf "$W/callee.csv" -m 1 -timeout 10s "127.0.0.1:$PORT" >"$W/$s-calleereg.out" 2>&1 \
    || { log "$s: callee registration failed"; }
  # shellcheck disable=SC2046
  sipp $(sipp_common "$s-uas" "$UAS_PORT" "$CP2" "$MP2") -sf "$SC/bench_uas.xml" \
    >"$W/$s-uas.out" 2>&1 &
  local uas=$!
  BG+=("$uas")
  sleep 0.5
  R[$s,best]=0
  local rate n
  for rate in "${RATE_LIST[@]}"; do
    n=$((rate * STEP_SECONDS))
    c0=$(cpu_ticks)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    timeout $((STEP_SECONDS * 3 + 30)) sipp $(sipp_common "$s-call-$rate" "$UAC_PORT" "$CP3" "$MP3" "$UAC_MODE") \
      -sf "$SC/bench_uac.xml" -s bench -r "$rate" -m "$n" -l $((rate * 5)) \
      -timeout $((STEP_SECONDS * 3 + 20))s "127.0.0.1:$PORT" >"$W/$s-call-$rate.out" 2>&1
    t1=$(date +%s.%N)
    c1=$(cpu_ticks)
    read -r ok bad <<<"$(sipp_stats "$W/$s-call-$rate.stat.csv" 2>/dev/null || echo "0 $n")"
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local achieved cpu failpct
    achieved=$(awk -v n="$ok" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    cpu=$(awk -v c=$((c1 - c0)) -v k="$CLK_TCK" -v n="$ok" 'BEGIN { printf "%.3f", n ? c / k / n * 1000 : 0 }')
    failpct=$(awk -v b="$bad" -v n="$n" 'BEGIN { printf "%.2f", 100 * b / n }')
    R[$s,cpu_at_$rate]=$cpu
    log "$s calls at $rate/s: $ok ok, $bad failed ($failpct %) in ${secs}s (~$achieved/s), CPU $cpu s per 1000 calls"
    # sustained: < 0.1 % failed, every call done, and the offered rate held (SIPp paced, 10 % slack)
    if awk -v b="$bad" -v ok="$ok" -v n="$n" -v s="$secs" -v d="$STEP_SECONDS" \
         'BEGIN { exit !(b * 1000 < n && ok + b >= n && s <= d * 1.1 + 6) }'; then
      R[$s,best]=$rate
    else
      break
    fi
  done
  kill "$uas" 2>/dev/null; wait "$uas" 2>/dev/null
  stop_server
}

log "work directory $W; users $USERS at $REG_RATE/s; call rates: $RATES (${STEP_SECONDS}s each)"
for s in ${SERVERS:-portcullis kamailio}; do
  bench_server "$s"
  sleep 2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
cpu_call_p=${R[portcullis,cpu_at_$CPU_RATE]:-n/a}
cpu_call_k=${R[kamailio,cpu_at_$CPU_RATE]:-n/a}
ver=$(kamailio -v 2>/dev/null | head -1 | awk '{ print $3 }')
cat <<EOF

| Metric (UDP, 127.0.0.1) | Portcullis | Kamailio ${ver} | Portcullis / Kamailio | Goal |
|---|---|---|---|---|
| server processes (threads in one process for Portcullis) | ${R[portcullis,procs]:-n/a} | ${R[kamailio,procs]:-n/a} | | |
| REGISTER: CPU s per 1 000 (2 x ${USERS} unique users at ${REG_RATE}/s) | ${R[portcullis,reg_cpu]:-n/a} | ${R[kamailio,reg_cpu]:-n/a} | $(ratio "${R[portcullis,reg_cpu]:-n/a}" "${R[kamailio,reg_cpu]:-n/a}") | ≤ 0.5 |
| REGISTER: failed / achieved rate | ${R[portcullis,reg_bad]:-n/a} / ${R[portcullis,reg_rate]:-n/a}/s | ${R[kamailio,reg_bad]:-n/a} / ${R[kamailio,reg_rate]:-n/a}/s | | |
| memory per registration, PSS growth, settled (B) | ${R[portcullis,mem_pss]:-n/a} | ${R[kamailio,mem_pss]:-n/a} | $(ratio "${R[portcullis,mem_pss]:-n/a}" "${R[kamailio,mem_pss]:-n/a}") | ≤ 1 024 B |
| memory per registration, RSS growth summed, settled (B) | ${R[portcullis,mem_rss]:-n/a} | ${R[kamailio,mem_rss]:-n/a} | $(ratio "${R[portcullis,mem_rss]:-n/a}" "${R[kamailio,mem_rss]:-n/a}") | |
| memory per registration incl. live REGISTER transactions, RSS right after batch 1 (B) | ${R[portcullis,mem_gross]:-n/a} | ${R[kamailio,mem_gross]:-n/a} | | |
| calls: CPU s per 1 000 calls at ${CPU_RATE}/s | ${cpu_call_p} | ${cpu_call_k} | $(ratio "$cpu_call_p" "$cpu_call_k") | ≤ 0.8 |
| calls: highest rate with < 0.1 % failed (of: ${RATES}) | ${R[portcullis,best]:-n/a}/s | ${R[kamailio,best]:-n/a}/s | $(ratio "${R[portcullis,best]:-n/a}" "${R[kamailio,best]:-n/a}") | |
EOF
echo
echo "CPU s per 1 000 calls at each rate (Portcullis / Kamailio):"
echo
echo "| rate (calls/s) | Portcullis | Kamailio |"
echo "|---|---|---|"
for rate in "${RATE_LIST[@]}"; do
  echo "| $rate | ${R[portcullis,cpu_at_$rate]:-not run} | ${R[kamailio,cpu_at_$rate]:-not run} |"
done

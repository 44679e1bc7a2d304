#!/bin/bash
# End-to-end test of the running portcullis-controller (registrar + record-routing stateful proxy)
# driven by SIPp over UDP, TCP and TLS, plus the RFC 4475 torture messages and a garbage flood.
#
#   sipp (alice, UAC) ──┐                        ┌── sipp (bob / carol / dave: UAS, registered
#                       ├─► portcullis-controller ┤    first over the same socket / connection)
#   sip_tool.py ────────┘   127.0.0.1, free ports └── sip_tool.py sink (outbound proxy, RFC 4475)
#
# Everything listens on and talks to 127.0.0.1 only. Ports are picked free at start; TLS
# certificates are made with the openssl CLI in a temporary directory (never committed).
# Debian's sipp is built without OpenSSL: for TLS it then speaks TCP to a small relay
# (sip_tool.py relay) that holds one TLS connection to the controller per sipp connection, so the
# controller really sees TLS flows (and must send the INVITE back over the registered one).
# A sipp built with TLS is used directly (-t l1 -tls_cert -tls_key).
#
# Usage: run.sh <portcullis-controller> <rfc4475-dir>
# Env:   SIP_PROXY_KEEP=1 keeps the temporary directory (logs, sipp traces);
#        SIP_PROXY_ONLY="udp tcp" restricts the transports of the SIPp part;
#        SIP_PROXY_FLOOD_SECONDS (default 3) per transport.
# Exit:  0 pass, 1 failure, 77 skipped (sipp not installed).
set -u

CONTROLLER=${1:?usage: run.sh <portcullis-controller> <rfc4475-dir>}
RFC4475=${2:?usage: run.sh <portcullis-controller> <rfc4475-dir>}
HERE=$(cd "$(dirname "$0")" && pwd)
SC="$HERE/scenarios"
TOOL=(python3 "$HERE/sip_tool.py")
TRANSPORTS=${SIP_PROXY_ONLY:-udp tcp tls}
FLOOD_SECONDS=${SIP_PROXY_FLOOD_SECONDS:-3}
DOM=example.test

if ! command -v sipp >/dev/null 2>&1; then
  echo "SKIP: sipp not installed (scripts/setup.sh installs the Debian package sip-tester)"
  exit 77
fi
for tool in python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool not installed"; exit 1; }
done
[ -x "$CONTROLLER" ] || { echo "FAIL: $CONTROLLER is not built (ninja portcullis-controller)"; exit 1; }
[ -f "$RFC4475/expectations.tsv" ] || { echo "FAIL: no RFC 4475 data in $RFC4475"; exit 1; }

TMP=$(mktemp -d /tmp/portcullis-sip-proxy.XXXXXX)
CTL_PID=""
BG=()           # background helpers we started (UAS sipps, the TLS relay)
START=$(date +%s.%N)
PASSED=0
FAILED=()

cleanup() {
  for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
  [ -n "$CTL_PID" ] && kill -9 "$CTL_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "${SIP_PROXY_KEEP:-0}" = 1 ]; then echo "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

elapsed() { awk -v s="$START" -v n="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", n - s }'; }
say() { echo "[$(elapsed)] $*"; }
pass() { PASSED=$((PASSED + 1)); say "  PASS  $*"; }
fail() { FAILED+=("$1"); say "  FAIL  $*"; }
free_ports() { "${TOOL[@]}" ports "$1" --avoid $SIP_PORT $TLS_PORT $SINK_PORT $RELAY_PORT $DNS_PORT; }

# Show a failed sipp run: its screen, errors, log actions and the last messages it saw.
show_sipp() {
  local name=$1 f
  for f in "$TMP/$name.out" "$TMP/$name.err" "$TMP/$name.log"; do
    [ -s "$f" ] || continue
    echo "    ---- $(basename "$f")"
    grep -v '^\s*$' "$f" | tail -n 25 | sed 's/^/    | /'
  done
  if [ -s "$TMP/$name.msg" ]; then
    echo "    ---- $(basename "$TMP/$name.msg") (last 40 lines)"
    tail -n 40 "$TMP/$name.msg" | sed 's/^/    | /'
  fi
}
show_controller() {
  echo "    ---- controller log (last 30 lines)"
  tail -n 30 "$TMP/controller.log" | sed 's/^/    | /'
}

alive() { kill -0 "$CTL_PID" 2>/dev/null; }

# ------------------------------------------------------------------------------ certificates
say "certificates (openssl, EC P-256) in $TMP"
(
  cd "$TMP" || exit 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=Portcullis test CA" -keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=sipp" \
    -keyout client.key -out client.csr
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out client.pem
) >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log"; echo "FAIL: openssl"; exit 1; }

# ----------------------------------------------------------------------------------- ports
read -r SIP_PORT TLS_PORT SINK_PORT RELAY_PORT DNS_PORT <<<"$("${TOOL[@]}" ports 5)"
[ -n "$DNS_PORT" ] || { echo "FAIL: no free ports"; exit 1; }

SIPP_TLS=0
if sipp -t l1 -sn uac -m 0 -nostdin -timeout 1s 127.0.0.1:1 2>&1 | grep -q "compile SIPp with OpenSSL"; then
  SIPP_TLS=0
else
  SIPP_TLS=1
fi

# ---------------------------------------------------------------------------------- config
cat >"$TMP/controller.yaml" <<EOF
# written by tests/integration/sip_proxy/run.sh
controller:
  id: ctl-it
  log_level: info
  threads: 2
listen:
  - transport: udp
    address: 127.0.0.1:$SIP_PORT
  - transport: tcp
    address: 127.0.0.1:$SIP_PORT
  - transport: tls
    address: 127.0.0.1:$TLS_PORT
    cert: $TMP/server.pem
    key: $TMP/server.key
# example.test for the SIPp part; the RFC 4475 hosts so their valid requests end here (404 /
# REGISTER 200) instead of being routed anywhere.
domains: [$DOM, example.com, example.net, example.org, company.com, chair-dnrc.example.com, registrar.example.com]
registrar:
  enabled: true
  default_expires: 3600
  min_expires: 60
  max_expires: 7200
  max_contacts_per_aor: 10
  allowed_sources: [127.0.0.0/8]
proxy:
  record_route: true
  strict: true
  timer_c: 181s
  max_forwards_options_200: true
  routes:
    # a static route back to the proxy itself: the 482 test
    - domain: loop.test
      uri: sip:127.0.0.1:$SIP_PORT;lr
  # any other domain goes to a local sink (never out of the machine)
  outbound_proxy: sip:127.0.0.1:$SINK_PORT
limits:
  max_message_bytes: 65535
  max_connections: 10000
  max_connections_per_ip: 1000
  idle_timeout: 600s
  max_transactions: 200000
timers: { t1: 500ms, t2: 4s, t4: 5s }
dns:
  # nothing listens there: no lookup leaves the machine
  servers: [127.0.0.1:$DNS_PORT]
EOF

say "portcullis-controller: UDP+TCP 127.0.0.1:$SIP_PORT, TLS 127.0.0.1:$TLS_PORT (sink $SINK_PORT)"
"$CONTROLLER" --config "$TMP/controller.yaml" >"$TMP/controller.log" 2>&1 &
CTL_PID=$!
ready=0
for _ in $(seq 1 100); do
  alive || break
  if "${TOOL[@]}" probe udp "$SIP_PORT" OPTIONS >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
if [ $ready != 1 ]; then
  echo "FAIL: the controller did not answer OPTIONS within 10 s"
  show_controller
  exit 1
fi
say "controller up (pid $CTL_PID)"

if [ $SIPP_TLS = 0 ]; then
  "${TOOL[@]}" relay "$RELAY_PORT" "$TLS_PORT" --ca "$TMP/ca.pem" >"$TMP/relay.log" 2>&1 &
  BG+=($!)
  for _ in $(seq 1 50); do grep -q ready "$TMP/relay.log" 2>/dev/null && break; sleep 0.1; done
  say "sipp has no TLS: TLS tests go sipp -TCP-> relay 127.0.0.1:$RELAY_PORT -TLS-> controller"
fi

# ------------------------------------------------------------------------------ sipp helpers
# sipp_args <transport> <name>: the common options of one sipp run (in array SIPP)
sipp_args() {
  local tp=$1 name=$2 p cp mp
  read -r p cp mp <<<"$(free_ports 3)"
  SIPP=(-i 127.0.0.1 -p "$p" -cp "$cp" -mp "$mp" -nostdin -key dom "$DOM"
        -trace_err -error_file "$TMP/$name.err" -trace_msg -message_file "$TMP/$name.msg"
        -trace_logs -log_file "$TMP/$name.log" -recv_timeout 8000)
  case $tp in
    udp) SIPP+=(-t u1 -key vt UDP -key ctp udp) ; REMOTE=127.0.0.1:$SIP_PORT ;;
    tcp) SIPP+=(-t t1 -key vt TCP -key ctp tcp) ; REMOTE=127.0.0.1:$SIP_PORT ;;
    tls)
      SIPP+=(-key vt TLS -key ctp tls)
      if [ $SIPP_TLS = 1 ]; then
        SIPP+=(-t l1 -tls_cert "$TMP/client.pem" -tls_key "$TMP/client.key"); REMOTE=127.0.0.1:$TLS_PORT
      else
        SIPP+=(-t t1); REMOTE=127.0.0.1:$RELAY_PORT
      fi ;;
  esac
}

# run_uac <transport> <name> <scenario> [sipp args]: one call, foreground, bounded
run_uac() {
  local tp=$1 name=$2 sf=$3
  shift 3
  sipp_args "$tp" "$name"
  timeout 30 sipp "${SIPP[@]}" -sf "$sf" -m 1 -timeout 20s -timeout_error "$@" "$REMOTE" \
    >"$TMP/$name.out" 2>&1
}

# start_uas <transport> <name> <user> <ooc scenario>: a callee that registers <user> and then
# handles calls with the out-of-call scenario; waits until the registration is confirmed.
start_uas() {
  local tp=$1 name=$2 user=$3 ooc=$4
  sipp_args "$tp" "$name"
  timeout 60 sipp "${SIPP[@]}" -sf "$SC/uas_register.xml" -oocsf "$ooc" -s "$user" -m 1 \
    "$REMOTE" >"$TMP/$name.out" 2>&1 &
  UAS_PID=$!
  BG+=("$UAS_PID")
  for _ in $(seq 1 80); do
    grep -q REGISTERED "$TMP/$name.log" 2>/dev/null && return 0
    kill -0 $UAS_PID 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# wait_log <name> <marker> [tenths]: the UAS logged the marker (it flushes per line)
wait_log() {
  local n=${3:-30}
  for _ in $(seq 1 "$n"); do
    grep -q "$2" "$TMP/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

stop_uas() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# sipp_clean <name>...: no failed check in the sipp error logs. A failed <ereg check_it> does not
# abort the call in sipp 3.6 (it only skips the remaining actions), so every run is checked here.
sipp_clean() {
  local n bad=0
  for n in "$@"; do
    if grep -qE "Failed regexp match|Aborting call|Dead call|receive timeout|unexpected message" "$TMP/$n.err" 2>/dev/null; then
      echo "    $n: $(grep -oE "Failed regexp match: looking in '[^']*', with regexp '[^']*'|Aborting call[^']*|receive timeout[^:]*:[^:]*|Dead call[^']*" "$TMP/$n.err" | head -3)"
      bad=1
    fi
  done
  return $bad
}

# from_template <template> <out> <sed expressions...>
from_template() {
  local in=$1 out=$2
  shift 2
  sed "$@" "$in" >"$out"
}

# ------------------------------------------------------------------------------- the tests
test_register() {
  local tp=$1 name="register-$1"
  if run_uac "$tp" "$name" "$SC/register.xml" -s "alice_$tp" && sipp_clean "$name"; then
    pass "$tp: REGISTER 200 (expires=120), refresh 200 (300), 2nd contact 200, Expires 10 -> 423 Min-Expires 60, old CSeq -> 500, expires=0 -> 200, Contact * -> 200, query -> 200"
  else
    fail "$tp: register" "(sipp exit $?)"
    show_sipp "$name"
  fi
}

test_call() {
  local tp=$1 callee="bob_$1" uas="call-uas-$1" uac="call-uac-$1" rc
  if ! start_uas "$tp" "$uas" "$callee" "$SC/uas_answer.xml"; then
    fail "$tp: call" "(callee $callee did not register)"; show_sipp "$uas"; stop_uas "$UAS_PID"; return
  fi
  run_uac "$tp" "$uac" "$SC/uac_call.xml" -s "alice_$tp" -key callee "$callee"
  rc=$?
  wait_log "$uas" CALL_DONE 20
  stop_uas "$UAS_PID"
  local missing=""
  for m in GOT_INVITE GOT_ACK GOT_BYE CALL_DONE; do grep -q "$m" "$TMP/$uas.log" 2>/dev/null || missing+=" $m"; done
  if [ $rc = 0 ] && [ -z "$missing" ] && sipp_clean "$uac" "$uas"; then
    pass "$tp: alice -> $callee: INVITE/100/180/200 with 2 Record-Route (;lr, pc-flow), ACK and BYE over the record-routed path, 200 to BYE"
  else
    fail "$tp: call" "(caller sipp exit $rc; callee missing:${missing:- none})"
    show_sipp "$uac"; show_sipp "$uas"
  fi
}

test_cancel() {
  local tp=$1 callee="carol_$1" uas="cancel-uas-$1" uac="cancel-uac-$1" rc
  if ! start_uas "$tp" "$uas" "$callee" "$SC/uas_ring_cancel.xml"; then
    fail "$tp: cancel" "(callee did not register)"; show_sipp "$uas"; stop_uas "$UAS_PID"; return
  fi
  run_uac "$tp" "$uac" "$SC/uac_cancel.xml" -s "alice_$tp" -key callee "$callee"
  rc=$?
  wait_log "$uas" CANCEL_DONE 20
  stop_uas "$UAS_PID"
  if [ $rc = 0 ] && grep -q CANCEL_DONE "$TMP/$uas.log" 2>/dev/null \
     && grep -q CANCEL_BRANCH_OK "$TMP/$uas.log" && sipp_clean "$uac" "$uas"; then
    pass "$tp: CANCEL before answer: caller 200 (CANCEL) + 487, callee got CANCEL, 200, 487, ACK"
  else
    fail "$tp: cancel" "(caller sipp exit $rc)"
    show_sipp "$uac"; show_sipp "$uas"
  fi
}

test_fork() {
  local tp=$1 callee="dave_$1" rc pa pb
  if ! start_uas "$tp" "fork-a-$tp" "$callee" "$SC/uas_answer.xml"; then
    fail "$tp: fork" "(contact A did not register)"; show_sipp "fork-a-$tp"; stop_uas "$UAS_PID"; return
  fi
  pa=$UAS_PID
  if ! start_uas "$tp" "fork-b-$tp" "$callee" "$SC/uas_ring_cancel.xml"; then
    fail "$tp: fork" "(contact B did not register)"; show_sipp "fork-b-$tp"; stop_uas "$UAS_PID"; stop_uas "$pa"; return
  fi
  pb=$UAS_PID
  run_uac "$tp" "fork-uac-$tp" "$SC/uac_fork.xml" -s "alice_$tp" -key callee "$callee"
  rc=$?
  wait_log "fork-a-$tp" CALL_DONE 20
  wait_log "fork-b-$tp" CANCEL_DONE 20
  stop_uas "$pa"; stop_uas "$pb"
  if [ $rc = 0 ] && grep -q CALL_DONE "$TMP/fork-a-$tp.log" && grep -q CANCEL_DONE "$TMP/fork-b-$tp.log" \
     && grep -q CANCEL_BRANCH_OK "$TMP/fork-b-$tp.log" && sipp_clean "fork-uac-$tp" "fork-a-$tp" "fork-b-$tp"; then
    pass "$tp: fork to 2 contacts of $callee: A answered (ACK, BYE via proxy), B rang and got CANCEL/487/ACK"
  else
    fail "$tp: fork" "(caller sipp exit $rc)"
    show_sipp "fork-uac-$tp"; show_sipp "fork-a-$tp"; show_sipp "fork-b-$tp"
  fi
}

# reject_case <transport> <label> <status> <R-URI> <Max-Forwards> <extra header or ""> <check header> <check regexp>
reject_case() {
  local tp=$1 st=$3 ruri=$4 mf=$5 extra=$6 chdr=$7 cre=$8 name="$2-$1" sf
  sf="$TMP/$name.xml"
  if [ -n "$extra" ]; then
    from_template "$SC/uac_reject.xml.in" "$sf" -e "s|@EXTRA@|      $extra|"
  else
    from_template "$SC/uac_reject.xml.in" "$sf" -e "/@EXTRA@/d"
  fi
  sed -i -e "s|@RURI@|$ruri|g" -e "s|@MF@|$mf|g" -e "s|@STATUS@|$st|g" \
         -e "s|@CHECK_HDR@|$chdr|g" -e "s|@CHECK_RE@|$cre|g" "$sf"
  if run_uac "$tp" "$name" "$sf" -s "alice_$tp" && sipp_clean "$name"; then
    pass "$tp: INVITE $ruri${extra:+ ($extra)}, Max-Forwards $mf -> $st"
  else
    fail "$tp: INVITE $ruri -> $st" "(sipp exit $?)"
    show_sipp "$name"
  fi
}

options_case() {
  local tp=$1 st=$3 ruri=$4 mf=$5 name="$2-$1" sf
  sf="$TMP/$name.xml"
  from_template "$SC/uac_options.xml.in" "$sf" -e "s|@RURI@|$ruri|g" -e "s|@MF@|$mf|g" -e "s|@STATUS@|$st|g"
  if run_uac "$tp" "$name" "$sf" -s "alice_$tp" && sipp_clean "$name"; then
    pass "$tp: OPTIONS $ruri, Max-Forwards $mf -> $st"
  else
    fail "$tp: OPTIONS $ruri -> $st" "(sipp exit $?)"
    show_sipp "$name"
  fi
}

test_rejects() {
  local tp=$1
  reject_case "$tp" r404 404 "sip:nobody_$tp@$DOM" 70 "" "To:" "tag="
  reject_case "$tp" r483 483 "sip:bob_$tp@$DOM" 0 "" "To:" "tag="
  # loop: loop.test is statically routed to the proxy itself; the copy comes back with our Via
  # and (after one spiral that pops the pushed Route) the same loop hash -> 482 (README: loop
  # detection, RFC 5393 §4.2)
  reject_case "$tp" r482 482 "sip:someone@loop.test" 70 "" "To:" "tag="
  reject_case "$tp" r420 420 "sip:bob_$tp@$DOM" 70 "Proxy-Require: x-no-such-extension" "Unsupported:" "x-no-such-extension"
  reject_case "$tp" r416 416 "urn:service:sos" 70 "" "To:" "tag="
  options_case "$tp" o200mf0 200 "sip:nobody_$tp@$DOM" 0
  options_case "$tp" o200self 200 "sip:127.0.0.1:$SIP_PORT" 70
}

for tp in $TRANSPORTS; do
  say "== SIPp over ${tp^^} =="
  test_register "$tp"
  test_call "$tp"
  test_cancel "$tp"
  test_fork "$tp"
  test_rejects "$tp"
  alive || { fail "$tp: controller died"; show_controller; exit 1; }
done

say "== RFC 4475 torture messages, one UDP datagram each (strict: true) =="
if "${TOOL[@]}" torture "$RFC4475" "$SIP_PORT" "$SINK_PORT" --strict >"$TMP/torture.out" 2>&1; then
  sed 's/^/    /' "$TMP/torture.out"
  pass "RFC 4475: every file handled as expectations.tsv says; OPTIONS answered afterwards"
else
  sed 's/^/    /' "$TMP/torture.out"
  fail "RFC 4475" "(see above)"
fi
alive || { fail "controller died during RFC 4475"; show_controller; exit 1; }

say "== flood: ${FLOOD_SECONDS}s of garbage per transport, then OPTIONS + REGISTER on each =="
if "${TOOL[@]}" flood "$SIP_PORT" "$SIP_PORT" "$TLS_PORT" "$FLOOD_SECONDS" >"$TMP/flood.out" 2>&1; then
  sed 's/^/    /' "$TMP/flood.out"
  pass "flood: still answering on UDP, TCP and TLS"
else
  sed 's/^/    /' "$TMP/flood.out"
  fail "flood" "(see above)"
fi

if alive; then
  pass "controller still running (pid $CTL_PID)"
  kill -TERM "$CTL_PID"
  for _ in $(seq 1 50); do alive || break; sleep 0.1; done
  if alive; then
    fail "controller did not stop within 5 s of SIGTERM"
  else
    wait "$CTL_PID"
    rc=$?
    [ $rc = 0 ] && pass "controller exited 0 on SIGTERM" || fail "controller exit status $rc after SIGTERM"
  fi
  CTL_PID=""
else
  fail "controller died"
fi
if grep -qE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$TMP/controller.log"; then
  fail "sanitizer report in the controller log"
  grep -E -A15 "Sanitizer|runtime error:" "$TMP/controller.log" | head -40 | sed 's/^/    | /'
fi

echo
say "$PASSED passed, ${#FAILED[@]} failed"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf '  failed: %s\n' "${FAILED[@]}"
  show_controller
  exit 1
fi
exit 0

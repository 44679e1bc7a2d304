#!/bin/bash
# NAT lab integration test: the real portcullis-controller drives the real portcullis-agent (nft
# backend, mTLS) in the namespaces of deploy/lab/lablib.sh, and python phones (deploy/lab/labphone.py)
# call across the NAT with RTP. See README.md next to this file for what each step proves.
#
# Usage: run.sh <portcullis-controller> <portcullis-agent> <portcullisctl>
# Exit 0 pass, 1 failure, 77 skipped (not root, tools or namespaces unavailable).
set -u
CONTROLLER=${1:?usage: run.sh <controller> <agent> <portcullisctl>}
AGENT=${2:?usage}
CTL=${3:?usage}
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_PREFIX=pcn$$
LAB_DIR=$(mktemp -d /tmp/portcullis-natlab.XXXXXX)
export LAB_PREFIX LAB_DIR
# shellcheck source=deploy/lab/lablib.sh
. "$HERE/../../../deploy/lab/lablib.sh"

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (network namespaces, nf_tables)"; exit 77; fi
lab_need_root >/dev/null 2>&1 || { echo "SKIP: tools missing (ip nft conntrack python3 openssl)"; exit 77; }
for bin in "$CONTROLLER" "$AGENT" "$CTL"; do
  [ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }
done
if ! ip netns add "${LAB_PREFIX}-probe" 2>/dev/null; then echo "SKIP: cannot create network namespaces"; exit 77; fi
ip netns del "${LAB_PREFIX}-probe"

BG=()
cleanup() {
  local rc=$?
  for pid in "${BG[@]}"; do kill -9 "$pid" 2>/dev/null; done
  if [ "$rc" -ne 0 ] || [ "${NAT_LAB_KEEP:-}" = 1 ]; then
    for f in "$LAB_DIR"/controller.*.log "$LAB_DIR"/agent.*.log; do
      [ -f "$f" ] || continue
      echo "---- $(basename "$f") (last 40 lines)"
      tail -40 "$f"
    done
  fi
  lab_down >/dev/null 2>&1
  [ "${NAT_LAB_KEEP:-}" = 1 ] && echo "kept $LAB_DIR" || rm -rf "$LAB_DIR"
}
trap cleanup EXIT

START=$(date +%s.%N)
FAILS=0
PASSES=0
elapsed() { python3 -c "import time; print('%5.1fs' % (time.time() - $START))"; }
step() { echo; echo "== [$(elapsed)] $*"; }
note() { echo "     $*"; }
pass() { PASSES=$((PASSES + 1)); echo "  PASS $*"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL $*"; }
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
field() { lab_json_field "$@"; }
ge() { [ "${1:-0}" -ge "${2:-0}" ] 2>/dev/null; }

no_bindings() { # [seconds to wait]
  local i
  for i in $(seq 1 $((${1:-3} * 10))); do
    [ -z "$(lab_bindings)" ] && return 0
    sleep 0.1
  done
  note "still bound: $(lab_bindings | cut -c1-300)"
  return 1
}
no_conntrack() { # port...
  local p
  for p in "$@"; do
    if lab_conntrack_udp "(sport|dport)=$p " >/dev/null; then
      note "conntrack still has: $(lab_conntrack_udp "(sport|dport)=$p " | head -2)"
      return 1
    fi
  done
  return 0
}

# uas NAME NS IP USER RTP [labphone uas args]: a registered callee in the background.
uas() {
  local name=$1 ns=$2 ip=$3 user=$4 rtp=$5
  shift 5
  local proxy=$CTL_WAN:5060
  [ "$ns" = "$NS_A" ] && proxy=$CTL_LAN:5060
  lab_phone "$ns" uas --sip "$ip:5060" --proxy "$proxy" --user "$user" --rtp "$rtp" "$@" >"$LAB_DIR/$name.uas" 2>&1 &
  UAS_PID=$!
  BG+=("$UAS_PID")
  lab_wait_event "$LAB_DIR/$name.uas" registered 5
}
# uac NAME NS IP USER RTP TO [labphone uac args]: the caller in the background.
uac() {
  local name=$1 ns=$2 ip=$3 user=$4 rtp=$5 to=$6
  shift 6
  local proxy=$CTL_WAN:5060
  [ "$ns" = "$NS_A" ] && proxy=$CTL_LAN:5060
  lab_phone "$ns" uac --sip "$ip:5060" --proxy "$proxy" --user "$user" --to "$to" --rtp "$rtp" "$@" \
    >"$LAB_DIR/$name.uac" 2>&1 &
  UAC_PID=$!
  BG+=("$UAC_PID")
}

# A full call with media; the public port of the LAN phone's binding is checked against stray
# packets from host X while the call is up.
media_call() { # name caller_ns caller_ip caller_user caller_rtp callee_ns callee_ip callee_user callee_rtp [uac args]
  local name=$1 cns=$2 cip=$3 cuser=$4 crtp=$5 dns=$6 dip=$7 duser=$8 drtp=$9
  shift 9
  uas "$name" "$dns" "$dip" "$duser" "$drtp" || { fail "$name: $duser registers"; return; }
  uac "$name" "$cns" "$cip" "$cuser" "$crtp" "$duser" --talk 4 "$@"
  if ! lab_wait_event "$LAB_DIR/$name.uac" final 10 || [ "$(field "$LAB_DIR/$name.uac" final status)" != 200 ]; then
    fail "$name: call answered (got: $(field "$LAB_DIR/$name.uac" final status))"
    cut -c1-300 "$LAB_DIR/$name.uac" "$LAB_DIR/$name.uas" | sed 's/^/     | /'
    wait "$UAC_PID" "$UAS_PID" 2>/dev/null
    return
  fi
  pass "$name: 200 OK; caller sees the callee's media at $(field "$LAB_DIR/$name.uac" final remote_media)"
  sleep 1
  local b
  b=$(lab_bindings | wc -l)
  check "$name: the agent holds $b binding(s) for the call" ge "$b" 1
  local pub lan_ns
  if [ "$cns" = "$NS_A" ]; then
    pub=$(field "$LAB_DIR/$name.uas" answered remote_media); lan_ns=uac
  else
    pub=$(field "$LAB_DIR/$name.uac" final remote_media); lan_ns=uas
  fi
  check "$name: the WAN side sees the LAN phone's media at the public address ($pub)" \
    bash -c "[[ '$pub' == $PUB:* ]]"
  lab_phone "$NS_X" stray --src "$X_IP:7777" --dst "$pub" --count 10 >/dev/null
  wait "$UAC_PID"
  wait "$UAS_PID"
  local sent echoed rx stray
  sent=$(field "$LAB_DIR/$name.uac" media sent)
  echoed=$(field "$LAB_DIR/$name.uac" media echoed)
  rx=$(field "$LAB_DIR/$name.uas" bye rx)
  if [ "$lan_ns" = uac ]; then stray=$(field "$LAB_DIR/$name.uac" media stray); else stray=$(field "$LAB_DIR/$name.uas" bye stray); fi
  check "$name: media both ways: caller sent $sent, callee got $rx, caller got $echoed echoes" \
    bash -c "[ ${rx:-0} -ge $(( ${sent:-1} * 8 / 10 )) ] && [ ${echoed:-0} -ge $(( ${sent:-1} * 7 / 10 )) ] && [ ${sent:-0} -ge 100 ]"
  check "$name: 10 stray packets from $X_IP to $pub dropped (reached the phone: ${stray:-?})" test "${stray:-1}" -eq 0
  check "$name: BYE answered 200" test "$(field "$LAB_DIR/$name.uac" bye status)" = 200
  check "$name: after BYE no binding is left" no_bindings 3
  check "$name: after BYE conntrack holds no flow of the call (ports ${pub##*:}, $crtp, $drtp)" \
    no_conntrack "${pub##*:}" "$crtp" "$drtp"
  local after
  after=$(lab_phone "$NS_X" stray --src "$X_IP:7778" --dst "$pub" --count 3 >/dev/null; echo done)
  : "$after"
}

# ------------------------------------------------------------------------------------------
step "lab up: namespaces, PKI, agent (nft, mTLS), controller (FCP client, media step)"
if ! lab_up 60s; then fail "lab up"; exit 1; fi
check "agent owns table inet $TABLE with a policy-drop forward chain" \
  bash -c "ip netns exec $NS_RTR nft list chain inet $TABLE filter_fwd | grep -q 'policy drop'"
sleep 1
check "controller up with an FCP session (no binding yet)" no_bindings 1

step "call A (LAN, behind the NAT) -> B (WAN)"
media_call AB "$NS_A" $A_IP alice 4000 "$NS_B" $B_IP bob 6000

step "call B (WAN) -> A (LAN): A registered through the controller's LAN leg"
media_call BA "$NS_B" $B_IP bob 6002 "$NS_A" $A_IP alice 4002

step "call C (home office behind a second NAT) -> A: latch on C's public address"
media_call CA "$NS_C" $C_IP carol 8000 "$NS_A" $A_IP alice 4004 --register
check "CA: A was told to send to C's NAT address, not its private one (far-end SDP fix: $(field "$LAB_DIR/CA.uas" answered remote_media))" \
  test "$(field "$LAB_DIR/CA.uas" answered remote_media)" = "$HOME_WAN:8000"

step "the callee hangs up: its BYE comes from its own 4-tuple (any shard) and still releases the holes"
# With controller.threads: 2 the callee's requests may hash to another shard than the caller's
# (SO_REUSEPORT); our Record-Route names the shard holding the call (pc-shard), which gets the BYE.
# Five callee ports, five 4-tuples: the odds that none lands on the other shard are 1 in 32.
for port in 5070 5071 5072 5073 5074; do
  name=HB$port
  rtp=$((2 * (port - 5070)))
  lab_phone "$NS_B" uas --sip "$B_IP:$port" --proxy "$CTL_WAN:5060" --user "bob$port" --rtp $((6040 + rtp)) \
    --hangup-after 2 --wait 15 >"$LAB_DIR/$name.uas" 2>&1 &
  UAS_PID=$!
  BG+=("$UAS_PID")
  if ! lab_wait_event "$LAB_DIR/$name.uas" registered 5; then fail "$name: bob$port registers"; continue; fi
  uac "$name" "$NS_A" $A_IP alice $((4040 + rtp)) "bob$port" --talk 1 --await-bye 8
  wait "$UAC_PID"; wait "$UAS_PID"
  st=$(field "$LAB_DIR/$name.uas" bye_sent status)
  check "$name: callee (port $port) hung up: its BYE answered ${st:-nothing}, the caller got it" \
    bash -c "[ '$st' = 200 ] && [ '$(field "$LAB_DIR/$name.uac" bye status)' = 200 ]"
  check "$name: after the callee's BYE no binding is left" no_bindings 3
done

step "far-end NAT keep-alives: a registered phone behind the home NAT gets them"
uas KA "$NS_C" $C_IP carol 8002 --wait 7
wait "$UAS_PID"
check "carol (behind NAT) received keep-alives within 7 s" grep -q '"ev": "keepalive"' "$LAB_DIR/KA.uas"

step "failure paths leave no binding"
uas CANCEL "$NS_B" $B_IP bob 6010 --answer ring --wait 15
uac CANCEL "$NS_A" $A_IP alice 4010 bob --cancel-after 1
wait "$UAC_PID"; kill "$UAS_PID" 2>/dev/null; wait "$UAS_PID" 2>/dev/null
check "CANCEL before answer: caller gets 487" test "$(field "$LAB_DIR/CANCEL.uac" final status)" = 487
check "CANCEL: no binding left" no_bindings 3
for code in 486 603; do
  uas "R$code" "$NS_B" $B_IP bob 6012 --answer $code --wait 10
  uac "R$code" "$NS_A" $A_IP alice 4012 bob
  wait "$UAC_PID"; kill "$UAS_PID" 2>/dev/null; wait "$UAS_PID" 2>/dev/null
  check "$code answer reaches the caller" test "$(field "$LAB_DIR/R$code.uac" final status)" = $code
  check "$code: no binding left" no_bindings 3
done
uas TIMEOUT "$NS_B" $B_IP bob 6014 --answer ring --wait 20
uac TIMEOUT "$NS_A" $A_IP alice 4014 bob --no-answer-timeout 15
wait "$UAC_PID"; kill "$UAS_PID" 2>/dev/null; wait "$UAS_PID" 2>/dev/null
check "unanswered INVITE: Timer C (6 s) ends it with 408" test "$(field "$LAB_DIR/TIMEOUT.uac" final status)" = 408
check "timeout: no binding left" no_bindings 3

step "bad SDP from the LAN: a clear SIP error (policy reject) and no binding"
for v in no-c many unknown-net; do
  uas "SDP$v" "$NS_B" $B_IP bob 6016 --wait 6
  uac "SDP$v" "$NS_A" $A_IP alice 4016 bob --sdp $v --no-answer-timeout 5
  wait "$UAC_PID"; kill "$UAS_PID" 2>/dev/null; wait "$UAS_PID" 2>/dev/null
  st=$(field "$LAB_DIR/SDP$v.uac" final status)
  check "SDP '$v': answered $st $(field "$LAB_DIR/SDP$v.uac" final reason) [$(field "$LAB_DIR/SDP$v.uac" final warning)]" \
    bash -c "[ '$st' = 488 ] || [ '$st' = 415 ]"
  check "SDP '$v': no binding" no_bindings 2
done
uas SDPport0 "$NS_B" $B_IP bob 6018 --wait 8
uac SDPport0 "$NS_A" $A_IP alice 4018 bob --sdp port0 --talk 0.5
wait "$UAC_PID"; wait "$UAS_PID" 2>/dev/null
check "SDP with only port-0 streams: call goes through ($(field "$LAB_DIR/SDPport0.uac" final status)) with no binding" \
  test "$(field "$LAB_DIR/SDPport0.uac" final status)" = 200
check "port-0 call: no binding left" no_bindings 2

step "restart the agent mid-call: media keeps flowing"
uas AR "$NS_B" $B_IP bob 6020 --wait 20
uac AR "$NS_A" $A_IP alice 4020 bob --talk 8
lab_wait_event "$LAB_DIR/AR.uac" final 10
sleep 2
lab_stop_agent TERM
lab_start_agent || fail "agent restart"
note "agent restarted: $(grep -o 'adopted table.*' "$LAB_DIR/agent.$LAB_AGENT_RUNS.log" | head -1 | cut -c1-120)"
wait "$UAC_PID"; wait "$UAS_PID"
sent=$(field "$LAB_DIR/AR.uac" media sent); echoed=$(field "$LAB_DIR/AR.uac" media echoed)
check "agent restart: caller sent $sent, got $echoed echoes (>= 90%)" \
  bash -c "[ ${echoed:-0} -ge $(( ${sent:-1} * 9 / 10 )) ]"
check "agent restart: BYE answered 200" test "$(field "$LAB_DIR/AR.uac" bye status)" = 200
check "agent restart: no binding left after BYE" no_bindings 4
check "agent restart: the controller reconciled (List) and re-created nothing" \
  grep -q "reconciled [0-9]* listed binding(s): 0 missing" "$LAB_DIR/controller.$LAB_CTL_RUNS.log"

step "the agent loses its state mid-call (kill -9, table deleted: new epoch): same public port, media back"
uas LS "$NS_B" $B_IP bob 6024 --wait 25
uac LS "$NS_A" $A_IP alice 4024 bob --talk 9
if lab_wait_event "$LAB_DIR/LS.uac" final 10 && [ "$(field "$LAB_DIR/LS.uac" final status)" = 200 ]; then
  sleep 1
  before=$(lab_binding_publics | tr '\n' ' ')
  LAB_STATE_LOST_AT=$(date +%s.%N)
  lab_agent_lose_state || fail "state loss: agent restarted without its table"
  t_kill=$LAB_STATE_LOST_AT
  t_up=$(date +%s.%N)
  resumed=""
  for _ in $(seq 1 40); do  # <= ~8 s; the phone reports once a second
    resumed=$(lab_media_resumed "$LAB_DIR/LS.uac" "$t_kill" 25) && break
    resumed=""
    sleep 0.2
  done
  after=""
  for _ in $(seq 1 20); do  # the agent may be busy: ask again
    after=$(lab_binding_publics | tr '\n' ' ')
    [ -n "$after" ] && break
    sleep 0.2
  done
  timing=$(python3 -c "r = '${resumed}'; print('agent back %.1f s after its table was deleted, media %s' % ($t_up - $t_kill, ('by +%.1f s after that' % (float(r) - $t_up)) if r else 'not back'))")
  check "state loss: media passes again ($timing)" test -n "$resumed"
  check "state loss: the binding is back on the same public port ($before-> $after)" \
    bash -c "[ -n '$before' ] && [ '$before' = '$after' ]"
  note "controller: $(grep -o 'lost its state.*re-creating [1-9].*' "$LAB_DIR/controller.$LAB_CTL_RUNS.log" | head -1 | cut -c1-150)"
else
  fail "state loss: call answered (got: $(field "$LAB_DIR/LS.uac" final status))"
fi
wait "$UAC_PID"; wait "$UAS_PID"
check "state loss: BYE answered 200" test "$(field "$LAB_DIR/LS.uac" bye status)" = 200
check "state loss: no binding left after BYE" no_bindings 4

step "WAN capture: no LAN address (10.0.0.x) in any SIP message or SDP body"
lab_stop_capture
scan=$(python3 "$SNIFF" scan "$LAB_DIR/wan.pcap" '10\.0\.0\.')
note "$scan"
sip=$(echo "$scan" | sed 's/.*"sip_messages": \([0-9]*\).*/\1/')
leaks=$(echo "$scan" | sed 's/.*"leaks": \([0-9]*\).*/\1/')
check "WAN capture holds SIP ($sip messages) and no 10.0.0.x ($leaks lines)" bash -c "[ $sip -ge 20 ] && [ $leaks -eq 0 ]"

step "kill -9 the controller mid-call: media flows for the grace, then the holes close by themselves"
uas KILL "$NS_B" $B_IP bob 6022 --wait 40
uac KILL "$NS_A" $A_IP alice 4022 bob --talk 20
lab_wait_event "$LAB_DIR/KILL.uac" final 10
sleep 2
lab_stop_controller KILL
t_kill=$(date +%s)
sleep 2.5
e1=$(field "$LAB_DIR/KILL.uac" media echoed)
sleep 1
e2=$(field "$LAB_DIR/KILL.uac" media echoed)
check "3 s after kill -9 media still flows ($e1 -> $e2 echoes)" bash -c "[ ${e2:-0} -gt ${e1:-0} ]"
closed=""
for _ in $(seq 1 120); do
  if [ -z "$(lab_bindings)" ]; then closed=$(( $(date +%s) - t_kill )); break; fi
  sleep 0.1
done
check "holes closed on their own ${closed:-never} s after the kill (session TTL 3 s + orphan grace 5 s)" \
  bash -c "[ -n '$closed' ] && [ '$closed' -ge 5 ] && [ '$closed' -le 12 ]"
sleep 1.5
e3=$(field "$LAB_DIR/KILL.uac" media echoed)
sleep 1.5
e4=$(field "$LAB_DIR/KILL.uac" media echoed)
check "after the holes closed no media passes ($e3 -> $e4 echoes)" bash -c "[ ${e4:-0} -eq ${e3:-0} ]"
kill "$UAC_PID" "$UAS_PID" 2>/dev/null

echo
echo "nat_lab: $PASSES passed, $FAILS failed in $(elapsed)"
[ "$FAILS" -eq 0 ]

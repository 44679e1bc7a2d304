#!/bin/bash
# Namespace test of NftBackend + NetfilterConntrackCleaner against the real kernel.
#
#   wan host (198.51.100.2) --veth-- router (wan0 198.51.100.1 | lan0 10.0.0.1) --veth-- lan host (10.0.0.2)
#
# The driver runs inside the router namespace and programs it; small python UDP senders and
# receivers in the end-host namespaces check what passes. All addresses and traffic stay inside
# the three namespaces this script creates (unique names, deleted on exit).
#
# Usage: run.sh <path to agent_backend_driver>. Exit 0 = pass, 1 = failure, 77 = skipped.
set -u

DRIVER=${1:?usage: run.sh <agent_backend_driver>}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (network namespaces, nf_tables)"
  exit 77
fi
for tool in ip nft conntrack python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done

P="pcab$$"
NS_WAN="${P}w"
NS_RTR="${P}r"
NS_LAN="${P}l"
TABLE="pcab"
TMP=$(mktemp -d)
LISTENERS=()

cleanup() {
  for pid in "${LISTENERS[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for n in "$NS_WAN" "$NS_RTR" "$NS_LAN"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

if ! ip netns add "$NS_WAN" 2>/dev/null; then
  echo "SKIP: cannot create network namespaces"
  exit 77
fi
ip netns add "$NS_RTR" && ip netns add "$NS_LAN" || { echo "SKIP: namespaces"; exit 77; }
for n in "$NS_WAN" "$NS_RTR" "$NS_LAN"; do ip -n "$n" link set lo up; done
ip link add wan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_WAN"
ip link add lan0 netns "$NS_RTR" type veth peer name eth0 netns "$NS_LAN"
ip -n "$NS_WAN" addr add 198.51.100.2/24 dev eth0 && ip -n "$NS_WAN" link set eth0 up
ip -n "$NS_LAN" addr add 10.0.0.2/24 dev eth0 && ip -n "$NS_LAN" link set eth0 up
ip -n "$NS_LAN" route add default via 10.0.0.1
ip -n "$NS_RTR" addr add 198.51.100.1/24 dev wan0 && ip -n "$NS_RTR" link set wan0 up
ip -n "$NS_RTR" addr add 10.0.0.1/24 dev lan0 && ip -n "$NS_RTR" link set lan0 up
ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1

FAILS=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "  PASS $*"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL $*"; }

# drv <epoch> [driver args...]: a fresh process that bootstraps (creating or adopting) then runs
# the given commands. Output goes to $TMP/out; the exit status is the driver's.
drv() {
  local epoch=$1; shift
  ip netns exec "$NS_RTR" "$DRIVER" --table "$TABLE" --wan wan0 --lan lan0 --epoch "$epoch" \
    bootstrap "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  sed 's/^/    | /' "$TMP/out"
  [ -s "$TMP/err" ] && sed 's/^/    ! /' "$TMP/err"
  return $rc
}
out_has() { grep -qF -- "$1" "$TMP/out"; }
snapshot_has() { drv E-probe snapshot >/dev/null && grep -qF -- "$1" "$TMP/out"; }

# Receivers: one per (namespace, port) for the whole run, one line per datagram.
listen() { # ns port
  ip netns exec "$1" python3 -u -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $2))
while True:
    d, a = s.recvfrom(2000)
    print('msg=%s from=%s:%d' % (d.decode(), a[0], a[1]))
" >"$TMP/rx_$1_$2" 2>/dev/null &
  LISTENERS+=($!)
}
send() { # ns sport dst dport msg
  ip netns exec "$1" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $2))
s.sendto(b'$5', ('$3', $4))"
}
expect_rx() { # ns port msg from desc
  for _ in $(seq 1 20); do
    if grep -qF "msg=$3 from=$4" "$TMP/rx_$1_$2" 2>/dev/null; then pass "$5"; return; fi
    sleep 0.1
  done
  fail "$5 (not received; got: $(tr '\n' ' ' <"$TMP/rx_$1_$2"))"
}
expect_drop() { # ns port msg desc
  sleep 0.8
  if grep -qF "msg=$3 " "$TMP/rx_$1_$2" 2>/dev/null; then
    fail "$4 (received: $(grep -F "msg=$3 " "$TMP/rx_$1_$2"))"
  else
    pass "$4"
  fi
}
ct_count() { # mark
  ip netns exec "$NS_RTR" conntrack -L --mark "$1" 2>/dev/null | grep -c .
}

for port in 5000 5002 5100; do listen "$NS_LAN" "$port"; done
for port in 7000 7001 7002 7003 9999; do listen "$NS_WAN" "$port"; done
sleep 0.5

PUB=198.51.100.1
REM=198.51.100.2
PRIV=10.0.0.2

echo "== bootstrap creates the owned table"
if drv E1 caps && out_has "bootstrap adopted=0 epoch=E1"; then pass "created, epoch E1"; else fail "bootstrap"; fi
ip netns exec "$NS_RTR" nft list chain inet "$TABLE" filter_fwd | grep -q "policy drop" \
  && pass "forward chain with policy drop present" || fail "forward chain missing"

echo "== before any hole"
# Source port 7009, not 7000: a packet to the router's own address before the binding exists
# leaves a conntrack entry that would bypass DNAT for that exact tuple later (moby#44742).
send "$NS_WAN" 7009 $PUB 40000 T1-closed
expect_drop "$NS_LAN" 5000 T1-closed "WAN -> public:40000 dropped before apply"

echo "== apply binding 1 (exact pinhole) and binding 2 (latch) in one ChangeSet"
# Userdata uses ',' here only because the driver splits changes on ';'.
drv E1 apply "create map $PUB:40000 $PRIV:5000 0x1001 300000 b=0x1001,o=ctl-a,t=1; \
  create pin $REM:7000 $PRIV:5000 300000 b=0x1001; \
  create map $PUB:40002 $PRIV:5002 0x1002 300000 b=0x1002,o=ctl-a; \
  create latch $REM $PRIV:5002 30000 60000" && out_has "apply OK (4 changes)" \
  && pass "apply 4 changes" || fail "apply 4 changes"
drv E1 snapshot
out_has "map $PUB:40000 $PRIV:5000 mark=0x1001" && out_has "ud=b=0x1001,o=ctl-a,t=1" \
  && pass "snapshot decodes map key/data/mark/userdata" || fail "snapshot map"
out_has "pin $REM:7000 $PRIV:5000" && pass "snapshot decodes pinhole" || fail "snapshot pinhole"
out_has "latch $REM $PRIV:5002" && out_has "lt=60000" && pass "snapshot decodes latch" || fail "snapshot latch"
ip netns exec "$NS_RTR" nft list set inet "$TABLE" pin4 | grep -q 'comment "b=0x1001"' \
  && pass "nft list shows the element comment" || fail "element comment not visible to nft"

echo "== traffic through binding 1"
send "$NS_WAN" 7000 $PUB 40000 T3-in
expect_rx "$NS_LAN" 5000 T3-in "$REM:7000" "allowed remote -> public:40000 delivered to $PRIV:5000"
send "$NS_WAN" 7001 $PUB 40000 T4-otherport
expect_drop "$NS_LAN" 5000 T4-otherport "other remote port -> public:40000 dropped"
send "$NS_LAN" 5000 $REM 7000 T5-out
expect_rx "$NS_WAN" 7000 T5-out "$PUB:40000" "LAN -> remote leaves from the binding's public port"
send "$NS_LAN" 5000 $REM 9999 T6-nohole
expect_drop "$NS_WAN" 9999 T6-nohole "LAN -> remote without pinhole dropped"

echo "== one-shot latch on binding 2"
send "$NS_WAN" 7002 $PUB 40002 T7-latch
expect_rx "$NS_LAN" 5002 T7-latch "$REM:7002" "first packet from signalled remote latches and is delivered"
send "$NS_WAN" 7003 $PUB 40002 T7-second
expect_drop "$NS_LAN" 5002 T7-second "second source port dropped (latch consumed)"
drv E1 snapshot
out_has "pin $REM:7002 $PRIV:5002" && pass "kernel-learned pinhole visible in snapshot" || fail "learned pinhole"
if out_has "latch $REM"; then fail "latch not consumed"; else pass "latch element consumed"; fi
send "$NS_LAN" 5002 $REM 7002 T8-reply
expect_rx "$NS_WAN" 7002 T8-reply "$PUB:40002" "reply through learned pinhole leaves from public:40002"

echo "== release binding 1: delete elements + flush conntrack by mark"
n1=$(ct_count 0x1001); n2=$(ct_count 0x1002)
[ "$n1" -ge 1 ] && [ "$n2" -ge 1 ] && pass "flows carry ct mark (0x1001: $n1, 0x1002: $n2)" \
  || fail "ct marks (0x1001: $n1, 0x1002: $n2)"
drv E1 apply "delete map $PUB:40000 $PRIV:5000 0x1001 0; delete pin $REM:7000 $PRIV:5000 0" flush-mark 0x1001
out_has "apply OK" && pass "delete applied" || fail "delete"
grep -q "^flushed [1-9]" "$TMP/out" && pass "flush_mark deleted $(grep -o 'flushed [0-9]*' "$TMP/out")" || fail "flush_mark count"
[ "$(ct_count 0x1001)" -eq 0 ] && pass "no conntrack entry with mark 0x1001 left" || fail "entries with mark 0x1001 remain"
[ "$(ct_count 0x1002)" -ge 1 ] && pass "binding 2's flows untouched" || fail "binding 2 flows flushed too"
send "$NS_WAN" 7000 $PUB 40000 T9-after-release
expect_drop "$NS_LAN" 5000 T9-after-release "next packet of the released flow dropped (WAN -> LAN)"
send "$NS_LAN" 5000 $REM 7000 T9-out-after-release
expect_drop "$NS_WAN" 7000 T9-out-after-release "next packet of the released flow dropped (LAN -> WAN)"
drv E1 apply "delete map $PUB:40000 $PRIV:5000 0x1001 0; delete pin $REM:7000 $PRIV:5000 0" \
  && pass "delete of absent elements is idempotent (DESTROYSETELEM)" || fail "idempotent delete"
drv E1 --legacy apply "delete pin $REM:7000 $PRIV:5000 0; delete latch $REM $PRIV:5002 0 0" \
  && pass "delete of absent elements is idempotent (pre-6.3 add+delete path)" || fail "legacy idempotent delete"

echo "== kernel timeouts"
drv E1 apply "create pin $REM:7100 $PRIV:5100 2000 short"
snapshot_has "pin $REM:7100" && pass "2 s pinhole present" || fail "2 s pinhole missing"
sleep 3
if snapshot_has "pin $REM:7100"; then fail "2 s pinhole still present after 3 s"; else pass "2 s pinhole expired by itself"; fi
drv E1 apply "create pin $REM:7101 $PRIV:5100 2000 v1" >/dev/null
sleep 1.2
drv E1 apply "upsert pin $REM:7101 $PRIV:5100 2000 v2" >/dev/null
sleep 1.2
snapshot_has "pin $REM:7101 $PRIV:5100" && grep -q "pin $REM:7101 .* ud=v2" "$TMP/out" \
  && pass "upsert (replace) re-armed the timeout and replaced userdata" || fail "upsert replace"
sleep 1.5
if snapshot_has "pin $REM:7101"; then fail "re-armed pinhole did not expire"; else pass "re-armed pinhole expired"; fi
drv E1 --in-place apply "create pin $REM:7102 $PRIV:5100 2000 v1" >/dev/null
sleep 1.2
drv E1 --in-place apply "upsert pin $REM:7102 $PRIV:5100 2000 v2" >/dev/null
sleep 1.2
snapshot_has "pin $REM:7102 $PRIV:5100" && pass "upsert (in-place, Linux >= 6.10) re-armed the timeout" \
  || fail "in-place upsert"
drv E1 --legacy apply "upsert pin $REM:7102 $PRIV:5100 2000 v3" >/dev/null
grep -q "apply OK" "$TMP/out" && snapshot_has "ud=v3" && pass "upsert (pre-6.3 add+delete+add path)" || fail "legacy upsert"

echo "== atomicity: a create of an existing key aborts the whole batch"
drv E1 apply "create pin $REM:7200 $PRIV:5200 60000 new; create map $PUB:40002 $PRIV:5002 0x1002 300000"
rc=$?
[ $rc -eq 3 ] && out_has "apply ERROR ALREADY_EXISTS" \
  && out_has "create bind_in4 element $PUB:40002 -> $PRIV:5002: File exists" \
  && pass "ALREADY_EXISTS naming the failing change" || fail "create-existing error (rc $rc)"
if snapshot_has "pin $REM:7200"; then fail "partial batch left a trace"; else pass "batch left no trace"; fi

echo "== IPv6 pinholes (elements only; no IPv6 traffic)"
drv E1 apply "create pin [2001:db8::2]:7000 [2001:db8:1::2]:5000 60000 v6; create latch 2001:db8::2 [2001:db8:1::2]:5002 60000 60000" \
  && snapshot_has "pin [2001:db8::2]:7000 [2001:db8:1::2]:5000" && pass "pin6/latch6 apply + snapshot" \
  || fail "ipv6 elements"
drv E1 apply "delete pin [2001:db8::2]:7000 [2001:db8:1::2]:5000 0; delete latch 2001:db8::2 [2001:db8:1::2]:5002 0 0" \
  && pass "pin6/latch6 delete" || fail "ipv6 delete"

echo "== restart: a second process adopts the table, keeping elements and epoch"
drv E2 snapshot
out_has "bootstrap adopted=1 epoch=E1" && pass "adopted with the original epoch E1" || fail "adoption/epoch"
out_has "map $PUB:40002 $PRIV:5002 mark=0x1002" && out_has "ud=b=0x1002,o=ctl-a" \
  && pass "elements and userdata survive adoption" || fail "elements lost on adoption"
send "$NS_WAN" 7002 $PUB 40002 T10-after-adopt
expect_rx "$NS_LAN" 5002 T10-after-adopt "$REM:7002" "traffic still flows after adoption (rules rebuilt)"

echo "== ownership: a second live agent cannot take the table"
ip netns exec "$NS_RTR" "$DRIVER" --table "$TABLE" --wan wan0 --lan lan0 --epoch E3 bootstrap sleep 3000 \
  >"$TMP/holder" 2>&1 &
holder=$!
sleep 1
if drv E3; then
  if grep -q "persist=1" "$TMP/holder"; then fail "second bootstrap succeeded while the table is owned"; else pass "no owner flag on this kernel (skip)"; fi
else
  grep -q "Operation not permitted\|PERMISSION_DENIED" "$TMP/err" && pass "second live agent refused (EPERM)" \
    || fail "second bootstrap failed differently"
fi
wait "$holder"

echo "== conntrack events: kernel-filtered to marked UDP flows; a full buffer is an overrun, repaired by a dump"
# ct_insert <first-sport> <count> <mark>: conntrack entries made by the CLI (NEW events).
ct_insert() {
  local s
  for s in $(seq "$1" $(($1 + $2 - 1))); do
    ip netns exec "$NS_RTR" conntrack -I -p udp -s 192.0.2.1 -d 192.0.2.2 --sport "$s" --dport 9 \
      --timeout 60 --mark "$3" >/dev/null 2>&1
  done
}
ip netns exec "$NS_RTR" "$DRIVER" --table "$TABLE" --wan wan0 --lan lan0 ct-events "$TMP/go1" 4194304 >"$TMP/ct1" 2>&1 &
ctdrv=$!
for _ in $(seq 1 50); do grep -q "ct-events ready" "$TMP/ct1" && break; sleep 0.1; done
ct_insert 20000 20 0x3001   # ours
ct_insert 21000 20 0        # not ours (mark 0)
ip netns exec "$NS_RTR" conntrack -I -p tcp -s 192.0.2.1 -d 192.0.2.2 --sport 1 --dport 9 --state ESTABLISHED \
  --timeout 60 --mark 0x3001 >/dev/null 2>&1  # not UDP
ip netns exec "$NS_RTR" conntrack -D -p udp --orig-port-src 20000 >/dev/null 2>&1
touch "$TMP/go1"
wait "$ctdrv"
sed 's/^/    | /' "$TMP/ct1"
grep -q "delivered=21 new=20 destroy=1 overrun=0" "$TMP/ct1" \
  && pass "20 NEW + 1 DESTROY of marked UDP flows delivered; mark 0 and TCP filtered out" || fail "event filtering"
grep -q "ct-event first mark=0x3001 orig=192.0.2.1:20000->192.0.2.2:9 reply_src=192.0.2.2:9" "$TMP/ct1" \
  && pass "event carries mark and both tuples" || fail "event decoding"
grep -q "filter=1 .*ignored=0" "$TMP/ct1" && pass "BSF filter attached: nothing reached user space to ignore" \
  || fail "kernel-side filter not effective"
ip netns exec "$NS_RTR" conntrack -F >/dev/null 2>&1
ip netns exec "$NS_RTR" "$DRIVER" --table "$TABLE" --wan wan0 --lan lan0 ct-events "$TMP/go2" 65536 >"$TMP/ct2" 2>&1 &
ctdrv=$!
for _ in $(seq 1 50); do grep -q "ct-events ready" "$TMP/ct2" && break; sleep 0.1; done
ct_insert 30000 600 0x3002
touch "$TMP/go2"
wait "$ctdrv"
sed 's/^/    | /' "$TMP/ct2"
grep -q "overrun=1 .* dump=600" "$TMP/ct2" \
  && pass "600 events into a 64 KiB buffer: overrun reported, the dump finds all 600 flows" || fail "overrun/resync"
ip netns exec "$NS_RTR" conntrack -F >/dev/null 2>&1

echo
echo "agent_backend netns test: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]

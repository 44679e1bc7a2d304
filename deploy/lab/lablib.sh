# shellcheck shell=bash
# The Portcullis NAT lab, as functions: sourced by deploy/lab/lab.sh (up / demo / down) and by the
# CI test tests/integration/nat_lab/run.sh. Everything lives in network namespaces named
# "$LAB_PREFIX-*" and in $LAB_DIR; nothing touches the host's own network.
#
#           LAN 10.0.0.0/24 (switch $P-lan)                 WAN 203.0.113.0/24 (switch $P-wan)
#   phone A 10.0.0.2 ──┤                                    ├── phone B 203.0.113.5
#                      ├── lan0 10.0.0.1 [router $P-rtr] wan0 203.0.113.1 ──┤   (agent pool)
#                      │     portcullis-agent, nft table inet portcullis    ├── host X 203.0.113.66 (stray)
#                      │     (default-drop forward, NAT), FCP on :7443      ├── home NAT 203.0.113.20
#                      └── 10.0.0.10 [controller $P-ctl] 203.0.113.2 ──────┤     └ phone C 192.168.1.2
#
# The controller is the DMZ host: dual-homed (LAN leg + public address), so SIP never crosses the
# router's forward chain — the agent's ruleset accepts UDP only through pinholes.

LAB_PREFIX=${LAB_PREFIX:-pcl}
LAB_DIR=${LAB_DIR:-/tmp/portcullis-lab}
LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=$LAB_PREFIX
NS_LANSW=$P-lan
NS_WANSW=$P-wan
NS_RTR=$P-rtr
NS_CTL=$P-ctl
NS_A=$P-a
NS_B=$P-b
NS_X=$P-x
NS_HOME=$P-home
NS_C=$P-c
LAB_NAMESPACES=("$NS_LANSW" "$NS_WANSW" "$NS_RTR" "$NS_CTL" "$NS_A" "$NS_B" "$NS_X" "$NS_HOME" "$NS_C")

PUB=203.0.113.1     # the router's public address (agent pool)
CTL_LAN=10.0.0.10
CTL_WAN=203.0.113.2
A_IP=10.0.0.2
B_IP=203.0.113.5
X_IP=203.0.113.66
HOME_WAN=203.0.113.20
C_IP=192.168.1.2
AGENT_ADDR=10.0.0.1:7443
TABLE=portcullis

PHONE="$LAB_HERE/labphone.py"
SNIFF="$LAB_HERE/labsniff.py"

lab_say() { echo "$*"; }

lab_need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "lab: needs root (network namespaces, nftables)" >&2
    return 77
  fi
  for tool in ip nft conntrack python3 openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "lab: $tool not installed (scripts/setup.sh)" >&2; return 77; }
  done
}

# lab_bins BUILD_DIR: sets AGENT / CONTROLLER / CTL unless already set.
lab_bins() {
  local b=${1:-}
  AGENT=${AGENT:-$b/pinhole-agent/app/portcullis-agent}
  CONTROLLER=${CONTROLLER:-$b/controller/app/portcullis-controller}
  CTL=${CTL:-$b/pinhole-agent/app/portcullisctl}
  local bin
  for bin in "$AGENT" "$CONTROLLER" "$CTL"; do
    [ -x "$bin" ] || { echo "lab: $bin is not built" >&2; return 1; }
  done
}

# ---------------------------------------------------------------------------------- network

lab_link() { # ns-a if-a ns-b if-b
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

lab_net_up() {
  local n
  for n in "${LAB_NAMESPACES[@]}"; do
    ip netns add "$n" || return 1
    ip -n "$n" link set lo up
  done
  for n in "$NS_LANSW" "$NS_WANSW"; do
    ip -n "$n" link add br0 type bridge
    ip -n "$n" link set br0 up
    ip -n "$n" link set br0 promisc on   # the capture sees every frame on the segment
  done
  # LAN segment
  lab_link "$NS_LANSW" sw-rtr "$NS_RTR" lan0
  lab_link "$NS_LANSW" sw-ctl "$NS_CTL" lan0
  lab_link "$NS_LANSW" sw-a "$NS_A" eth0
  # WAN segment
  lab_link "$NS_WANSW" sw-rtr "$NS_RTR" wan0
  lab_link "$NS_WANSW" sw-ctl "$NS_CTL" wan0
  lab_link "$NS_WANSW" sw-b "$NS_B" eth0
  lab_link "$NS_WANSW" sw-x "$NS_X" eth0
  lab_link "$NS_WANSW" sw-home "$NS_HOME" wan0
  for n in sw-rtr sw-ctl sw-a; do ip -n "$NS_LANSW" link set "$n" master br0; done
  for n in sw-rtr sw-ctl sw-b sw-x sw-home; do ip -n "$NS_WANSW" link set "$n" master br0; done
  # home office: phone C behind a masquerading home router
  lab_link "$NS_HOME" lan0 "$NS_C" eth0

  ip -n "$NS_RTR" addr add 10.0.0.1/24 dev lan0
  ip -n "$NS_RTR" addr add $PUB/24 dev wan0
  ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NS_CTL" addr add $CTL_LAN/24 dev lan0
  ip -n "$NS_CTL" addr add $CTL_WAN/24 dev wan0
  ip -n "$NS_A" addr add $A_IP/24 dev eth0
  ip -n "$NS_A" route add default via 10.0.0.1
  ip -n "$NS_B" addr add $B_IP/24 dev eth0
  ip -n "$NS_X" addr add $X_IP/24 dev eth0
  ip -n "$NS_HOME" addr add $HOME_WAN/24 dev wan0
  ip -n "$NS_HOME" addr add 192.168.1.1/24 dev lan0
  ip netns exec "$NS_HOME" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NS_C" addr add $C_IP/24 dev eth0
  ip -n "$NS_C" route add default via 192.168.1.1
  ip netns exec "$NS_HOME" nft -f - <<'NFT'
table ip homenat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
NFT
}

lab_net_down() {
  local n
  for n in "${LAB_NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null; done
  return 0
}

# ---------------------------------------------------------------------------------- PKI

lab_pki() {
  local pki=$LAB_DIR/pki
  mkdir -p "$pki"
  chmod 700 "$pki"
  local log=$pki/openssl.log
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=portcullis-lab-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" >>"$log" 2>&1 || return 1
  local name san eku
  while read -r name san eku; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
      -keyout "$pki/$name.key" -out "$pki/$name.csr" >>"$log" 2>&1 || return 1
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$eku" >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
      -extfile "$pki/$name.ext" -out "$pki/$name.crt" >>"$log" 2>&1 || return 1
  done <<EOF
agent IP:10.0.0.1,DNS:edge-lab serverAuth
controller URI:spiffe://lab.example/controller/ctl-lab clientAuth
ops URI:spiffe://lab.example/ops/portcullisctl clientAuth
EOF
}

# lab_configs [KERNEL_LEASE]: the example configs with this run's paths.
lab_configs() {
  local lease=${1:-60s}
  sed -e "s#@PKI@#$LAB_DIR/pki#g" -e "s#@LEASE@#$lease#g" "$LAB_HERE/agent.yaml" >"$LAB_DIR/agent.yaml"
  sed -e "s#@PKI@#$LAB_DIR/pki#g" "$LAB_HERE/controller.yaml" >"$LAB_DIR/controller.yaml"
}

# ---------------------------------------------------------------------------------- daemons

LAB_AGENT_RUNS=0
lab_start_agent() {
  LAB_AGENT_RUNS=$((LAB_AGENT_RUNS + 1))
  local log=$LAB_DIR/agent.$LAB_AGENT_RUNS.log
  ip netns exec "$NS_RTR" "$AGENT" --config "$LAB_DIR/agent.yaml" >"$log" 2>&1 &
  echo $! >"$LAB_DIR/agent.pid"
  disown $!
  local i
  for i in $(seq 1 100); do
    grep -q "serving FCP" "$log" && return 0
    kill -0 "$(cat "$LAB_DIR/agent.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "lab: agent did not start:" >&2
  sed 's/^/    | /' "$log" >&2
  return 1
}

# lab_stop_pidfile <name> [signal]: signals the process in $LAB_DIR/<name>.pid (TERM by default),
# waits up to 5 s for it to go, forgets the pid file.
lab_stop_pidfile() {
  local pid
  pid=$(cat "$LAB_DIR/$1.pid" 2>/dev/null) || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$LAB_DIR/$1.pid"
}

lab_stop_agent() { lab_stop_pidfile agent "$@"; } # [signal]

# lab_agent_lose_state: the agent crashes (SIGKILL) and its kernel state goes with it: the table
# inet $TABLE (which also holds the state epoch) is deleted before it starts again, so it comes back
# with a new state_epoch and no bindings (a router reboot, as far as FCP can tell).
# LAB_STATE_LOST_AT: when the table was gone (epoch seconds).
lab_agent_lose_state() {
  lab_stop_agent KILL
  ip netns exec "$NS_RTR" nft delete table inet "$TABLE" 2>/dev/null
  if ip netns exec "$NS_RTR" nft list table inet "$TABLE" >/dev/null 2>&1; then
    echo "lab: table inet $TABLE is still there" >&2
    return 1
  fi
  LAB_STATE_LOST_AT=$(date +%s.%N)
  lab_start_agent
}

LAB_CTL_RUNS=0
lab_start_controller() {
  LAB_CTL_RUNS=$((LAB_CTL_RUNS + 1))
  local log=$LAB_DIR/controller.$LAB_CTL_RUNS.log
  ip netns exec "$NS_CTL" "$CONTROLLER" --config "$LAB_DIR/controller.yaml" >"$log" 2>&1 &
  echo $! >"$LAB_DIR/controller.pid"
  disown $!
  local i
  for i in $(seq 1 100); do
    # ready once its FCP session to the agent is up (or at least listening after 5 s)
    if grep -qi "session.*up\|HelloAck\|listening" "$log" 2>/dev/null && [ "$i" -ge 10 ]; then return 0; fi
    kill -0 "$(cat "$LAB_DIR/controller.pid")" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$(cat "$LAB_DIR/controller.pid")" 2>/dev/null && return 0
  echo "lab: controller did not start:" >&2
  sed 's/^/    | /' "$log" >&2
  return 1
}

lab_stop_controller() { lab_stop_pidfile controller "$@"; } # [signal]

lab_start_capture() {
  ip netns exec "$NS_WANSW" python3 "$SNIFF" capture br0 "$LAB_DIR/wan.pcap" >/dev/null 2>&1 &
  echo $! >"$LAB_DIR/capture.pid"
  disown $!
  sleep 0.3
}

lab_stop_capture() {
  local pid
  pid=$(cat "$LAB_DIR/capture.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$LAB_DIR/capture.pid"
}

lab_up() { # [kernel_lease]
  lab_need_root || return $?
  lab_down_quiet
  mkdir -p "$LAB_DIR"
  lab_net_up || { echo "lab: cannot build the namespaces" >&2; return 1; }
  lab_pki || { echo "lab: openssl failed, see $LAB_DIR/pki/openssl.log" >&2; return 1; }
  lab_configs "${1:-60s}"
  lab_start_agent || return 1
  lab_start_controller || return 1
  lab_start_capture
}

lab_down_quiet() {
  local f
  for f in "$LAB_DIR"/*.pid; do
    [ -f "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
  lab_net_down
}

lab_down() {
  lab_stop_capture
  lab_stop_controller TERM
  lab_stop_agent TERM
  lab_down_quiet
}

# ---------------------------------------------------------------------------------- probes

# lab_ctl ARGS...: portcullisctl as the operator (admin), from the controller namespace.
lab_ctl() {
  ip netns exec "$NS_CTL" "$CTL" --agent "$AGENT_ADDR" --ca "$LAB_DIR/pki/ca.crt" \
    --cert "$LAB_DIR/pki/ops.crt" --key "$LAB_DIR/pki/ops.key" "$@"
}

# Bindings the agent holds (every owner), one line each, or nothing.
lab_bindings() { lab_ctl --json list 2>/dev/null | grep '"binding_id"'; }

# lab_binding_publics: the public ip:port of every binding the agent holds, sorted, one a line.
lab_binding_publics() { lab_bindings | sed -n 's/.*"public":"\([^"]*\)".*/\1/p' | sort; }

lab_nft_elements() { # set or map name
  { ip netns exec "$NS_RTR" nft list set inet $TABLE "$1" 2>/dev/null ||
    ip netns exec "$NS_RTR" nft list map inet $TABLE "$1" 2>/dev/null; } |
    sed -n '/elements/,/}/p' | tr -s ' \t\n' ' '
}

lab_conntrack_udp() { # pattern
  ip netns exec "$NS_RTR" conntrack -L -p udp 2>/dev/null | grep -E "$1"
}

# lab_phone NS ARGS...: run labphone.py in a namespace (foreground).
lab_phone() {
  local ns=$1
  shift
  ip netns exec "$ns" python3 -u "$PHONE" "$@"
}

# lab_json_field FILE EVENT FIELD: FIELD of the last EVENT line of FILE.
lab_json_field() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
val = ''
try:
    for line in open(sys.argv[1]):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get('ev') == sys.argv[2] and sys.argv[3] in d:
            val = d[sys.argv[3]]
except OSError:
    pass
print(val if not isinstance(val, (list, dict)) else json.dumps(val))
PY
}

# lab_media_resumed FILE SINCE [MIN_ECHOES]: the time ("t") of the first labphone "media" report
# whose echo count grew by at least MIN_ECHOES (default 25: half a second of RTP) over a previous
# report itself made after SINCE (epoch seconds) — so echoes from before SINCE never count.
# Exit 1 (prints nothing) if there is none yet.
lab_media_resumed() {
  python3 - "$1" "$2" "${3:-25}" <<'PY'
import json, sys
since, need, prev = float(sys.argv[2]), int(sys.argv[3]), None
try:
    for line in open(sys.argv[1]):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get('ev') != 'media' or 'echoed' not in d or 't' not in d:
            continue
        if prev is not None and d['echoed'] - prev >= need:
            print(d['t'])
            sys.exit(0)
        if d['t'] >= since:
            prev = d['echoed']
except OSError:
    pass
sys.exit(1)
PY
}

# lab_wait_event FILE EVENT [SECONDS]
lab_wait_event() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    grep -q "\"ev\": \"$2\"" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

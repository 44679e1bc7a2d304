#!/usr/bin/env bash
# The Portcullis NAT lab: phones in network namespaces calling across a real NAT.
#
#   sudo deploy/lab/lab.sh up   [BUILD_DIR]   namespaces, certificates, agent + controller
#   sudo deploy/lab/lab.sh demo [BUILD_DIR]   up, three calls with media, explained step by step, down
#   sudo deploy/lab/lab.sh down               stop everything, delete the namespaces
#
# BUILD_DIR holds the binaries (default build/release); AGENT / CONTROLLER / CTL override each.
# LAB_PREFIX (namespace prefix, default pcl) and LAB_DIR (state, default /tmp/portcullis-lab)
# allow several labs side by side. Topology: lablib.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/lab/lablib.sh
. "$HERE/lablib.sh"

cmd=${1:-demo}
BUILD=${2:-$HERE/../../build/release}

step_no=0
step() { step_no=$((step_no + 1)); echo; echo "== $step_no. $*"; }
show() { sed 's/^/     /'; }
note() { echo "     $*"; }

holes() { # what the agent and the kernel hold right now
  local b
  b=$(lab_bindings)
  if [ -z "$b" ]; then
    note "portcullisctl list: (no bindings)"
  else
    note "portcullisctl list:"
    lab_ctl list 2>/dev/null | show
  fi
  note "nft set bind_in4 (public -> private): $(lab_nft_elements bind_in4 | cut -c1-200)"
  note "nft set pin4 (remote . private):      $(lab_nft_elements pin4 | cut -c1-200)"
  note "nft set latch4 (one-shot latch):      $(lab_nft_elements latch4 | cut -c1-200)"
}

flows() { # port: conntrack entries of the call (the NAT mapping the packets took, ct mark = binding)
  local f
  f=$(lab_conntrack_udp "(sport|dport)=$1 ")
  if [ -z "$f" ]; then note "conntrack: no flow on port $1"; return; fi
  note "conntrack flows through the router (packets that passed, NATed, marked with the binding id):"
  echo "$f" | sed -E 's/ +/ /g' | cut -c1-200 | show
}

media_summary() { # uac-output uas-output
  local s e r st
  s=$(lab_json_field "$1" media sent)
  e=$(lab_json_field "$1" media echoed)
  r=$(lab_json_field "$2" bye rx)
  st=$(lab_json_field "$2" bye stray)
  note "caller sent $s RTP packets, got $e echoes back; callee received $r (stray: ${st:-0})"
}

# call NAME CALLER_NS CALLER_IP CALLER_USER CALLER_RTP CALLEE_NS CALLEE_IP CALLEE_USER CALLEE_RTP [register]
call() {
  local name=$1 cns=$2 cip=$3 cuser=$4 crtp=$5 dns=$6 dip=$7 duser=$8 drtp=$9 reg=${10:-}
  local proxy_c proxy_d
  proxy_c=$CTL_WAN:5060; [ "$cns" = "$NS_A" ] && proxy_c=$CTL_LAN:5060
  proxy_d=$CTL_WAN:5060; [ "$dns" = "$NS_A" ] && proxy_d=$CTL_LAN:5060
  local uas=$LAB_DIR/$name.uas uac=$LAB_DIR/$name.uac
  step "$name: $duser registers from $dip; $cuser ($cip) calls $duser@lab.example"
  lab_phone "$dns" uas --sip "$dip:5060" --proxy "$proxy_d" --user "$duser" --rtp "$drtp" --wait 30 >"$uas" 2>&1 &
  local uas_pid=$!
  lab_wait_event "$uas" registered 5 || { note "callee did not register"; cat "$uas"; return 1; }
  note "REGISTER $duser@lab.example -> $(lab_json_field "$uas" registered status)"
  local regopt=()
  [ -n "$reg" ] && regopt=(--register)
  lab_phone "$cns" uac --sip "$cip:5060" --proxy "$proxy_c" --user "$cuser" --to "$duser" --rtp "$crtp" \
    --talk 5 "${regopt[@]}" >"$uac" 2>&1 &
  local uac_pid=$!
  if ! lab_wait_event "$uac" final 10; then
    note "no answer"; cat "$uac" "$uas"; kill "$uas_pid" "$uac_pid" 2>/dev/null; return 1
  fi
  note "caller offered media at $cip:$crtp; callee got the offer with c=/m= $(lab_json_field "$uas" answered remote_media)"
  note "caller got 200 OK; answer says media is at $(lab_json_field "$uac" final remote_media)"
  sleep 1.5
  step "$name: during the call"
  holes
  local pub
  if [ "$cns" = "$NS_A" ]; then pub=$(lab_json_field "$uas" answered remote_media); else pub=$(lab_json_field "$uac" final remote_media); fi
  flows "${pub##*:}"
  note "phone counters so far: caller sent $(lab_json_field "$uac" media sent), got $(lab_json_field "$uac" media echoed) back"
  note "host X ($X_IP) sends 10 packets to the call's public port $pub ..."
  lab_phone "$NS_X" stray --src "$X_IP:7777" --dst "$pub" --count 10 >/dev/null
  wait "$uac_pid"
  wait "$uas_pid"
  step "$name: after hang-up (BYE -> $(lab_json_field "$uac" bye status))"
  media_summary "$uac" "$uas"
  local stray_seen
  stray_seen=$(( $(lab_json_field "$uas" bye stray || echo 0) + 0 ))
  note "stray packets that reached a phone: $stray_seen (dropped by the router's forward chain)"
  holes
  note "conntrack flows of the call's public port: $(lab_conntrack_udp "(sport|dport)=${pub##*:} " | wc -l) (flushed by mark)"
  if lab_nft_elements pin4 | grep -q elements; then
    note "(a pin4 element the kernel learned from a latch stays until its 60 s timeout, but is inert:"
    note " the pinhole rules also require the binding's @bind_out4 element, which is gone)"
  fi
}

case "$cmd" in
  up)
    lab_need_root || exit $?
    lab_bins "$BUILD" || exit 1
    lab_up || { lab_down; exit 1; }
    echo "lab up: namespaces ${LAB_NAMESPACES[*]}; state in $LAB_DIR (logs, certificates, wan.pcap)"
    ;;
  down)
    lab_down
    rm -rf "$LAB_DIR"
    echo "lab down"
    ;;
  demo)
    lab_need_root || exit $?
    lab_bins "$BUILD" || exit 1
    trap 'lab_down; rm -rf "$LAB_DIR"' EXIT
    trap 'exit 130' INT TERM
    step "build the lab: 9 namespaces, mTLS certificates (openssl, in $LAB_DIR/pki), agent + controller"
    lab_up || exit 1
    note "router: portcullis-agent owns 'table inet portcullis':"
    ip netns exec "$NS_RTR" nft list chain inet $TABLE filter_fwd | grep -E "chain|policy" | head -2 | show
    note "controller: $(grep -m1 -i "listen" "$LAB_DIR/controller.1.log" | cut -c1-160)"
    note "FCP session (mTLS) controller -> agent 10.0.0.1:7443: $(lab_ctl caps >/dev/null 2>&1 && echo reachable)"
    holes
    call "A->B" "$NS_A" $A_IP alice 4000 "$NS_B" $B_IP bob 6000
    call "B->A" "$NS_B" $B_IP bob 6000 "$NS_A" $A_IP alice 4000
    call "C->A" "$NS_C" $C_IP carol 8000 "$NS_A" $A_IP alice 4000 register
    step "what the WAN saw (capture on the WAN switch: $LAB_DIR/wan.pcap)"
    lab_stop_capture
    scan=$(python3 "$SNIFF" scan "$LAB_DIR/wan.pcap" '10\.0\.0\.')
    note "SIP messages captured on the WAN: $(echo "$scan" | sed 's/.*"sip_messages": \([0-9]*\).*/\1/'), lines naming a 10.0.0.x address: $(echo "$scan" | sed 's/.*"leaks": \([0-9]*\).*/\1/')"
    cp "$LAB_DIR/wan.pcap" /tmp/portcullis-lab-wan.pcap 2>/dev/null && note "(kept a copy in /tmp/portcullis-lab-wan.pcap)"
    step "tear down"
    ;;
  *)
    echo "usage: $0 up|demo|down [BUILD_DIR]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env python3
"""UDP helpers for the agent end-to-end namespace test (run.sh). Bounded in time, no retries.

  netns_udp.py rx IP PORT                  print 'msg=<payload> from=<ip>:<port>' per datagram, forever
  netns_udp.py tx SRC_IP SPORT DST DPORT MSG   send one datagram from SRC_IP:SPORT
  netns_udp.py echo IP PORT SECONDS        send every datagram back to its sender, for SECONDS
  netns_udp.py ping SRC_IP SPORT DST DPORT SECONDS PPS
                                           send numbered datagrams at PPS for SECONDS, count the
                                           echoes; prints one summary line:
                                           'sent=N echoed=M from=<ip:port,...> max_gap_ms=G'
  netns_udp.py count NFT_JSON              element counts of the sets in an `nft -j list table`
"""
import json
import socket
import sys
import time


def sock(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    return s


def rx(ip, port):
    s = sock(ip, int(port))
    while True:
        d, a = s.recvfrom(2000)
        print('msg=%s from=%s:%d' % (d.decode(errors='replace'), a[0], a[1]), flush=True)


def tx(src, sport, dst, dport, msg):
    s = sock(src, int(sport))
    s.sendto(msg.encode(), (dst, int(dport)))


def echo(ip, port, seconds):
    s = sock(ip, int(port))
    end = time.monotonic() + float(seconds)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        s.settimeout(left)
        try:
            d, a = s.recvfrom(2000)
        except socket.timeout:
            return
        s.sendto(d, a)


def ping(src, sport, dst, dport, seconds, pps):
    s = sock(src, int(sport))
    s.setblocking(False)
    interval = 1.0 / float(pps)
    start = time.monotonic()
    end = start + float(seconds)
    sent = 0
    echoed = set()
    sources = set()
    last_echo = None
    max_gap = 0.0
    next_send = start
    while True:
        now = time.monotonic()
        if now >= end + 0.5:
            break
        if now >= next_send and now < end:
            s.sendto(('seq-%d' % sent).encode(), (dst, int(dport)))
            sent += 1
            next_send += interval
        try:
            while True:
                d, a = s.recvfrom(2000)
                echoed.add(d)
                sources.add('%s:%d' % a)
                t = time.monotonic()
                if last_echo is not None:
                    max_gap = max(max_gap, t - last_echo)
                last_echo = t
        except BlockingIOError:
            pass
        time.sleep(0.002)
    if last_echo is None:
        max_gap = float(seconds)
    else:
        max_gap = max(max_gap, min(end, time.monotonic()) - last_echo)
    print('sent=%d echoed=%d from=%s max_gap_ms=%d' %
          (sent, len(echoed), ','.join(sorted(sources)) or '-', int(max_gap * 1000)), flush=True)


def count(path):
    with open(path) as f:
        text = f.read()
    # Normally one JSON document; tolerate several (seen once right when elements expired).
    items = []
    dec = json.JSONDecoder()
    pos = 0
    try:
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            doc, pos = dec.raw_decode(text, pos)
            items.extend(doc.get('nftables', []))
    except ValueError:
        print('unparsable nft -j output: %r' % text[:300])
        return
    out = []
    for item in items:
        if 'set' in item or 'map' in item:
            st = item.get('set') or item.get('map')
            out.append('%s=%d' % (st['name'], len(st.get('elem', []))))
    print(' '.join(sorted(out)))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'rx': rx, 'tx': tx, 'echo': echo, 'ping': ping, 'count': count}[cmd](*args)

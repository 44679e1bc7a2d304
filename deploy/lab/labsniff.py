#!/usr/bin/env python3
"""Packet capture for the NAT lab without tcpdump/tshark: an AF_PACKET socket on one interface
writes a classic pcap file (open it in Wireshark), and `scan` looks for an address pattern in the
SIP and SDP text of the captured UDP packets.

  labsniff.py capture IFACE FILE.pcap          until SIGTERM/SIGINT
  labsniff.py scan FILE.pcap PATTERN [PORT]    prints one JSON line: sip messages seen, leaks
"""
import json
import re
import signal
import socket
import struct
import sys
import time


def capture(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.bind((iface, 0))
    s.settimeout(0.2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
        f.flush()
        while not stop:
            try:
                data, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            if addr[2] == socket.PACKET_OUTGOING and iface.startswith('br'):
                pass
            t = time.time()
            f.write(struct.pack('<IIII', int(t), int((t % 1) * 1e6), len(data), len(data)))
            f.write(data)
            f.flush()


def udp_payloads(path):
    with open(path, 'rb') as f:
        data = f.read()
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack('<IIII', data[pos:pos + 16])
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if len(pkt) < 14 + 20 or pkt[12:14] != b'\x08\x00':
            continue
        ihl = (pkt[14] & 0x0f) * 4
        if pkt[23] != 17:
            continue
        src = socket.inet_ntoa(pkt[26:30])
        dst = socket.inet_ntoa(pkt[30:34])
        u = 14 + ihl
        sport, dport = struct.unpack('!HH', pkt[u:u + 4])
        yield src, sport, dst, dport, pkt[u + 8:]


def scan(path, pattern, port=None):
    rx = re.compile(pattern.encode())
    sip = 0
    leaks = []
    for src, sport, dst, dport, payload in udp_payloads(path):
        if port and int(port) not in (sport, dport):
            continue
        head = payload[:16]
        if not (b'SIP/2.0' in payload[:200] or head[:8].isalpha()):
            continue
        if b'SIP/2.0' not in payload[:200]:
            continue
        sip += 1
        for line in payload.split(b'\r\n'):
            if rx.search(line):
                leaks.append('%s:%d>%s:%d %s' % (src, sport, dst, dport, line.decode(errors='replace')[:160]))
    print(json.dumps({'sip_messages': sip, 'leaks': len(leaks), 'lines': leaks[:20]}))


if __name__ == '__main__':
    if sys.argv[1] == 'capture':
        capture(sys.argv[2], sys.argv[3])
    else:
        scan(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)

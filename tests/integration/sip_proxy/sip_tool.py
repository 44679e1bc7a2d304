#!/usr/bin/env python3
"""Helpers for tests/integration/sip_proxy/run.sh (python3 standard library only).

Subcommands
  ports N [--avoid P ...]            N distinct ports free on 127.0.0.1 for both UDP and TCP
  relay LISTEN TLS_PORT              plain-TCP -> TLS relay (sipp from Debian has no TLS); prints "ready"
  probe udp|tcp|tls PORT METHOD ...  one OPTIONS / REGISTER, checks the final status
  torture DIR UDP_PORT SINK_PORT     every RFC 4475 *.dat as one UDP datagram; handling per expectations.tsv
  flood UDP TCP TLS SECONDS          garbage, truncated messages and abrupt closes on every transport,
                                     then a valid OPTIONS and REGISTER on each must still be answered

Traffic goes to 127.0.0.1 only.
"""
import argparse
import asyncio
import os
import random
import re
import select
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------------------- ports
def cmd_ports(args):
    avoid = set(args.avoid or []) | {5060, 5061, 5050, 5070}
    out = []
    tries = 0
    while len(out) < args.n and tries < 1000:
        tries += 1
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind((HOST, port))
            except OSError:
                continue
            finally:
                u.close()
        finally:
            t.close()
        if port in avoid or port in out:
            continue
        out.append(port)
    if len(out) < args.n:
        sys.exit("no free ports")
    print(" ".join(str(p) for p in out))


# --------------------------------------------------------------------------------------- relay
def cmd_relay(args):
    """Accepts plain TCP on LISTEN and opens one TLS connection to the controller per client:
    sipp speaks TCP, the controller sees TLS, one flow each way (the registered TLS connection
    carries the INVITE back to the sipp that registered)."""
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else ssl._create_unverified_context()
    if args.ca:
        ctx.check_hostname = False  # the server certificate names IP 127.0.0.1; verified by CA
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)

    async def pipe(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(HOST, args.tls_port, ssl=ctx,
                                                             server_hostname="127.0.0.1")
        except Exception as e:  # noqa: BLE001
            log(f"relay: TLS connect failed: {e}")
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))

    async def main():
        server = await asyncio.start_server(handle, HOST, args.listen)
        log("ready")
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ----------------------------------------------------------------------------- SIP helpers
def header(msg, name, compact=None):
    """First value of header `name` (case-insensitive, compact form too) or None."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    names = {name.lower()} | ({compact.lower()} if compact else set())
    for line in head.split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            if k.strip().lower() in names:
                return v.strip()
    return None


def status_of(msg):
    m = re.match(rb"SIP/2\.0 (\d{3}) ", msg)
    return int(m.group(1)) if m else None


def make_request(method, ruri, transport, local, user="probe", extra="", cseq=1, call_id=None,
                 branch=None):
    call_id = call_id or f"{method.lower()}-{random.getrandbits(48):x}@127.0.0.1"
    branch = branch or f"z9hG4bK{random.getrandbits(48):x}"
    lhost, lport = local
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {lhost}:{lport};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@example.test>;tag={random.getrandbits(32):x}",
        f"To: <sip:{user}@example.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if extra:
        lines += extra.split("\n")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def make_ack(request, response):
    """ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same branch and R-URI."""
    first = request.split(b"\r\n", 1)[0].split(b" ")
    ruri = first[1].decode("latin-1") if len(first) > 1 else "sip:invalid"
    via = header(response, "Via", "v") or ""
    lines = [f"ACK {ruri} SIP/2.0", f"Via: {via.split(',')[0]}",
             f"From: {header(response, 'From', 'f')}", f"To: {header(response, 'To', 't')}",
             f"Call-ID: {header(response, 'Call-ID', 'i')}",
             f"CSeq: {(header(response, 'CSeq') or '1').split()[0]} ACK",
             "Max-Forwards: 70", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


class StreamReader:
    """Reads SIP messages framed by Content-Length from a stream socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self, deadline):
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            if not data:
                return None
            self.buf += data

    def _take(self):
        self.buf = self.buf.lstrip(b"\r\n")
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        cl = header(self.buf[:end + 4], "Content-Length", "l")
        total = end + 4 + (int(cl) if cl and cl.isdigit() else 0)
        if len(self.buf) < total:
            return None
        msg, self.buf = self.buf[:total], self.buf[total:]
        return msg


def tls_context():
    ctx = ssl._create_unverified_context()
    return ctx


def transact(transport, port, build, timeout=5.0):
    """Sends the request build((ip, port_local)) over `transport`, returns the final response
    (bytes) or None. 1xx are skipped."""
    deadline = time.monotonic() + timeout
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        req = build(s.getsockname())
        next_send, interval = 0.0, 0.5
        try:
            while time.monotonic() < deadline:
                now = time.monotonic()
                if now >= next_send:
                    s.sendto(req, (HOST, port))
                    next_send, interval = now + interval, min(interval * 2, 4.0)
                r, _, _ = select.select([s], [], [], max(0.0, min(next_send, deadline) - now))
                if r:
                    data, _ = s.recvfrom(65536)
                    st = status_of(data)
                    if st and st >= 200:
                        return data
        finally:
            s.close()
        return None
    raw = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s = tls_context().wrap_socket(raw, server_hostname="127.0.0.1") if transport == "tls" else raw
        req = build(s.getsockname())
        s.sendall(req)
        rd = StreamReader(s)
        while True:
            msg = rd.next(deadline)
            if msg is None:
                return None
            st = status_of(msg)
            if st and st >= 200:
                return msg
    finally:
        raw.close()


def probe(transport, port, method, user="probe", expect=200, quiet=False):
    if method == "OPTIONS":
        def build(local):
            return make_request("OPTIONS", f"sip:{HOST}:{port}", transport, local, user,
                                extra="Accept: application/sdp")
    else:
        def build(local):
            return make_request("REGISTER", "sip:example.test", transport, local, user,
                                extra=f"Contact: <sip:{user}@{local[0]}:{local[1]};transport={transport}>"
                                      "\nExpires: 60")
    try:
        resp = transact(transport, port, build)
    except OSError as e:
        resp = None
        err = str(e)
    else:
        err = "no final response in 5 s"
    st = status_of(resp) if resp else None
    ok = st == expect
    if not quiet:
        what = resp.split(b"\r\n", 1)[0].decode("latin-1") if resp else err
        log(f"    {'ok ' if ok else 'BAD'} {method} over {transport.upper()}:{port} -> {what}")
    return ok


def cmd_probe(args):
    ok = probe(args.transport, args.port, args.method, args.user, args.expect)
    sys.exit(0 if ok else 1)


# ------------------------------------------------------------------------------- RFC 4475
def load_expectations(d):
    rows = []
    with open(os.path.join(d, "expectations.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            p = line.split("\t")
            rows.append({"file": p[0], "section": p[1], "verdict": p[3], "handling": p[4]})
    return rows


def expected_handling(row, data, strict):
    """Returns (set of acceptable final statuses, description). An empty set = silence expected,
    None = anything (must merely not crash)."""
    verdict, handling = row["verdict"], row["handling"]
    first = data.split(b"\r\n", 1)[0]
    method = first.split(b" ", 1)[0]
    if verdict == "NO VERDICT":
        return None, "must not crash"
    if first.startswith(b"SIP/"):
        return set(), "response matching no transaction: dropped silently"
    if verdict.startswith("INVALID") or verdict.startswith("APP-LAYER REJECT"):
        if "505" in handling:
            return {505}, "505 Version Not Supported"
        if "501" in handling:
            return {501, 400}, "501 (or 400)"
        if "liberal accept permitted" in verdict and not strict:
            return {400, 404}, "400, or 404 when accepted liberally (strict: false)"
        return {400}, "400 Bad Request"
    # VALID ...
    if "/ 416 or 404" in verdict:
        return {416, 404}, "416 (or 404)"
    if "/ 416" in verdict:
        return {416}, "416 Unsupported URI Scheme"
    if "/ 420" in verdict:
        return {420}, "420 Bad Extension"
    if "proxy 483" in verdict:
        # OPTIONS with Max-Forwards 0: proxy.max_forwards_options_200 (default true) answers it
        # as a UAS (§16.3 step 3); the controller is started with the default.
        return {200}, "OPTIONS at Max-Forwards 0: 200 (max_forwards_options_200)"
    if "registrar 400" in verdict:
        return {400}, "registrar: 400 (AoR not SIP/SIPS)"
    if method == b"REGISTER":
        return {200}, "registered: 200"
    # A proxy role: our domain without binding -> 404; a binding, a pre-loaded Route or a foreign
    # domain -> forwarded. Forwarding reaches one of our sinks (outbound proxy, 127.0.0.1:5080 of
    # mpart01's Route), or fails on DNS (the test points DNS at a closed port): 503, sent as 500.
    return {404, 500, "fwd"}, "404 (no binding), forwarded, or 500 (next hop unresolvable)"


def response_port(data, src_port):
    """Where §18.2.2 sends the response to a UDP request: rport -> source port, else the top Via
    sent-by port (default 5060, 5061 for TLS)."""
    via = header(data, "Via", "v")
    if not via:
        return None
    if re.search(r";\s*rport", via.split(",")[0], re.I):
        return src_port
    m = re.match(r"\s*SIP\s*/\s*2\.0\s*/\s*(\w+)\s+\[?[\w.\-:]*?\]?(?::(\d+))?\s*(;|,|$)",
                 via.split(",")[0], re.I)
    if m and m.group(2):
        return int(m.group(2))
    if m and m.group(1).upper() == "TLS":
        return 5061
    return 5060


def txn_key(data):
    """(branch, sent-by, CSeq method) of the top Via: the RFC 3261 §17.2.3 server transaction key."""
    via = header(data, "Via", "v")
    cseq = header(data, "CSeq")
    if not via or not cseq:
        return None
    top = via.split(",")[0]
    m = re.search(r"branch\s*=\s*([^;,\s]+)", top, re.I)
    sb = re.match(r"\s*SIP\s*/\s*2\.0\s*/\s*\w+\s+([^;\s]+)", top, re.I)
    if not m or not sb:
        return None
    return (m.group(1), sb.group(1).lower(), cseq.split()[-1])


def stateless_reply(req, code, reason):
    vias = []
    head = req.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    for line in head[1:]:
        k = line.split(":", 1)[0].strip().lower()
        if k in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"):
            if k in ("to", "t") and "tag=" not in line:
                line += ";tag=sink"
            vias.append(line)
    return ("\r\n".join([f"SIP/2.0 {code} {reason}"] + vias + ["Content-Length: 0", "", ""])).encode()


def cmd_torture(args):
    rows = load_expectations(args.dir)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((HOST, 0))
    src_port = sender.getsockname()[1]
    socks = {src_port: sender}
    unavailable = []
    for p in (5060, 5061, 5050, 5070):  # Via sent-by ports of the torture messages (no rport)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((HOST, p))
            socks[p] = s
        except OSError:
            s.close()
            unavailable.append(p)
    if unavailable:
        log(f"  note: cannot bind 127.0.0.1:{unavailable}; responses sent there cannot be checked")
    sinks = []
    for p in (args.sink_port, 5080):  # the outbound proxy; mpart01.dat's Route <sip:127.0.0.1:5080>
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((HOST, p))
            sinks.append(s)
        except OSError:
            s.close()
            log(f"  note: cannot bind the sink 127.0.0.1:{p}")
    all_socks = list(socks.values()) + sinks

    failures, checked, unverifiable = [], 0, []
    seen_txn = {}  # (branch, sent-by, method) -> (file, Call-ID) of the first file with it
    for row in rows:
        path = os.path.join(args.dir, row["file"])
        with open(path, "rb") as f:
            data = f.read()
        expect, desc = expected_handling(row, data, args.strict)
        call_id = header(data, "Call-ID", "i")
        # Some torture files share the top Via branch, sent-by and method with an earlier one
        # (unkscm/novelsc, cparam01/cparam02, escnull/regescrt): RFC 3261 §17.2.3 makes them a
        # retransmission of the earlier request while its transaction lives (Timer J, 32 s), and
        # the answer is the earlier response, resent. Accept that one too.
        alias = None
        key = txn_key(data)
        if key is not None and status_of(data) is None:
            if key in seen_txn:
                alias = seen_txn[key]
            else:
                seen_txn[key] = (row["file"], call_id)
        sender.sendto(data, (HOST, args.port))
        got, forwarded = [], False
        silent_wait = 0.6
        deadline = time.monotonic() + (silent_wait if expect == set() or expect is None else 3.0)
        while time.monotonic() < deadline:
            r, _, _ = select.select(all_socks, [], [], max(0.0, deadline - time.monotonic()))
            for s in r:
                pkt, src = s.recvfrom(65536)
                if s in sinks:
                    if status_of(pkt) is None and (call_id is None or header(pkt, "Call-ID", "i") == call_id):
                        forwarded = True
                        meth = pkt.split(b" ", 1)[0]
                        if meth != b"ACK":
                            s.sendto(stateless_reply(pkt, 404, "Not Found (sink)"), src)
                    continue
                st = status_of(pkt)
                if st is None:
                    continue
                rid = header(pkt, "Call-ID", "i")
                if call_id is not None and rid is not None and rid != call_id \
                        and not (alias and rid == alias[1]):
                    continue  # a retransmission for an earlier file
                if st >= 200:
                    got.append((st, pkt))
                    if data.startswith(b"INVITE"):
                        sender.sendto(make_ack(data, pkt), (HOST, args.port))
            if got and expect:
                break
        codes = [g[0] for g in got]
        first_line = got[0][1].split(b"\r\n", 1)[0].decode("utf-8", "replace") if got else "(nothing)"
        if forwarded:
            first_line += " [forwarded to the sink]"
        if alias and got and header(got[0][1], "Call-ID", "i") == alias[1]:
            first_line += f" [resent for {alias[0]}: same transaction, §17.2.3]"
        ok = True
        if expect is None:
            verdict = "ok "
        elif expect == set():
            ok = not got and not forwarded
        else:
            ok = (codes and codes[0] in expect) or ("fwd" in expect and forwarded)
            if not ok and not got and response_port(data, src_port) in unavailable:
                unverifiable.append(row["file"])
                log(f"  ??  {row['file']:<15} expected {desc}; response port unavailable, not checked")
                continue
        checked += 1
        if ok and expect is not None and 420 in expect and codes and codes[0] == 420:
            if header(got[0][1], "Unsupported") is None:
                ok = False
                first_line += " (no Unsupported header)"
        verdict = "ok " if ok else "BAD"
        log(f"  {verdict} {row['file']:<15} §{row['section']:<9} expected {desc:<48} got {first_line}")
        if not ok:
            failures.append(row["file"])
    log(f"  {checked} checked, {len(failures)} failed{', unverifiable: ' + ' '.join(unverifiable) if unverifiable else ''}")
    alive = probe("udp", args.port, "OPTIONS")
    if not alive:
        failures.append("OPTIONS after the torture messages")
    for s in all_socks:
        s.close()
    if failures:
        log("  FAILED: " + " ".join(failures))
        sys.exit(1)


# ---------------------------------------------------------------------------------- flood
VALID_TEMPLATES = [
    b"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKf%d\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:fl@example.test>;tag=1\r\nTo: <sip:fl@example.test>\r\n"
    b"Call-ID: fl%d\r\nCSeq: 1 REGISTER\r\nContact: <sip:fl@127.0.0.1:9>\r\nExpires: 60\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"INVITE sip:nobody@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKf%d\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:fl@example.test>;tag=1\r\nTo: <sip:nobody@example.test>\r\n"
    b"Call-ID: fi%d\r\nCSeq: 1 INVITE\r\nContact: <sip:fl@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n"
    b"Content-Length: 20\r\n\r\nv=0\r\no=- 1 1 IN IP4 1\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-pc-deadbeef-%d\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: fr%d\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
]


def garbage(rng, i):
    kind = rng.randrange(7)
    if kind == 0:
        return os.urandom(rng.randrange(1, 1400))
    t = VALID_TEMPLATES[rng.randrange(len(VALID_TEMPLATES))].replace(b"%d", str(i).encode())
    if kind == 1:
        return t[:rng.randrange(1, len(t))]  # truncated
    if kind == 2:  # bit flips
        b = bytearray(t)
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 3:
        return t.replace(b"Content-Length: 0", b"Content-Length: 99999999999")
    if kind == 4:
        return t.replace(b"Content-Length: 0", b"Content-Length: -5")
    if kind == 5:
        return t.split(b"\r\n\r\n")[0] + b"\r\n" + b"X-Long: " + b"a" * rng.randrange(100, 70000) + b"\r\n\r\n"
    return b"\r\n\r\n" + t[:rng.randrange(len(t))] + os.urandom(rng.randrange(1, 200))


def flood_udp(port, seconds, rng):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        d = garbage(rng, n)[:65000]
        try:
            s.sendto(d, (HOST, port))
        except (BlockingIOError, OSError):
            pass
        n += 1
        if n % 200 == 0:
            try:
                while True:
                    s.recvfrom(65536)  # drain answers (400s) so the socket buffer stays small
            except (BlockingIOError, OSError):
                pass
            time.sleep(0.01)
    s.close()
    return n


def flood_stream(port, seconds, rng, tls, raw_to_tls=False):
    end, n, errors = time.monotonic() + seconds, 0, 0
    ctx = tls_context()
    while time.monotonic() < end:
        try:
            raw = socket.create_connection((HOST, port), timeout=2)
        except OSError:
            errors += 1
            time.sleep(0.01)
            continue
        try:
            s = raw
            if tls and not (raw_to_tls and n % 4 == 0):
                s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            mode = rng.randrange(4)
            if mode == 0:
                s.sendall(garbage(rng, n))
            elif mode == 1:  # half a message, then close
                t = VALID_TEMPLATES[rng.randrange(2)].replace(b"%d", str(n).encode())
                s.sendall(t[:rng.randrange(1, len(t))])
            elif mode == 2:  # a valid message followed by garbage; read what comes back
                t = VALID_TEMPLATES[0].replace(b"%d", str(n).encode())
                s.sendall(t + garbage(rng, n))
                s.settimeout(0.2)
                try:
                    s.recv(65536)
                except (OSError, socket.timeout):
                    pass
            else:  # abortive close (RST) after a partial header
                s.sendall(b"OPTIONS sip:x@example.test SIP/2.0\r\nVia: SIP/2.0/TCP ")
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, ssl.SSLError):
            errors += 1
        finally:
            raw.close()
        n += 1
    return n, errors


def cmd_flood(args):
    rng = random.Random(4475)
    failed = []
    for transport, port in (("udp", args.udp), ("tcp", args.tcp), ("tls", args.tls)):
        if transport == "udp":
            n = flood_udp(port, args.seconds, rng)
            log(f"  UDP: {n} datagrams of garbage / truncated / mangled messages in {args.seconds} s")
        else:
            n, errors = flood_stream(port, args.seconds, rng, transport == "tls", raw_to_tls=True)
            extra = " (every 4th one plain bytes into the TLS port)" if transport == "tls" else ""
            log(f"  {transport.upper()}: {n} connections with garbage / half messages / RST{extra}, "
                f"{errors} refused or reset")
        time.sleep(0.3)
        for method in ("OPTIONS", "REGISTER"):
            if not probe(transport, port, method, user=f"after_flood_{transport}"):
                failed.append(f"{method}/{transport}")
    if failed:
        log("  FAILED: not answered after the flood: " + " ".join(failed))
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p.add_argument("--avoid", type=int, nargs="*")
    p = sub.add_parser("relay")
    p.add_argument("listen", type=int)
    p.add_argument("tls_port", type=int)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p = sub.add_parser("probe")
    p.add_argument("transport", choices=["udp", "tcp", "tls"])
    p.add_argument("port", type=int)
    p.add_argument("method", choices=["OPTIONS", "REGISTER"])
    p.add_argument("--user", default="probe")
    p.add_argument("--expect", type=int, default=200)
    p = sub.add_parser("torture")
    p.add_argument("dir")
    p.add_argument("port", type=int)
    p.add_argument("sink_port", type=int)
    p.add_argument("--strict", action="store_true")
    p = sub.add_parser("flood")
    p.add_argument("udp", type=int)
    p.add_argument("tcp", type=int)
    p.add_argument("tls", type=int)
    p.add_argument("seconds", type=float)
    args = ap.parse_args()
    {"ports": cmd_ports, "relay": cmd_relay, "probe": cmd_probe, "torture": cmd_torture,
     "flood": cmd_flood}[args.cmd](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Smoke test of the portcullis-controller daemon on 127.0.0.1 (no namespaces, no root).

Checks: --help / usage exit codes; --check-config on a good and a bad file (errors name
file:line: key); then a running controller with two shards answers OPTIONS over UDP and TCP,
registers (200 with the granted expiry, 423 below min_expires), answers a malformed request 400,
relays calls INVITE/180/200/ACK/BYE/200 between a UDP caller and a callee registered over UDP or
TCP (from several source ports, so responses land on both shards and must be handed to the shard
owning the transaction), and exits 0 on SIGTERM.

Usage: controller_smoke.py <portcullis-controller>
Exit 0 = pass, 1 = failure.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

BIN = sys.argv[1] if len(sys.argv) > 1 else "portcullis-controller"
HOST = "127.0.0.1"
TIMEOUT = 3.0
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def free_port():
    """A port free for both UDP and TCP on HOST (the controller binds both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((HOST, 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


# ---- SIP helpers ----

def branch():
    return "z9hG4bK-smoke-" + uuid.uuid4().hex[:16]


def request(method, ruri, via, from_hdr, to_hdr, call_id, cseq, extra=()):
    lines = [f"{method} {ruri} SIP/2.0", f"Via: {via}", "Max-Forwards: 70", f"From: {from_hdr}", f"To: {to_hdr}",
             f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
    lines += list(extra)
    return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"


def headers(msg, name):
    out = []
    for line in msg.split("\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def header(msg, name):
    h = headers(msg, name)
    return h[0] if h else ""


def status(msg):
    parts = msg.split(" ", 2)
    return int(parts[1]) if msg.startswith("SIP/2.0 ") and len(parts) > 1 and parts[1].isdigit() else 0


def response_to(req, code, reason, to_tag=None, extra=()):
    """A UAS response (RFC 3261 §8.2.6): Vias, From, To (+tag), Call-ID, CSeq, Record-Route copied."""
    lines = [f"SIP/2.0 {code} {reason}"]
    lines += [f"Via: {v}" for v in headers(req, "Via")]
    lines += [f"Record-Route: {r}" for r in headers(req, "Record-Route")]
    lines.append(f"From: {header(req, 'From')}")
    to = header(req, "To")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {header(req, 'Call-ID')}")
    lines.append(f"CSeq: {header(req, 'CSeq')}")
    lines += list(extra)
    return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"


class UdpUa:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]

    def send(self, text, port):
        self.sock.sendto(text.encode(), (HOST, port))

    def recv(self, want=None, timeout=TIMEOUT):
        """Next message (skipping 100 Trying and anything `want` rejects), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            msg = data.decode(errors="replace")
            if status(msg) == 100:
                continue
            if want is None or want(msg):
                return msg
        return None

    def via(self):
        return f"SIP/2.0/UDP {HOST}:{self.port};branch={branch()};rport"

    def contact(self, user):
        return f"<sip:{user}@{HOST}:{self.port}>"

    def close(self):
        self.sock.close()


class TcpUa:
    def __init__(self, port, tls_ca=None):
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.transport = "TCP"
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.check_hostname = False  # the test certificate names 127.0.0.1 as an IP SAN
            self.sock = ctx.wrap_socket(self.sock)
            self.transport = "TLS"
        self.port = self.sock.getsockname()[1]
        self.buf = b""

    def send(self, text, _port=None):
        self.sock.sendall(text.encode())

    def recv(self, want=None, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self._take()
            if msg is not None:
                if status(msg) == 100 or (want is not None and not want(msg)):
                    continue
                return msg
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buf += data
        return None

    def _take(self):
        self.buf = self.buf.lstrip(b"\r\n")
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode(errors="replace")
        m = re.search(r"(?im)^(content-length|l)\s*:\s*(\d+)", head)
        length = int(m.group(2)) if m else 0
        total = end + 4 + length
        if len(self.buf) < total:
            return None
        msg = self.buf[:total].decode(errors="replace")
        self.buf = self.buf[total:]
        return msg

    def via(self):
        return f"SIP/2.0/{self.transport} {HOST}:{self.port};branch={branch()}"

    def contact(self, user):
        return f"<sip:{user}@{HOST}:{self.port};transport={self.transport.lower()}>"

    def close(self):
        self.sock.close()


def register(ua, port, user, expires, cseq=1, call_id=None):
    call_id = call_id or f"reg-{uuid.uuid4().hex}"
    ua.send(request("REGISTER", "sip:example.test", ua.via(), f"<sip:{user}@example.test>;tag={uuid.uuid4().hex[:8]}",
                    f"<sip:{user}@example.test>", call_id, cseq,
                    [f"Contact: {ua.contact(user)}", f"Expires: {expires}"]), port)
    return ua.recv(lambda m: "REGISTER" in header(m, "CSeq"))


def call(port, caller, callee, label):
    """caller (UDP) calls bob@example.test; callee answers; ACK and BYE follow the Record-Route."""
    call_id = f"call-{uuid.uuid4().hex}"
    from_hdr = f"<sip:alice@example.test>;tag={uuid.uuid4().hex[:8]}"
    invite = request("INVITE", "sip:bob@example.test", caller.via(), from_hdr, "<sip:bob@example.test>", call_id, 1,
                     [f"Contact: {caller.contact('alice')}"])
    caller.send(invite, port)
    got = callee.recv(lambda m: m.startswith("INVITE "))
    if not check(got is not None, f"{label}: INVITE reaches the callee"):
        return
    check(len(headers(got, "Via")) == 2, f"{label}: the proxy added its Via")
    check(len(headers(got, "Record-Route")) >= 1, f"{label}: the proxy record-routes")
    check(header(got, "Max-Forwards") == "69", f"{label}: Max-Forwards decremented")
    tag = uuid.uuid4().hex[:8]
    callee.send(response_to(got, 180, "Ringing", tag), port)
    callee.send(response_to(got, 200, "OK", tag, [f"Contact: {callee.contact('bob')}"]), port)
    ringing = caller.recv(lambda m: status(m) == 180)
    check(ringing is not None, f"{label}: 180 reaches the caller")
    ok = caller.recv(lambda m: status(m) == 200 and "INVITE" in header(m, "CSeq"))
    if not check(ok is not None, f"{label}: 200 reaches the caller"):
        return
    check(len(headers(ok, "Via")) == 1, f"{label}: the proxy removed its Via from the 200")
    # UAC route set = the 200's Record-Route in reverse order (RFC 3261 §12.1.2). The proxy put
    # two entries (RFC 5658); popping them, it sends to the flow token of the callee-side one.
    routes = [r.strip() for h in headers(ok, "Record-Route") for r in h.split(",")][::-1]
    to_hdr = header(ok, "To")
    remote_target = re.search(r"<([^>]+)>", header(ok, "Contact")).group(1)
    route_hdrs = [f"Route: {r}" for r in routes]
    caller.send(request("ACK", remote_target, caller.via(), from_hdr, to_hdr, call_id, 1, route_hdrs), port)
    ack = callee.recv(lambda m: m.startswith("ACK "))
    check(ack is not None, f"{label}: ACK reaches the callee through the record-routed path")
    caller.send(request("BYE", remote_target, caller.via(), from_hdr, to_hdr, call_id, 2, route_hdrs), port)
    bye = callee.recv(lambda m: m.startswith("BYE "))
    if not check(bye is not None, f"{label}: BYE reaches the callee"):
        return
    callee.send(response_to(bye, 200, "OK"), port)
    done = caller.recv(lambda m: status(m) == 200 and "BYE" in header(m, "CSeq"))
    check(done is not None, f"{label}: 200 to BYE reaches the caller")


CONFIG = """\
# smoke test config (written by controller_smoke.py)
controller:
  id: smoke
  log_level: info
  threads: 2
listen:
  - transport: udp
    address: 127.0.0.1:{port}
  - transport: tcp
    address: 127.0.0.1:{port}
{tls}domains: [example.test]
registrar:
  enabled: true
  default_expires: 3600
  min_expires: 60
  max_expires: 7200
  allowed_sources: [127.0.0.0/8]
proxy:
  record_route: true
limits:
  idle_timeout: 60s
timers: {{ t1: 500ms, t2: 4s, t4: 5s }}
dns:
  servers: [127.0.0.1:9]
"""


def main():
    tmp = tempfile.mkdtemp(prefix="ctlsmoke")
    port = free_port()
    # TLS when the openssl CLI can make a certificate (never committed: made here, deleted with tmp).
    tls_port, tls_yaml, cert = None, "", os.path.join(tmp, "cert.pem")
    if shutil.which("openssl"):
        key = os.path.join(tmp, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=30)
        if r.returncode == 0:
            tls_port = free_port()
            tls_yaml = (f"  - transport: tls\n    address: 127.0.0.1:{tls_port}\n    cert: {cert}\n"
                        f"    key: {key}\n")
    if tls_port is None:
        print("skip TLS checks: openssl could not make a certificate")
    good = os.path.join(tmp, "good.yaml")
    bad = os.path.join(tmp, "bad.yaml")
    log_path = os.path.join(tmp, "controller.log")
    with open(good, "w") as f:
        f.write(CONFIG.format(port=port, tls=tls_yaml))
    with open(bad, "w") as f:
        f.write(CONFIG.format(port=port, tls="").replace("threads: 2", "threads: lots").replace(
            "  record_route: true\n", "  record_route: true\n  record_rout: false\n"))

    # ---- command line ----
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "max_connections_per_ip" in r.stdout, "--help exits 0 and documents the keys")
    r = subprocess.run([BIN], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2, f"no --config exits 2 (got {r.returncode})")
    r = subprocess.run([BIN, "--config", good, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "OK" in r.stdout, f"--check-config on a good file exits 0 (got {r.returncode}: {r.stderr})")
    r = subprocess.run([BIN, "--config", bad, "--check-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2, f"--check-config on a bad file exits 2 (got {r.returncode})")
    check(f"{bad}:5: controller.threads:" in r.stderr, "the error names file:line: key (threads)")
    check(f"{bad}:20: proxy.record_rout: unknown key" in r.stderr, "unknown keys are errors with their line")
    r = subprocess.run([BIN, "--config", os.path.join(tmp, "missing.yaml"), "--check-config"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 2, "a missing config file exits 2")

    # ---- running daemon ----
    log = open(log_path, "w")
    proc = subprocess.Popen([BIN, "--config", good], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        up = False
        while time.time() < deadline and proc.poll() is None:
            with open(log_path) as f:
                if " up: " in f.read():
                    up = True
                    break
            time.sleep(0.05)
        with open(log_path) as f:
            startup = f.read()
        if not check(up, "the controller logs its startup line"):
            print(startup)
            return
        check(f"UDP 127.0.0.1:{port}" in startup and f"TCP 127.0.0.1:{port}" in startup,
              "the startup line lists what listens where")

        ua = UdpUa()
        ua.send(request("OPTIONS", f"sip:{HOST}:{port}", ua.via(), "<sip:probe@example.test>;tag=p1",
                        f"<sip:{HOST}:{port}>", f"opt-{uuid.uuid4().hex}", 1), port)
        m = ua.recv()
        check(m is not None and status(m) == 200, "OPTIONS over UDP → 200")
        check(m is not None and "received=" in header(m, "Via"), "the 200 carries received/rport (RFC 3581)")

        tcp = TcpUa(port)
        tcp.send(request("OPTIONS", f"sip:{HOST}:{port}", tcp.via(), "<sip:probe@example.test>;tag=p2",
                         f"<sip:{HOST}:{port}>", f"opt-{uuid.uuid4().hex}", 1))
        m = tcp.recv()
        check(m is not None and status(m) == 200, "OPTIONS over TCP → 200")
        if tls_port is not None:
            check(f"TLS 127.0.0.1:{tls_port}" in startup, "the startup line lists the TLS listener")
            tls = TcpUa(tls_port, tls_ca=cert)
            tls.send(request("OPTIONS", f"sip:{HOST}:{tls_port};transport=tls", tls.via(),
                             "<sip:probe@example.test>;tag=p3", f"<sip:{HOST}:{tls_port}>", f"opt-{uuid.uuid4().hex}", 1))
            m = tls.recv()
            check(m is not None and status(m) == 200, "OPTIONS over TLS → 200")
            m = register(tls, port, "dave", 600)
            check(m is not None and status(m) == 200, "REGISTER over TLS → 200")
            tls.close()

        m = register(ua, port, "alice", 600)
        check(m is not None and status(m) == 200, "REGISTER → 200")
        check(m is not None and "expires=600" in header(m, "Contact"), "the 200 lists the binding with its expiry")
        m = register(ua, port, "carol", 10)
        check(m is not None and status(m) == 423 and header(m, "Min-Expires") == "60",
              "REGISTER below min_expires → 423 with Min-Expires: 60")

        ua.send("INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-bad\r\n"
                "To: <sip:bob@example.test>\r\nCall-ID: bad-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" % ua.port,
                port)
        m = ua.recv()
        check(m is not None and status(m) == 400, "a request without From → stateless 400")
        check(m is not None and header(m, "Call-ID") == "bad-1", "the 400 copies the intact headers")

        # Calls: the callee registered over UDP, then over TCP; several callers (source ports) so
        # requests and responses are spread over both shards.
        bob_udp = UdpUa()
        m = register(bob_udp, port, "bob", 600)
        check(m is not None and status(m) == 200, "bob registers over UDP")
        for i in range(4):
            caller = UdpUa()
            call(port, caller, bob_udp, f"call {i} (callee UDP)")
            caller.close()
        bob_tcp = TcpUa(port)
        m = register(bob_udp, port, "bob", 0)
        check(m is not None and status(m) == 200, "bob unregisters the UDP contact")
        m = register(bob_tcp, port, "bob", 600)
        check(m is not None and status(m) == 200, "bob registers over TCP")
        for i in range(4):
            caller = UdpUa()
            call(port, caller, bob_tcp, f"call {i} (callee TCP)")
            caller.close()
        tcp.close()
        bob_tcp.close()
        bob_udp.close()
        ua.close()

        # ---- SIGTERM ----
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        check(rc == 0, f"SIGTERM → exit 0 (got {rc})")
        with open(log_path) as f:
            out = f.read()
        check("stopped" in out, "the controller logs its shutdown")
        for line in out.splitlines():
            if "totals" in line or "shell:" in line:
                print("     " + line.split("] ", 1)[-1])
        if failures:
            print(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        if not failures:
            shutil.rmtree(tmp, ignore_errors=True)  # kept on failure for the log


if __name__ == "__main__":
    main()
    if failures:
        print(f"{len(failures)} check(s) failed", flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)

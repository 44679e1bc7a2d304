#!/usr/bin/env python3
"""A small SIP phone for the Portcullis NAT lab: REGISTER, one call as caller (UAC) or callee
(UAS), RTP that proves media passes both ways. UDP only, no authentication, bounded in time.

Every event is one JSON line on stdout, flushed, so scripts can follow a call:
  {"ev": "registered", ...}  {"ev": "final", "status": 200, "remote_media": "203.0.113.1:40000"}
  {"ev": "media", "sent": N, "echoed": M, "rx": K, "stray": S}   (once a second while in a call)
  {"ev": "bye", "status": 200}  {"ev": "done", ...}

  labphone.py uac --sip IP:PORT --proxy IP:PORT --user alice --to bob [--rtp PORT] [--talk S]
              [--register] [--cancel-after S] [--sdp normal|no-c|port0|many|unknown-net]
              [--no-answer-timeout S]
  labphone.py uas --sip IP:PORT --proxy IP:PORT --user bob [--rtp PORT] [--answer 200|486|603|ring]
              [--ring S] [--calls N] [--wait S]
  labphone.py stray --src IP:PORT --dst IP:PORT [--count N]     (a third host's packets)

Media: the caller sends RTP (PT 0, 20 ms) to the answer's c=/m= and counts the echoes; the callee
echoes every packet back to where it came from (symmetric RTP) and counts what it got. Packets
whose payload starts with STRAY are counted as stray and never echoed.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import threading
import time

DOMAIN = 'lab.example'


def out(**kw):
    kw.setdefault('t', round(time.time(), 3))
    print(json.dumps(kw), flush=True)


def ep(text):
    host, port = text.rsplit(':', 1)
    return host, int(port)


def rand_hex(n=8):
    return '%0*x' % (n, random.getrandbits(4 * n))


# ---------------------------------------------------------------------------------------- SIP

class Msg:
    def __init__(self, raw):
        text = raw.decode(errors='replace')
        head, _, body = text.partition('\r\n\r\n')
        lines = head.split('\r\n')
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (' ', '\t') and self.headers:
                self.headers[-1] = (self.headers[-1][0], self.headers[-1][1] + ' ' + line.strip())
            elif ':' in line:
                n, v = line.split(':', 1)
                self.headers.append((n.strip(), v.strip()))
        self.body = body
        parts = self.first.split(' ', 2)
        self.is_response = parts[0].startswith('SIP/')
        self.status = int(parts[1]) if self.is_response else 0
        self.method = '' if self.is_response else parts[0]
        self.ruri = '' if self.is_response else parts[1]

    COMPACT = {'v': 'via', 'f': 'from', 't': 'to', 'i': 'call-id', 'm': 'contact', 'l': 'content-length',
               'c': 'content-type'}

    def all(self, name):
        name = name.lower()
        res = []
        for n, v in self.headers:
            ln = self.COMPACT.get(n.lower(), n.lower())
            if ln == name:
                res.extend(split_commas(v) if name in ('via', 'record-route', 'route', 'contact') else [v])
        return res

    def get(self, name):
        v = self.all(name)
        return v[0] if v else ''

    def cseq_method(self):
        return self.get('cseq').split()[-1].upper() if self.get('cseq') else ''


def split_commas(v):
    res, depth, cur, quote = [], 0, '', False
    for ch in v:
        if ch == '"':
            quote = not quote
        if not quote:
            if ch == '<':
                depth += 1
            elif ch == '>':
                depth -= 1
            elif ch == ',' and depth == 0:
                res.append(cur.strip())
                cur = ''
                continue
        cur += ch
    if cur.strip():
        res.append(cur.strip())
    return res


def uri_of(name_addr):
    if '<' in name_addr:
        return name_addr[name_addr.index('<') + 1:name_addr.index('>')]
    return name_addr.split(';')[0].strip()


def tag_of(header):
    for p in header.split(';')[1:]:
        if p.strip().lower().startswith('tag='):
            return p.strip()[4:]
    return ''


def hostport_of_uri(uri):
    rest = uri.split(':', 1)[1]
    if '@' in rest:
        rest = rest.split('@', 1)[1]
    rest = rest.split(';')[0].split('?')[0]
    if ':' in rest:
        h, p = rest.rsplit(':', 1)
        return h, int(p)
    return rest, 5060


def build(first, headers, body=''):
    lines = [first]
    for n, v in headers:
        lines.append('%s: %s' % (n, v))
    if body:
        lines.append('Content-Type: application/sdp')
    lines.append('Content-Length: %d' % len(body.encode()))
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


def make_sdp(ip, port, user, variant='normal'):
    sid = random.randint(1000, 99999)
    o = 'o=%s %d %d IN IP4 %s' % (user, sid, sid, ip)
    if variant == 'no-c':
        return 'v=0\r\n%s\r\ns=-\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' % (o, port)
    if variant == 'port0':
        return ('v=0\r\n%s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n'
                % (o, ip))
    if variant == 'many':
        ms = ''.join('m=audio %d RTP/AVP 0\r\n' % (port + 2 * i) for i in range(20))
        return 'v=0\r\n%s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n%s' % (o, ip, ms)
    if variant == 'unknown-net':
        return ('v=0\r\n%s\r\ns=-\r\nc=IN IPX %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n' % (o, ip, port))
    return ('v=0\r\n%s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n'
            'a=sendrecv\r\n' % (o, ip, port))


def sdp_media(body):
    """(ip, port) of the first active stream, or None."""
    ip, port = None, None
    for line in body.replace('\r\n', '\n').split('\n'):
        if line.startswith('c=') and port is None:
            ip = line.split()[-1].split('/')[0]
        elif line.startswith('m=') and port is None:
            p = int(line.split()[1])
            if p != 0:
                port = p
        elif line.startswith('c=') and port is not None:
            ip = line.split()[-1].split('/')[0]
            break
        elif line.startswith('m=') and port is not None:
            break
    if ip is None or port is None:
        return None
    return ip, port


class Phone:
    def __init__(self, a):
        self.a = a
        self.ip, self.port = ep(a.sip)
        self.proxy = ep(a.proxy) if a.proxy else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.ip, self.port))
        self.contact = '<sip:%s@%s:%d>' % (a.user, self.ip, self.port)
        self.cseq = 1
        self.queue = []

    def via(self, branch=None):
        return 'SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport' % (self.ip, self.port, branch or rand_hex(12))

    def send(self, data, dest):
        self.sock.sendto(data, dest)

    def recv(self, timeout):
        """Next SIP message within timeout (ignores keep-alive CRLFs, counted)."""
        if self.queue:
            return self.queue.pop(0)
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            if data.strip(b'\r\n') == b'':
                out(ev='keepalive', src='%s:%d' % src)
                continue
            try:
                m = Msg(data)
            except Exception:  # noqa: BLE001 - lab tool: skip garbage
                continue
            m.src = src
            return m

    def respond(self, req, status, reason, to_tag=None, body='', extra=()):
        to = req.get('to')
        if to_tag and 'tag=' not in to:
            to += ';tag=' + to_tag
        hdrs = [('Via', v) for v in req.all('via')]
        hdrs += [('Record-Route', r) for r in req.all('record-route')] if 100 < status < 300 else []
        hdrs += [('From', req.get('from')), ('To', to), ('Call-ID', req.get('call-id')),
                 ('CSeq', req.get('cseq'))]
        if 100 < status < 300:
            hdrs.append(('Contact', self.contact))
        hdrs += list(extra)
        # Responses go back where the request came from (rport, RFC 3581).
        self.send(build('SIP/2.0 %d %s' % (status, reason), hdrs, body), req.src)

    def register(self, expires=300):
        call_id = rand_hex(16) + '@' + DOMAIN
        tag = rand_hex()
        for attempt in range(8):
            hdrs = [('Via', self.via()), ('Max-Forwards', '70'),
                    ('From', '<sip:%s@%s>;tag=%s' % (self.a.user, DOMAIN, tag)),
                    ('To', '<sip:%s@%s>' % (self.a.user, DOMAIN)), ('Call-ID', call_id),
                    ('CSeq', '%d REGISTER' % self.cseq), ('Contact', self.contact), ('Expires', str(expires))]
            self.send(build('REGISTER sip:%s SIP/2.0' % DOMAIN, hdrs), self.proxy)
            end = time.time() + 0.5 * (attempt + 1)
            while time.time() < end:
                m = self.recv(end - time.time())
                if m and m.is_response and m.cseq_method() == 'REGISTER':
                    self.cseq += 1
                    out(ev='registered', status=m.status, user=self.a.user)
                    return m.status == 200
                if m:
                    self.queue.append(m)
        out(ev='registered', status=0, user=self.a.user)
        return False


# ---------------------------------------------------------------------------------------- RTP

class Media:
    """One RTP socket: the caller sends and counts echoes, the callee echoes."""

    def __init__(self, ip, port, echo):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.echo = echo
        self.sent = self.echoed = self.rx = self.stray = 0
        self.sources = set()
        self.remote = None
        self.echo_to = None   # callee: send to the offer's c=/m= (as a phone would), not the source
        self.stop = False
        self.last_rx = None
        self.max_gap = 0.0
        threading.Thread(target=self._rx, daemon=True).start()

    def _rx(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                d, src = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if d[12:17] == b'STRAY' or d.startswith(b'STRAY'):
                self.stray += 1
                continue
            now = time.time()
            if self.last_rx is not None:
                self.max_gap = max(self.max_gap, now - self.last_rx)
            self.last_rx = now
            self.rx += 1
            self.sources.add('%s:%d' % src)
            if self.echo:
                try:
                    self.sock.sendto(d, self.echo_to or src)
                    self.sent += 1
                except OSError:
                    pass
            else:
                self.echoed += 1

    def talk(self, remote, seconds, report):
        """Send 50 packets/s to remote for seconds; report() once a second."""
        self.remote = remote
        ssrc = random.getrandbits(32)
        seq = random.getrandbits(16)
        ts = random.getrandbits(32)
        start = time.time()
        next_report = start + 1
        i = 0
        while time.time() - start < seconds:
            hdr = struct.pack('!BBHII', 0x80, 0, (seq + i) & 0xffff, (ts + 160 * i) & 0xffffffff, ssrc)
            try:
                self.sock.sendto(hdr + b'\xff' * 160, remote)
                self.sent += 1
            except OSError:
                pass
            i += 1
            target = start + i * 0.02
            if time.time() >= next_report:
                report()
                next_report += 1
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
        time.sleep(0.3)  # last echoes

    def stats(self):
        return dict(sent=self.sent, echoed=self.echoed, rx=self.rx, stray=self.stray,
                    sources=sorted(self.sources))

    def close(self):
        self.stop = True
        self.sock.close()


# ---------------------------------------------------------------------------------------- UAC

def uac(a):
    ph = Phone(a)
    if a.register and not ph.register():
        return 2
    rtp_ip = ph.ip
    media = Media(rtp_ip, a.rtp, echo=False)
    call_id = rand_hex(16) + '@' + ph.ip   # host part = our address: the controller hides it
    tag = rand_hex()
    branch = rand_hex(12)
    target = 'sip:%s@%s' % (a.to, DOMAIN)
    sdp = make_sdp(rtp_ip, a.rtp, a.user, a.sdp)
    from_h = '<sip:%s@%s>;tag=%s' % (a.user, DOMAIN, tag)
    to_h = '<sip:%s@%s>' % (a.to, DOMAIN)
    via = ph.via(branch)
    invite = build('INVITE %s SIP/2.0' % target,
                   [('Via', via), ('Max-Forwards', '70'), ('From', from_h), ('To', to_h),
                    ('Call-ID', call_id), ('CSeq', '1 INVITE'), ('Contact', ph.contact),
                    ('Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS'), ('User-Agent', 'portcullis-labphone')], sdp)
    out(ev='invite', to=target, call_id=call_id, sdp=a.sdp, media='%s:%d' % (rtp_ip, a.rtp))
    ph.send(invite, ph.proxy)
    start = time.time()
    next_retx, interval = start + 0.5, 0.5
    got_provisional = False
    cancel_sent = False
    final = None
    while final is None:
        now = time.time()
        if now - start > a.no_answer_timeout:
            out(ev='final', status=0, reason='no final response')
            media.close()
            return 1
        if a.cancel_after is not None and got_provisional and not cancel_sent and now - start >= a.cancel_after:
            cancel = build('CANCEL %s SIP/2.0' % target,
                           [('Via', via), ('Max-Forwards', '70'), ('From', from_h), ('To', to_h),
                            ('Call-ID', call_id), ('CSeq', '1 CANCEL')])
            ph.send(cancel, ph.proxy)
            cancel_sent = True
            out(ev='cancel')
        if not got_provisional and now >= next_retx:
            ph.send(invite, ph.proxy)
            interval = min(interval * 2, 4)
            next_retx = now + interval
        m = ph.recv(0.1)
        if m is None or not m.is_response:
            continue
        if m.cseq_method() == 'CANCEL':
            out(ev='cancel_response', status=m.status)
            continue
        if m.cseq_method() != 'INVITE':
            continue
        if m.status < 200:
            got_provisional = True
            if m.status > 100:
                out(ev='provisional', status=m.status)
            continue
        final = m
    to_full = final.get('to')
    if final.status >= 300:
        ack = build('ACK %s SIP/2.0' % target,
                    [('Via', via), ('Max-Forwards', '70'), ('From', from_h), ('To', to_full),
                     ('Call-ID', call_id), ('CSeq', '1 ACK')])
        ph.send(ack, ph.proxy)
        out(ev='final', status=final.status, reason=final.first.split(' ', 2)[2] if ' ' in final.first else '',
            warning=final.get('warning'))
        media.close()
        return 0
    remote = sdp_media(final.body)
    out(ev='final', status=200, remote_media='%s:%d' % remote if remote else None,
        contact=final.get('contact'), record_route=final.all('record-route'), answer_sdp=final.body)
    # Dialog: route set = Record-Route reversed (RFC 3261 §12.1.2), remote target = Contact.
    routes = list(reversed(final.all('record-route')))
    remote_target = uri_of(final.get('contact'))
    if routes:
        first = uri_of(routes[0])
        if ';lr' in first:
            ruri, next_hop = remote_target, hostport_of_uri(first)
        else:  # strict router: not expected here
            ruri, next_hop = first, hostport_of_uri(first)
    else:
        ruri, next_hop = remote_target, hostport_of_uri(remote_target)

    def in_dialog(method, cseq):
        hdrs = [('Via', ph.via()), ('Max-Forwards', '70')]
        hdrs += [('Route', r) for r in routes]
        hdrs += [('From', from_h), ('To', to_full), ('Call-ID', call_id), ('CSeq', '%d %s' % (cseq, method))]
        return build('%s %s SIP/2.0' % (method, ruri), hdrs)

    ph.send(in_dialog('ACK', 1), next_hop)
    if remote:
        def report():
            out(ev='media', **media.stats())
        media.talk(remote, a.talk, report)
    out(ev='media', final=True, **media.stats())
    if a.await_bye:
        # The callee hangs up: its BYE follows its own route set (the Record-Route in order).
        end = time.time() + a.await_bye
        while time.time() < end:
            m = ph.recv(end - time.time())
            if m is None:
                break
            if not m.is_response and m.method == 'BYE' and m.get('call-id') == call_id:
                ph.respond(m, 200, 'OK')
                out(ev='bye', status=200, by='callee', route=m.all('route'))
                media.close()
                return 0
            if m.is_response and m.cseq_method() == 'INVITE' and m.status == 200:
                ph.send(in_dialog('ACK', 1), next_hop)  # 2xx retransmission
        out(ev='bye', status=0, by='callee')
        media.close()
        return 0
    # BYE, retransmitted a few times.
    bye = in_dialog('BYE', 2)
    status = 0
    for attempt in range(6):
        ph.send(bye, next_hop)
        end = time.time() + 0.5 * (attempt + 1)
        while time.time() < end:
            m = ph.recv(end - time.time())
            if m is None:
                break
            if m.is_response and m.cseq_method() == 'BYE':
                status = m.status
                break
            if m.is_response and m.cseq_method() == 'INVITE' and m.status == 200:
                ph.send(in_dialog('ACK', 1), next_hop)  # 2xx retransmission
        if status:
            break
    out(ev='bye', status=status)
    media.close()
    return 0


# ---------------------------------------------------------------------------------------- UAS

def uas(a):
    ph = Phone(a)
    if a.proxy and not ph.register():
        return 2
    media = Media(ph.ip, a.rtp, echo=True)
    calls = 0
    deadline = time.time() + a.wait
    dialogs = {}   # call-id -> state
    last_report = time.time()
    while time.time() < deadline and calls < a.calls:
        m = ph.recv(0.2)
        now = time.time()
        if now - last_report >= 1 and any(d['state'] == 'confirmed' for d in dialogs.values()):
            out(ev='media', **media.stats())
            last_report = now
        # pending answers (ringing time elapsed) and 2xx retransmissions until ACK
        for cid, d in list(dialogs.items()):
            if d['state'] == 'ringing' and a.answer != 'ring' and now >= d['answer_at']:
                if a.answer == '200':
                    offer = d['invite'].body
                    d['sdp'] = answer_sdp(offer, ph.ip, a.rtp, a.user)
                    ph.respond(d['invite'], 200, 'OK', d['tag'], d['sdp'])
                    d['state'] = 'answered'
                    d['retx'] = now + 0.5
                    media.echo_to = sdp_media(offer)
                    out(ev='answered', call_id=cid, remote_media='%s:%d' % sdp_media(offer) if sdp_media(offer) else None,
                        offer_sdp=offer)
                else:
                    code = int(a.answer)
                    ph.respond(d['invite'], code, {486: 'Busy Here', 603: 'Decline'}.get(code, 'Rejected'), d['tag'])
                    d['state'] = 'rejected'
                    out(ev='rejected', status=code, call_id=cid)
            elif d['state'] == 'answered' and now >= d['retx']:
                ph.respond(d['invite'], 200, 'OK', d['tag'], d['sdp'])
                d['retx'] = now + 1.0
        for cid, d in list(dialogs.items()):
            if a.hangup_after is not None and d['state'] == 'confirmed' and now >= d['confirmed_at'] + a.hangup_after:
                if d.get('bye_tries', 0) >= 6:
                    out(ev='bye_sent', call_id=cid, status=0, **media.stats())
                    d['state'] = 'ended'
                    calls += 1
                elif now >= d.get('bye_at', 0):
                    bye, hop = uas_bye(ph, d)
                    ph.send(bye, hop)
                    d['bye_tries'] = d.get('bye_tries', 0) + 1
                    d['bye_at'] = now + 0.5 * d['bye_tries']
        if m is not None and m.is_response and m.cseq_method() == 'BYE':
            d = dialogs.get(m.get('call-id'))
            if d and d['state'] == 'confirmed' and m.status >= 200:
                out(ev='bye_sent', call_id=m.get('call-id'), status=m.status, **media.stats())
                d['state'] = 'ended'
                calls += 1
            continue
        if m is None or m.is_response:
            continue
        cid = m.get('call-id')
        if m.method == 'INVITE':
            if cid in dialogs:
                continue  # retransmission
            tag = rand_hex()
            ph.respond(m, 100, 'Trying')
            ph.respond(m, 180, 'Ringing', tag)
            dialogs[cid] = dict(invite=m, tag=tag, state='ringing', answer_at=now + a.ring)
            out(ev='invite', call_id=cid, src='%s:%d' % m.src, sdp=m.body, headers=m.headers)
        elif m.method == 'CANCEL':
            ph.respond(m, 200, 'OK')
            d = dialogs.get(cid)
            if d and d['state'] == 'ringing':
                ph.respond(d['invite'], 487, 'Request Terminated', d['tag'])
                d['state'] = 'cancelled'
            out(ev='cancelled', call_id=cid)
        elif m.method == 'ACK':
            d = dialogs.get(cid)
            if d and d['state'] == 'answered':
                d['state'] = 'confirmed'
                d['confirmed_at'] = now
                out(ev='ack', call_id=cid)
            elif d and d['state'] in ('rejected', 'cancelled'):
                calls += 1
        elif m.method == 'BYE':
            ph.respond(m, 200, 'OK')
            out(ev='bye', call_id=cid, **media.stats())
            if cid in dialogs:
                dialogs[cid]['state'] = 'ended'
            calls += 1
        elif m.method == 'OPTIONS':
            ph.respond(m, 200, 'OK')
        else:
            ph.respond(m, 405, 'Method Not Allowed')
    out(ev='done', calls=calls, **media.stats())
    media.close()
    return 0


def uas_bye(ph, d):
    """The callee's BYE (RFC 3261 §15.1.1) along its route set: the INVITE's Record-Route in order
    (§12.1.1), remote target = the caller's Contact. Returns (bytes, next hop)."""
    inv = d['invite']
    routes = inv.all('record-route')
    remote_target = uri_of(inv.get('contact'))
    if routes and ';lr' in uri_of(routes[0]):
        next_hop = hostport_of_uri(uri_of(routes[0]))
    else:
        next_hop = hostport_of_uri(remote_target)
    from_h = inv.get('to')
    if 'tag=' not in from_h:
        from_h += ';tag=' + d['tag']
    hdrs = [('Via', ph.via()), ('Max-Forwards', '70')]
    hdrs += [('Route', r) for r in routes]
    hdrs += [('From', from_h), ('To', inv.get('from')), ('Call-ID', inv.get('call-id')), ('CSeq', '1 BYE')]
    return build('BYE %s SIP/2.0' % remote_target, hdrs), next_hop


def answer_sdp(offer, ip, port, user):
    """One answer line per offered m= line: the first active one gets our port, others 0."""
    ms = [l for l in offer.replace('\r\n', '\n').split('\n') if l.startswith('m=')]
    sid = random.randint(1000, 99999)
    body = 'v=0\r\no=%s %d %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n' % (user, sid, sid, ip, ip)
    used = False
    for line in ms or ['m=audio 1 RTP/AVP 0']:
        f = line[2:].split()
        if f[1] != '0' and not used:
            body += 'm=%s %d %s %s\r\na=sendrecv\r\n' % (f[0], port, f[2], ' '.join(f[3:]) or '0')
            used = True
        else:
            body += 'm=%s 0 %s %s\r\n' % (f[0], f[2], ' '.join(f[3:]) or '0')
    return body


def stray(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(ep(a.src))
    for i in range(a.count):
        s.sendto(struct.pack('!BBHII', 0x80, 0, i, 0, 0x5742) + b'STRAY-%d' % i, ep(a.dst))
        time.sleep(0.02)
    out(ev='stray_sent', count=a.count, src=a.src, dst=a.dst)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    u = sub.add_parser('uac')
    u.add_argument('--sip', required=True)
    u.add_argument('--proxy', required=True)
    u.add_argument('--user', required=True)
    u.add_argument('--to', required=True)
    u.add_argument('--rtp', type=int, default=4000)
    u.add_argument('--talk', type=float, default=3)
    u.add_argument('--register', action='store_true')
    u.add_argument('--cancel-after', type=float)
    u.add_argument('--no-answer-timeout', type=float, default=40)
    u.add_argument('--sdp', default='normal', choices=['normal', 'no-c', 'port0', 'many', 'unknown-net'])
    u.add_argument('--await-bye', type=float, help='after talking, wait this long for the callee to hang up')
    s = sub.add_parser('uas')
    s.add_argument('--sip', required=True)
    s.add_argument('--proxy')
    s.add_argument('--user', required=True)
    s.add_argument('--rtp', type=int, default=6000)
    s.add_argument('--answer', default='200', choices=['200', '486', '603', 'ring'])
    s.add_argument('--ring', type=float, default=0.3)
    s.add_argument('--calls', type=int, default=1)
    s.add_argument('--wait', type=float, default=60)
    s.add_argument('--hangup-after', type=float, help='send BYE this long after the ACK (the callee hangs up)')
    x = sub.add_parser('stray')
    x.add_argument('--src', required=True)
    x.add_argument('--dst', required=True)
    x.add_argument('--count', type=int, default=10)
    a = p.parse_args()
    return {'uac': uac, 'uas': uas, 'stray': stray}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())

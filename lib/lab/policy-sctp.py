#!/usr/bin/env python3
"""SCTP probes for the policy lab, over raw IP sockets (the lab kernel has no SCTP sockets).

  policy-sctp.py serve PORT[,PORT...]   answers every SCTP INIT to one of the ports with an INIT-ACK
  policy-sctp.py probe JSON             JSON: {"targets": [{"ip": "10.66.0.2", "port": 80}], "timeoutMs": 800}
                                        sends one INIT per target, prints a JSON list of booleans
                                        (true: the matching INIT-ACK came back)

The INIT / INIT-ACK exchange is the first half of a real SCTP association on the wire: conntrack
tracks it (checksums and verification tags are checked), nftables matches it as SCTP to the port.
"""
import json, os, random, select, socket, struct, sys, time

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def packet(sport, dport, vtag, chunk):
    raw = struct.pack('!HHII', sport, dport, vtag, 0) + chunk
    return raw[:8] + struct.pack('<I', crc32c(raw)) + chunk


def init_chunk(tag):
    return struct.pack('!BBHIIHHI', 1, 0, 20, tag, 65535, 1, 1, random.getrandbits(32))


def init_ack_chunk(tag):
    cookie = struct.pack('!HH4s', 7, 8, os.urandom(4))
    return struct.pack('!BBHIIHHI', 2, 0, 20 + len(cookie), tag, 65535, 1, 1, random.getrandbits(32)) + cookie


def parse(data):
    ihl = (data[0] & 0x0F) * 4
    src = socket.inet_ntoa(data[12:16])
    sport, dport, vtag = struct.unpack('!HHI', data[ihl:ihl + 8])
    chunk = data[ihl + 12:]
    if len(chunk) < 8:
        return None
    ctype = chunk[0]
    tag = struct.unpack('!I', chunk[4:8])[0]
    return src, sport, dport, vtag, ctype, tag


def serve(ports):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_SCTP)
    print('listening', flush=True)
    while True:
        data, _ = sock.recvfrom(65535)
        p = parse(data)
        if not p:
            continue
        src, sport, dport, _vtag, ctype, tag = p
        if ctype == 1 and dport in ports:
            sock.sendto(packet(dport, sport, tag, init_ack_chunk(random.getrandbits(32) or 1)), (src, 0))


def probe(req):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_SCTP)
    pending = {}
    results = [False] * len(req['targets'])
    for i, t in enumerate(req['targets']):
        tag = random.getrandbits(31) + 1
        sport = 20000 + (os.getpid() * 7 + i) % 40000
        pending[tag] = i
        sock.sendto(packet(sport, t['port'], 0, init_chunk(tag)), (t['ip'], 0))
    deadline = time.time() + req.get('timeoutMs', 800) / 1000
    while pending and time.time() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0, deadline - time.time()))
        if not ready:
            break
        p = parse(sock.recv(65535))
        if p and p[4] == 2 and p[3] in pending:
            i = pending.pop(p[3])
            if req['targets'][i]['ip'] == p[0] and req['targets'][i]['port'] == p[1]:
                results[i] = True
    print(json.dumps(results), flush=True)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve({int(p) for p in sys.argv[2].split(',')})
    else:
        probe(json.loads(sys.argv[2]))

/**
 * The program each policy-lab pod runs: `node policy-pod.js '<json>'` with
 * `{"tcp":[80],"udp":[80],"sctp":[80],"sctpHelper":"/path/policy-sctp.py"}`. It serves echo on
 * every TCP and UDP port (and answers SCTP INITs through the helper), prints `ready`, then reads
 * probe requests on stdin, one JSON line each:
 * `{"id":1,"timeoutMs":800,"targets":[{"ip":"10.66.0.3","port":80,"protocol":"TCP"}]}` and
 * answers `{"id":1,"results":[true]}`. A probe succeeds when the echo (TCP, UDP), the INIT-ACK
 * (SCTP) or the echo reply (ICMP, via ping) comes back.
 */
import * as dgram from 'dgram';
import * as net from 'net';
import * as readline from 'readline';
import { spawn } from 'child_process';

interface Spec {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
  readonly sctp: readonly number[];
  readonly sctpHelper: string;
}
interface Target {
  readonly ip: string;
  readonly port?: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
}
interface Request {
  readonly id: number;
  readonly timeoutMs: number;
  readonly targets: readonly Target[];
}

const spec = JSON.parse(process.argv[2]) as Spec;
const token = () => `p${process.pid}-${Math.random().toString(36).slice(2)}`;

function tcp(t: Target, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const tok = token();
    let got = '';
    const socket = net.connect({ host: t.ip, port: t.port ?? 0 });
    const done = (ok: boolean) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write(tok));
    socket.on('data', (d: Buffer) => { got += d.toString(); if (got === tok) done(true); });
    socket.on('error', () => done(false));
  });
}

function udp(t: Target, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const tok = token();
    const socket = dgram.createSocket('udp4');
    const done = (ok: boolean) => { clearTimeout(timer); socket.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('message', (m) => { if (m.toString() === tok) done(true); });
    socket.on('error', () => done(false));
    socket.send(tok, t.port ?? 0, t.ip);
  });
}

function runJson<T>(argv: readonly string[]): Promise<T | undefined> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', () => { try { resolve(JSON.parse(out) as T); } catch { resolve(undefined); } });
    child.on('error', () => resolve(undefined));
  });
}

function icmp(t: Target, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('ping', ['-n', '-q', '-c', '1', '-W', String(Math.max(1, Math.ceil(timeoutMs / 1000))), t.ip], { stdio: 'ignore' });
    child.on('close', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}

async function probe(req: Request): Promise<boolean[]> {
  const sctpTargets = req.targets.map((t, i) => ({ t, i })).filter(({ t }) => t.protocol === 'SCTP');
  const sctpResults = sctpTargets.length
    ? runJson<boolean[]>(['python3', spec.sctpHelper, 'probe', JSON.stringify({ timeoutMs: req.timeoutMs, targets: sctpTargets.map(({ t }) => t) })])
    : Promise.resolve([]);
  const others = req.targets.map((t) => (t.protocol === 'TCP' ? tcp(t, req.timeoutMs) : t.protocol === 'UDP' ? udp(t, req.timeoutMs)
    : t.protocol === 'ICMP' ? icmp(t, req.timeoutMs) : Promise.resolve(false)));
  const [sctp, rest] = await Promise.all([sctpResults, Promise.all(others)]);
  sctpTargets.forEach(({ i }, k) => { rest[i] = sctp?.[k] ?? false; });
  return rest;
}

async function main(): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const port of spec.tcp) {
    const server = net.createServer((s) => { s.on('error', () => s.destroy()); s.pipe(s); });
    waits.push(new Promise((r) => server.listen(port, '0.0.0.0', () => r())));
  }
  for (const port of spec.udp) {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (m, rinfo) => socket.send(m, rinfo.port, rinfo.address));
    waits.push(new Promise((r) => socket.bind(port, '0.0.0.0', () => r())));
  }
  if (spec.sctp.length) {
    const helper = spawn('python3', [spec.sctpHelper, 'serve', spec.sctp.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    process.on('exit', () => helper.kill());
    waits.push(new Promise((r) => helper.stdout.once('data', () => r())));
  }
  await Promise.all(waits);
  process.stdout.write('ready\n');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const req = JSON.parse(line) as Request;
    void probe(req).then((results) => process.stdout.write(`${JSON.stringify({ id: req.id, results })}\n`));
  });
  rl.on('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

void main();

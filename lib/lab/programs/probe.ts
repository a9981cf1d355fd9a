/**
 * Probes targets from inside a pod namespace: `node probe.js '<json>'` with
 * `{"targets":[{"ip":"10.244.1.2","port":7777}],"icmp":true,"tcp":true,"timeoutMs":2000}`.
 * Prints one JSON line `{"results":[{"ip","icmp","tcp","error"?}]}`. TCP success means a token
 * written to the echo server came back intact.
 */
import * as net from 'net';
import { spawn } from 'child_process';

interface Target {
  readonly ip: string;
  readonly port: number;
}
interface Request {
  readonly targets: readonly Target[];
  readonly icmp: boolean;
  readonly tcp: boolean;
  readonly timeoutMs: number;
}
interface Result {
  ip: string;
  icmp?: boolean;
  tcp?: boolean;
  error?: string;
}

function tcpEcho(target: Target, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const token = `probe-${process.pid}-${Math.random().toString(36).slice(2)}\n`;
    let got = '';
    const socket = net.connect({ host: target.ip, port: target.port });
    const done = (error: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    const timer = setTimeout(() => done(`tcp timeout after ${timeoutMs} ms`), timeoutMs);
    socket.on('connect', () => socket.write(token));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      if (got.length >= token.length) done(got === token ? undefined : 'tcp echo mismatch');
    });
    socket.on('error', (err) => done(`tcp ${err.message}`));
  });
}

function ping(ip: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const child = spawn('ping', ['-c', '1', '-W', seconds, '-n', '-q', ip], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as Request;
  const results = await Promise.all(
    request.targets.map(async (target): Promise<Result> => {
      const result: Result = { ip: target.ip };
      const [icmp, tcpError] = await Promise.all([
        request.icmp ? ping(target.ip, request.timeoutMs) : Promise.resolve(undefined),
        request.tcp ? tcpEcho(target, request.timeoutMs) : Promise.resolve(undefined),
      ]);
      if (request.icmp) result.icmp = icmp;
      if (request.tcp) {
        result.tcp = tcpError === undefined;
        if (tcpError) result.error = tcpError;
      }
      return result;
    }),
  );
  process.stdout.write(JSON.stringify({ results }) + '\n');
}

void main();

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A real etcd (Debian's `/usr/bin/etcd`) for tests: one member on 127.0.0.1, free ports, a temporary
 * data directory. It is stopped and its directory removed by `stop()`, on process exit, on
 * SIGINT/SIGTERM, and by a detached watchdog if this process dies without running any handler.
 *
 * ```ts
 * const etcd = await startEtcd();
 * // … EtcdStore.connect({ endpoints: [etcd.endpoint] }) …
 * await etcd.stop();
 * ```
 */
export interface EtcdServer {
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly pid: number;
  /** Stops etcd (SIGTERM, then SIGKILL after 5 s) and removes its data directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops etcd but keeps the data directory; `restart()` brings it back on the same ports and data. */
  pause(): Promise<void>;
  restart(): Promise<void>;
}

export interface StartEtcdOptions {
  /** @default /usr/bin/etcd (or $ETCD_BIN) */
  readonly binary?: string;
  /** @default 20000 ms */
  readonly startTimeoutMs?: number;
  /** Extra command-line flags. @default none */
  readonly extraArgs?: readonly string[];
  /**
   * Serve clients over TLS with this certificate; with `clientCaFile`, require client certificates
   * signed by it (`--client-cert-auth`). `healthCa`/`healthCert`/`healthKey` are used for the
   * readiness probe. @default plain HTTP
   */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly clientCaFile?: string;
    readonly healthCa: string;
    readonly healthCert?: string;
    readonly healthKey?: string;
  };
}

const running = new Set<{ child: ChildProcess; dir: string }>();
let handlersInstalled = false;

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const binary = options.binary ?? process.env.ETCD_BIN ?? '/usr/bin/etcd';
  if (!fs.existsSync(binary)) {
    throw new Error(`etcd not found at ${binary}: install Debian's etcd-server (bash scripts/ensure-system-deps.sh)`);
  }
  installHandlers();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `cnikit-etcd-${process.pid}-`));
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const clientPort = await freePort();
    const peerPort = await freePort();
    try {
      return await launch(binary, dataDir, clientPort, peerPort, options);
    } catch (error) {
      lastError = error as Error; // most likely a port taken between probing and binding: try others
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  throw lastError ?? new Error('etcd did not start');
}

async function launch(binary: string, dataDir: string, clientPort: number, peerPort: number, options: StartEtcdOptions): Promise<EtcdServer> {
  const tls = options.tls;
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const name = `cnikit-${process.pid}`;
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-level', 'error',
    ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile] : []),
    ...(tls?.clientCaFile ? ['--client-cert-auth', '--trusted-ca-file', tls.clientCaFile] : []),
    ...(options.extraArgs ?? []),
  ];
  let entry: { child: ChildProcess; dir: string } | undefined;
  let stderr = '';

  const spawnEtcd = async (): Promise<void> => {
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    entry = { child, dir: dataDir };
    running.add(entry);
    startWatchdog(child.pid ?? 0, dataDir);
    const deadline = Date.now() + (options.startTimeoutMs ?? 20000);
    while (!(await healthy(endpoint, tls))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(entry);
        throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
      if (Date.now() > deadline) {
        await kill(child);
        running.delete(entry);
        throw new Error(`etcd did not become healthy on ${endpoint}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
      await sleep(100);
    }
  };

  const halt = async (): Promise<void> => {
    if (!entry) return;
    const current = entry;
    entry = undefined;
    await kill(current.child);
    running.delete(current);
  };

  await spawnEtcd();
  return {
    endpoint,
    clientPort,
    peerPort,
    dataDir,
    get pid() {
      return entry?.child.pid ?? 0;
    },
    stop: async () => {
      await halt();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    pause: halt,
    restart: async () => {
      await halt();
      await spawnEtcd();
    },
  };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A detached shell that kills etcd and removes its data if this process disappears (e.g. SIGKILL). */
function startWatchdog(etcdPid: number, dataDir: string): void {
  if (!etcdPid) return;
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${etcdPid} 2>/dev/null; do sleep 1; done; `
    + `kill -9 ${etcdPid} 2>/dev/null; sleep 0.2; rm -rf '${dataDir.replace(/'/g, '')}'`;
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanup = (): void => {
    for (const { child, dir } of running) {
      try {
        if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    running.clear();
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.kill(process.pid, signal);
    });
  }
}

function healthy(endpoint: string, tls: StartEtcdOptions['tls']): Promise<boolean> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    };
    const req = tls
      ? https.get(`${endpoint}/health`, { timeout: 1000, ca: tls.healthCa, cert: tls.healthCert, key: tls.healthKey }, onResponse)
      : http.get(`${endpoint}/health`, { timeout: 1000 }, onResponse);
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

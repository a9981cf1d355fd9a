import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { execIn } from '../../support/netns';

export const BIRD = '/usr/sbin/bird';
export const BIRDC = '/usr/sbin/birdc';

export function haveBird(): boolean {
  return fs.existsSync(BIRD) && fs.existsSync(BIRDC);
}

/** apps/bgp-speaker.ts bundled to one file (`<dir>/bin`), with etcd3's .proto files where the bundle looks for them. */
export function bundleSpeaker(dir: string): string {
  const out = path.join(dir, 'bin', 'bgp-speaker.js');
  buildSync({
    entryPoints: [path.resolve(__dirname, '../../../apps/bgp-speaker.ts')],
    outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error',
  });
  fs.cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(dir, 'proto'), { recursive: true });
  return out;
}

/** Joins two namespaces with a veth pair (`a` in the first, `b` in the second), each end up with its /24 address. */
export function joinNamespaces(first: string, second: string, firstIp: string, secondIp: string, names: readonly [string, string] = ['a', 'b']): void {
  const sh = (ns: string, ...argv: string[]) => {
    const r = execIn(ns, argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  };
  sh(first, 'ip', 'link', 'add', names[0], 'type', 'veth', 'peer', 'name', names[1], 'netns', second);
  sh(first, 'ip', 'addr', 'add', `${firstIp}/24`, 'dev', names[0]);
  sh(first, 'ip', 'link', 'set', names[0], 'up');
  sh(second, 'ip', 'addr', 'add', `${secondIp}/24`, 'dev', names[1]);
  sh(second, 'ip', 'link', 'set', names[1], 'up');
}

export function tempDir(role: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cnkt-bgp-${role}-`));
}

/** A process started inside a namespace, killed by its pid (never by name). */
export class NetnsProcess {
  readonly output: string[] = [];
  private readonly child: ChildProcess;
  private exited = false;

  constructor(netns: string, argv: readonly string[]) {
    this.child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => this.output.push(...chunk.toString().split('\n').filter(Boolean));
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.child.once('exit', () => { this.exited = true; });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** `ip netns exec` execs the command, so the child pid is the program's pid. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    process.kill(this.child.pid, signal);
    await done;
  }
}

/** BIRD 2 in the foreground with its own config, control socket and pid file in `dir`. */
export class Bird extends NetnsProcess {
  readonly socket: string;

  constructor(netns: string, readonly dir: string, config: string) {
    fs.writeFileSync(path.join(dir, 'bird.conf'), config);
    const socket = path.join(dir, 'bird.ctl');
    super(netns, [BIRD, '-f', '-c', path.join(dir, 'bird.conf'), '-s', socket, '-P', path.join(dir, 'bird.pid')]);
    this.socket = socket;
  }

  birdc(...args: string[]): string {
    const r = spawnSync(BIRDC, ['-s', this.socket, ...args], { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  }
}

export async function until<T>(what: string, probe: () => T | undefined | false, ms = 20000, detail?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';

/** Bundles apps/cni-plugin.ts exactly as `npm run build:cni` does, into a temp dir; returns the executable's path. */
export function bundlePlugin(dir: string): string {
  return bundleApp('cni-plugin', path.join(dir, 'cnikit-flannel'));
}

/** Bundles apps/<name>.ts into one executable file. */
export function bundleApp(name: string, out: string): string {
  buildSync({
    entryPoints: [path.join(__dirname, `../../../apps/${name}.ts`)],
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', minify: true, outfile: out,
    banner: { js: '#!/usr/bin/env node' }, logLevel: 'error',
  });
  chmodSync(out, 0o755);
  return out;
}

export interface Invocation {
  readonly plugin: string;
  /** The "node": the plugin runs in this namespace, as a runtime would run it in the host's. */
  readonly node: string;
  readonly command: string;
  readonly conf: unknown;
  readonly containerId?: string;
  /** A namespace name; passed as the /var/run/netns path, as runtimes pass paths. */
  readonly netns?: string;
  readonly ifname?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cniPath?: string;
}

export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  /** stdout parsed as JSON when it is JSON. */
  readonly json?: Record<string, unknown>;
  readonly stderr: string;
}

export function invoke(inv: Invocation): Promise<Outcome> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const set = (k: string, v: string | undefined) => { if (v !== undefined) env[k] = v; };
  set('CNI_COMMAND', inv.command);
  set('CNI_CONTAINERID', inv.containerId);
  set('CNI_NETNS', inv.netns ? `/var/run/netns/${inv.netns}` : undefined);
  set('CNI_IFNAME', inv.ifname);
  set('CNI_PATH', inv.cniPath ?? '/usr/lib/cni');
  for (const [k, v] of Object.entries(inv.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=/var/run/netns/${inv.node}`, inv.plugin], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? JSON.parse(stdout) as Record<string, unknown> : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? 1, stdout, json, stderr });
    });
    // a plugin may refuse stdin before reading it all (oversize): runtimes ignore EPIPE, so does this
    child.stdin.on('error', () => undefined);
    child.stdin.end(typeof inv.conf === 'string' ? inv.conf : JSON.stringify(inv.conf));
  });
}

/** A temp dir with a flannel subnet file; removed by `dispose`. */
export function tempNetwork(subnetEnv: string): { dir: string; subnetFile: string; dataDir: string; dispose(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'cnikit-cni-'));
  const subnetFile = path.join(dir, 'subnet.env');
  writeFileSync(subnetFile, subnetEnv);
  return { dir, subnetFile, dataDir: path.join(dir, 'data'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

import * as fs from 'fs';
import * as path from 'path';

/** The executables a lab runs inside its namespaces, bundled to single files. */
export interface LabBinaries {
  readonly echoServer: string;
  readonly probe: string;
  readonly stream: string;
  readonly forward: string;
  /** Undefined when apps/flannel-agent.ts is absent (a lab with `startAgents: false` still works). */
  readonly agent?: string;
  /** The Flannel-style CNI plugin; undefined when apps/cni-plugin.ts is absent. */
  readonly cniPlugin?: string;
  /** The Calico-mode CNI plugin (apps/cni-calico.ts, both `cnikit-calico` and `cnikit-calico-ipam`). */
  readonly calicoCniPlugin?: string;
  /** The Calico-style node agent (apps/calico-agent.ts). */
  readonly calicoAgent?: string;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Bundles the lab's helper programs, the agents and the CNI plugins with esbuild into `outDir`
 * (one file each, no node_modules needed at run time). The agents and the plugins are the same
 * entrypoints the images ship (apps/flannel-agent.ts, apps/cni-plugin.ts, apps/cni-calico.ts, ...).
 */
export async function bundleLabBinaries(outDir: string): Promise<LabBinaries> {
  // esbuild is a development dependency: only the lab (a development tool) needs it.
  const esbuild = await import('esbuild');
  const entries: Record<string, string> = {
    'echo-server': path.join(__dirname, 'programs', 'echo-server.ts'),
    probe: path.join(__dirname, 'programs', 'probe.ts'),
    stream: path.join(__dirname, 'programs', 'stream.ts'),
    forward: path.join(__dirname, 'programs', 'forward.ts'),
    'flannel-agent': path.join(REPO_ROOT, 'apps', 'flannel-agent.ts'),
    'cni-plugin': path.join(REPO_ROOT, 'apps', 'cni-plugin.ts'),
    'cni-calico': path.join(REPO_ROOT, 'apps', 'cni-calico.ts'),
    'calico-agent': path.join(REPO_ROOT, 'apps', 'calico-agent.ts'),
  };
  for (const [name, file] of Object.entries(entries)) if (!fs.existsSync(file)) delete entries[name];
  fs.mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: entries,
    outdir: outDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
    // Optional native/peer modules some dependencies probe for; never needed by these programs.
    external: ['pulumi', '@pulumi/*'],
  });
  // etcd3 loads its .proto files at run time from `${__dirname}/../proto`: give the bundle that layout.
  fs.cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(outDir, '..', 'proto'), { recursive: true });
  const bin = (name: string) => path.join(outDir, `${name}.js`);
  const optional = (name: string) => (entries[name] ? bin(name) : undefined);
  return {
    echoServer: bin('echo-server'),
    probe: bin('probe'),
    stream: bin('stream'),
    forward: bin('forward'),
    agent: optional('flannel-agent'),
    cniPlugin: optional('cni-plugin'),
    calicoCniPlugin: optional('cni-calico'),
    calicoAgent: optional('calico-agent'),
  };
}

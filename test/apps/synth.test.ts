import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { ENVIRONMENTS, Environment } from '../../apps/environments';
import { synthEnvironments } from '../../apps/synth';
import { FlannelBackend } from '../../lib/model/flannel';

const root = path.resolve(__dirname, '../..');
let work: string;

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-synth-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

/** Every file under `dir`, relative, with its content. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files[path.relative(dir, file)] = fs.readFileSync(file, 'utf8');
    }
  }
  return files;
}

const bigCluster: Environment = {
  name: 'big', description: 'too many nodes', stack: { kind: 'flannel', props: { podNetwork: '10.244.0.0/16', expectedNodeCount: 400 } },
};
const bigClusterMessage = 'big.flannel.expectedNodeCount: 400 is not valid; expected at most 256: 10.244.0.0/16 split into /24 subnets holds 256 node subnets';

test('writes one directory per environment and leaves the rest of the output directory alone', () => {
  const out = path.join(work, 'dist');
  fs.mkdirSync(path.join(out, 'images'), { recursive: true });
  fs.writeFileSync(path.join(out, 'images', 'digests.json'), '{}');
  fs.mkdirSync(path.join(out, 'dev'));
  fs.writeFileSync(path.join(out, 'dev', 'stale.k8s.yaml'), 'old');

  synthEnvironments(ENVIRONMENTS, out);
  expect(Object.keys(tree(out)).sort()).toEqual([
    'dev/cnikit-flannel.k8s.yaml', 'images/digests.json',
    'prod/0000-cnikit-calico-crds.k8s.yaml', 'prod/0001-cnikit-calico.k8s.yaml', 'prod/0002-cnikit-calico-policies.k8s.yaml',
    'staging/0000-cnikit-calico-crds.k8s.yaml', 'staging/0001-cnikit-calico.k8s.yaml',
  ]);
  expect(fs.readdirSync(work)).toEqual(['dist']); // no temporary directory left beside it
});

test('kubectl apply -f <env>/ takes the files by name: in that order every namespace exists before anything in it', () => {
  const out = path.join(work, 'dist');
  synthEnvironments(ENVIRONMENTS, out);
  const builtIn = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
  for (const env of ENVIRONMENTS) {
    const dir = path.join(out, env.name);
    const docs = fs.readdirSync(dir).sort()
      .flatMap((file) => parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((d) => ({ file, object: d.toJS() as { kind: string; metadata: { name: string; namespace?: string } } })));
    const created: string[] = [];
    const missing: string[] = [];
    for (const { file, object } of docs) {
      if (object.kind === 'Namespace') created.push(object.metadata.name);
      else if (object.metadata.namespace !== undefined && !builtIn.includes(object.metadata.namespace) && !created.includes(object.metadata.namespace)) {
        missing.push(`${file}: ${object.kind} ${object.metadata.namespace}/${object.metadata.name}`);
      }
    }
    expect([env.name, missing]).toEqual([env.name, []]);
    expect(new Set(created).size).toBe(created.length);
    if (env.name === 'prod') expect(created).toEqual(expect.arrayContaining(['shop', 'ingress-nginx']));
  }
});

test('bad input fails before anything is written: the previous output survives untouched', () => {
  const out = path.join(work, 'dist');
  synthEnvironments(ENVIRONMENTS.slice(0, 1), out);
  const before = tree(out);
  expect(() => synthEnvironments([...ENVIRONMENTS, bigCluster], out)).toThrow(bigClusterMessage);
  expect(tree(out)).toEqual(before);
  expect(fs.readdirSync(work)).toEqual(['dist']);
});

// The bad-input cases, each through synth: one exact line, nothing written.
const badEnvironments: [string, Environment['stack']['props'], string][] = [
  ['invalid CIDR', { podNetwork: '10.244.0.0/33' },
    'bad.flannel.podNetwork: "10.244.0.0/33" is not valid; expected an IPv4 CIDR such as 10.244.0.0/16'],
  ['subnet too small', { subnetLength: 31 },
    'bad.flannel.subnetLength: 31 is not valid; expected an integer from 18 to 30: at least 4 subnets of 10.244.0.0/16, each with room for pods'],
  ['overlapping ranges', { podNetwork: '10.96.0.0/16' },
    'bad.flannel.podNetwork: "10.96.0.0/16" is not valid; expected a range that does not overlap flannel.serviceNetwork (10.96.0.0/12)'],
  ['unknown backend option', { backend: FlannelBackend.vxlan({ vnid: 7 } as never) },
    'bad.flannel.backend.vnid: "vnid" is not valid; expected an option of the vxlan backend: vni, port, mtu, directRouting, gbp'],
  ['conflicting backend option', { backend: FlannelBackend.hostGw({ directRouting: true } as never) },
    'bad.flannel.backend.directRouting: "directRouting" is not valid; expected no options for the host-gw backend'],
  ['backend option out of range', { backend: FlannelBackend.vxlan({ vni: 16777216 }) },
    'bad.flannel.backend.vni: 16777216 is not valid; expected an integer from 1 to 16777215'],
];

test.each(badEnvironments)('synth fails on %s with one line and writes nothing', (_name, props, message) => {
  const out = path.join(work, 'dist');
  const bad: Environment = { name: 'bad', description: 'bad input', stack: { kind: 'flannel', props } };
  expect(() => synthEnvironments([...ENVIRONMENTS, bad], out)).toThrow(message);
  expect(fs.readdirSync(work)).toEqual([]);
});

function runSynth(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'apps/synth.ts', ...args], {
    cwd: root, encoding: 'utf8', env: { ...process.env, ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the synth command exits 1 with one line on bad input and writes nothing', () => {
  const out = path.join(work, 'dist');
  const result = runSynth([`--out=${out}`, '--environments=test/apps/fixtures/bad-environments.ts']);
  expect(result.status).toBe(1);
  expect(result.stderr).toBe(`cnikit synth: ${bigClusterMessage}\n`);
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(work)).toEqual([]);
});

test('the synth command writes every bundled environment (CDK8S_OUTDIR as cdk8s synth sets it)', () => {
  const out = path.join(work, 'cdk8s-out');
  const result = runSynth([], { CDK8S_OUTDIR: out });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(fs.readdirSync(out).sort()).toEqual(['dev', 'prod', 'staging']);
});

test('npx cdk8s synth works with the repository\'s cdk8s.yaml and prints no upgrade-check noise', () => {
  const out = path.join(work, 'cdk8s');
  // The CLI checks npm for a newer version before anything else; CDK8S_CHECK_UPGRADE=false (or
  // --no-check-upgrade) turns that off, as the README says.
  const result = spawnSync('npx', ['--no-install', 'cdk8s', 'synth', '--output', out], {
    cwd: root, encoding: 'utf8', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' },
  });
  // npm itself may warn about the machine's npmrc; nothing may come from cdk8s.
  expect(result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('npm warn'))).toEqual([]);
  expect(result.stdout).not.toMatch(/new version|http error/i);
  expect(result.status).toBe(0);
  expect(fs.readdirSync(out).sort()).toEqual(['dev', 'prod', 'staging']);
  expect(fs.readFileSync(path.join(out, 'prod', '0001-cnikit-calico.k8s.yaml'), 'utf8')).toContain('kind: DaemonSet');
});

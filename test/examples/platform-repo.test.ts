import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { validateK8sObjects } from '../support/k8s-schema';

// Another IaC repository consuming cnikit as a package: `npm pack` (which builds JS + .d.ts), install
// the tarball into a copy of examples/platform-repo, type-check it against the packed declarations,
// run it. Installs come from npm's cache (the root `npm ci` filled it), so this runs offline.

const root = path.resolve(__dirname, '../..');
const example = path.join(root, 'examples', 'platform-repo');
let work: string;
let project: string;

type K8sObject = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-example-'));
  project = path.join(work, 'platform-repo');
  fs.cpSync(example, project, { recursive: true, filter: (src) => !/node_modules|dist/.test(path.relative(example, src)) });
  const tarball = run('npm', ['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop()!;
  run('npm', ['install', '--prefer-offline', '--no-save', '--ignore-scripts', '--loglevel=error', path.join(work, tarball)], project);
}, 300_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test('the packed package ships JavaScript and type declarations only', () => {
  const installed = path.join(project, 'node_modules', 'cnikit');
  expect(fs.existsSync(path.join(installed, 'build/lib/index.js'))).toBe(true);
  expect(fs.existsSync(path.join(installed, 'build/lib/index.d.ts'))).toBe(true);
  expect(fs.existsSync(path.join(installed, 'lib'))).toBe(false);
  expect(fs.existsSync(path.join(installed, 'test'))).toBe(false);
});

test('the example type-checks against the packed declarations', () => {
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
}, 120_000);

test('the example composes FlannelNetwork with its own charts and synthesizes', () => {
  const stdout = run(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'src/main.ts', 'out'], project);
  expect(stdout).toBe('pod network 10.32.0.0/16: 256 node subnets of /24\n');
  const load = (file: string) => parseAllDocuments(fs.readFileSync(path.join(project, 'out', file), 'utf8')).map((d) => d.toJS() as K8sObject);
  expect(fs.readdirSync(path.join(project, 'out')).sort()).toEqual(['0000-network.k8s.yaml', '0001-echo.k8s.yaml']);
  const network = load('0000-network.k8s.yaml');
  const echo = load('0001-echo.k8s.yaml');
  expect(network.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
  expect(echo.map((o) => o.kind)).toEqual(['Namespace', 'Deployment', 'Service']);
  const ds = network.find((o) => o.kind === 'DaemonSet')!;
  expect(ds.spec.template.spec.containers[0].image).toBe('registry.platform.example.com/cnikit/flannel-agent:0.1.0');
  expect(JSON.parse(network.find((o) => o.kind === 'ConfigMap')!.data['net-conf.json']).Backend).toEqual({
    Type: 'vxlan', VNI: 42, Port: 8472, DirectRouting: true, GBP: false,
  });
  expect(validateK8sObjects([...network, ...echo])).toEqual([]);
}, 60_000);

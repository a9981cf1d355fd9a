import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The README's construct examples run as printed (with 'cnikit' pointing at this checkout).
const root = path.resolve(__dirname, '../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## The construct API'), readme.indexOf('\n## ', readme.indexOf('## The construct API') + 1));
const examples = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

function runExample(code: string): { stdout: string; files: string[]; yaml: string } {
  expect(code).toContain("from 'cnikit'");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-readme-'));
  try {
    fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', moduleResolution: 'node', target: 'ES2022' } }));
    fs.writeFileSync(path.join(work, 'example.ts'), code.replace("from 'cnikit'", `from ${JSON.stringify(path.join(root, 'lib'))}`));
    const stdout = execFileSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'example.ts'], {
      cwd: work, encoding: 'utf8', env: { ...process.env, CDK8S_OUTDIR: path.join(work, 'dist'), NODE_PATH: path.join(root, 'node_modules') },
    });
    const files = fs.readdirSync(path.join(work, 'dist'));
    return { stdout, files, yaml: files.map((f) => fs.readFileSync(path.join(work, 'dist', f), 'utf8')).join('\n') };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

test('the README has a Flannel-style and a Calico-style construct example', () => {
  expect(examples).toHaveLength(2);
});

test('the Flannel-style example runs and prints the resolved capacity', () => {
  const { stdout, files } = runExample(examples[0]);
  expect(stdout).toBe('256\n');
  expect(files).toEqual(['network.k8s.yaml']);
});

test('the Calico-style example runs and renders the stack with its policies', () => {
  const { files, yaml } = runExample(examples[1]);
  expect(files).toEqual(['network.k8s.yaml']);
  expect(yaml).toContain('kind: DaemonSet');
  expect(yaml).toContain('kind: GlobalNetworkPolicy');
  expect(yaml).toMatch(/kind: NetworkPolicy\n(.*\n)*?\s+name: api/);
});

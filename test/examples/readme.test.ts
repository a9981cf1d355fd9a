import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The README's construct example runs as printed (with 'cnikit' pointing at this checkout).
const root = path.resolve(__dirname, '../..');

test('the README construct example runs and prints the resolved capacity', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The construct API'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
  expect(code).toContain("from 'cnikit'");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-readme-'));
  try {
    fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', moduleResolution: 'node', target: 'ES2022' } }));
    fs.writeFileSync(path.join(work, 'example.ts'), code.replace("from 'cnikit'", `from ${JSON.stringify(path.join(root, 'lib'))}`));
    const stdout = execFileSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'example.ts'], {
      cwd: work, encoding: 'utf8', env: { ...process.env, CDK8S_OUTDIR: path.join(work, 'dist'), NODE_PATH: path.join(root, 'node_modules') },
    });
    expect(stdout).toBe('256\n');
    expect(fs.readdirSync(path.join(work, 'dist'))).toEqual(['network.k8s.yaml']);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

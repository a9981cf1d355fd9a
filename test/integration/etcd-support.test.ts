import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../dataplane/datastore/helpers';

/** test/support/etcd.ts must never leave an etcd or its data behind, however its process ends. */
describe('test/support/etcd.ts cleanup', () => {
  const root = path.resolve(__dirname, '../..');
  const children: ChildProcess[] = [];

  async function startInChild(): Promise<{ child: ChildProcess; pid: number; dir: string }> {
    const script = "require('./test/support/etcd').startEtcd().then((e) => { process.stdout.write(JSON.stringify({ pid: e.pid, dir: e.dataDir }) + '\\n'); setInterval(() => undefined, 1000); })";
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before etcd started`)));
    });
    return { child, ...(JSON.parse(line) as { pid: number; dir: string }) };
  }

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  test.each(['SIGINT', 'SIGKILL'] as const)('after %s of the test process, etcd is gone and its data directory removed', async (signal) => {
    const { child, pid, dir } = await startInChild();
    expect(alive(pid)).toBe(true);
    expect(fs.existsSync(dir)).toBe(true);
    child.kill(signal);
    await waitFor(() => !alive(pid) && !fs.existsSync(dir), `etcd ${pid} to stop and ${dir} to be removed`, { timeoutMs: 15000, intervalMs: 100 });
  });
});

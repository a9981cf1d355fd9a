// `npm run images` refuses bad input before building anything, with one line naming what is wrong.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './support';

function images(args: readonly string[], env: Readonly<Record<string, string>> = {}): { status: number | null; stderr: string } {
  const tsNode = join(REPO_ROOT, 'node_modules', '.bin', 'ts-node');
  const run = spawnSync(tsNode, ['--transpile-only', 'apps/build-images.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

describe('npm run images (command line)', () => {
  it('names an unknown image and the known ones', () => {
    expect(images(['no-such-image'])).toEqual({ status: 1, stderr: 'images: unknown image no-such-image: expected flannel-agent, cni-plugin, calico-agent, controllers\n' });
  });

  it('names a bad SOURCE_DATE_EPOCH and what is expected', () => {
    const result = images(['flannel-agent'], { SOURCE_DATE_EPOCH: 'yesterday' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^images: SOURCE_DATE_EPOCH: "yesterday" is not valid; expected seconds since 1970/);
  });
});

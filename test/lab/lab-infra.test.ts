import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { Lab } from '../../lib/lab';
import { listNetns, sweepStaleLabs } from '../../lib/lab/resources';
import { describeLab } from './describe-lab';

// The lab's own wiring, etcd and cleanup; no agent or CNI plugin involved.
describeLab('lab infrastructure (namespaces, switch, router, etcd)', () => {
  describe('two-subnets topology', () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.create({ nodes: 3, topology: 'two-subnets', startAgents: false });
    }, 60_000);
    afterAll(() => lab?.destroy());

    it('puts nodes on two segments behind the gw namespace, all reachable through it', async () => {
      const [n1, n2, n3] = lab.nodes;
      expect([n1.segment, n2.segment, n3.segment]).toEqual([0, 0, 1]);
      expect(await lab.pings(n1.netns, n2.address)).toBe(true);
      expect(await lab.pings(n1.netns, n3.address)).toBe(true);
      // n3 is not on-link for n1: the route to it goes through the gateway.
      const route = await lab.exec(n1.netns, ['ip', 'route', 'get', n3.address]);
      expect(route.stdout).toContain(`via ${n1.gateway}`);
      const direct = await lab.exec(n1.netns, ['ip', 'route', 'get', n2.address]);
      expect(direct.stdout).not.toContain('via');
    });

    it('runs etcd reachable from the harness (unix socket) and from nodes (lab network)', async () => {
      await lab.etcd.put('/lab-test/key').value('v');
      expect(await lab.etcd.get('/lab-test/key').string()).toBe('v');
      const config = JSON.parse((await lab.etcd.get(`${lab.etcdPrefix}/config`).string()) ?? '{}');
      expect(config).toEqual({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
      const script = `require('net').connect(2379,'${lab.plan.segments[0].gateway}').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`;
      for (const node of lab.nodes) expect((await lab.exec(node.netns, ['node', '-e', script], { allowFailure: true })).code).toBe(0);
    });

    it('never puts a lab address or link into the host namespace', () => {
      const addrs = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout;
      expect(addrs).not.toContain('10.99.');
      const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
      for (const node of lab.nodes) expect(links).not.toMatch(new RegExp(`\\d+: ${node.switchPort}[@:]`));
    });
  });

  it('removes its namespaces, processes and files on destroy', async () => {
    const lab = await Lab.create({ nodes: 2, startAgents: false });
    const owned = [...lab.namespaces];
    expect(owned.every((ns) => listNetns().includes(ns))).toBe(true);
    expect(await lab.pings(lab.nodes[0].netns, lab.nodes[1].address)).toBe(true);
    await lab.destroy();
    expect(listNetns().filter((ns) => ns.startsWith(lab.id))).toEqual([]);
    expect(fs.existsSync(lab.dir)).toBe(false);
  }, 60_000);

  it('sweeps namespaces left by a lab whose process died', () => {
    // A pid that cannot be running: above the kernel's pid_max.
    const stale = 'cnkl99999999xdead00-n1';
    spawnSync('ip', ['netns', 'add', stale]);
    try {
      expect(listNetns()).toContain(stale);
      expect(sweepStaleLabs()).toContain(stale);
      expect(listNetns()).not.toContain(stale);
    } finally {
      spawnSync('ip', ['netns', 'del', stale]);
    }
  });

  it('cleans up when the owning process gets SIGINT', async () => {
    const script = path.join(__dirname, 'fixtures', 'hold-lab.ts');
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script], {
      cwd: path.resolve(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const id: string = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /lab (\S+) up/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code: number) => reject(new Error(`hold-lab exited ${code} before the lab was up: ${out}`)));
    });
    expect(listNetns().filter((ns) => ns.startsWith(id)).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    await new Promise((resolve) => child.on('exit', resolve));
    expect(listNetns().filter((ns) => ns.startsWith(id))).toEqual([]);
  }, 60_000);
});

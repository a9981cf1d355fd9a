import { Lab } from '../../lib/lab';
import { describeLab } from './flannel-suite';

describeLab('lab: ten agents started at once on one etcd', () => {
  let lab: Lab;
  beforeAll(async () => {
    // Lab.create starts all ten agents concurrently and waits until each is ready.
    lab = await Lab.create({ nodes: 10, backend: { Type: 'host-gw' }, resyncSeconds: 5 });
  }, 120_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('gives ten distinct subnets, each recorded in etcd under the node\'s public IP', async () => {
    const subnets = lab.nodes.map((n) => lab.subnetOf(n));
    expect(subnets.every((s) => s !== undefined)).toBe(true);
    expect(new Set(subnets).size).toBe(10);
    const leases = await lab.etcd.getAll().prefix(`${lab.etcdPrefix}/subnets/`).strings();
    expect(Object.keys(leases)).toHaveLength(10);
    for (const node of lab.nodes) {
      const key = `${lab.etcdPrefix}/subnets/${lab.subnetOf(node)!.replace('/', '-')}`;
      expect(JSON.parse(leases[key])).toMatchObject({ PublicIP: node.address, BackendType: 'host-gw' });
    }
  });

  it('keeps an agent\'s routes on SIGTERM and its subnet when it is restarted', async () => {
    const node = lab.nodes[4];
    const before = lab.subnetOf(node);
    const routesBefore = (await lab.routes(node)).filter((r) => r.protocol === '76').map((r) => r.dst).sort();
    expect(routesBefore).toHaveLength(9);
    expect(await lab.stopAgent(node, 'SIGTERM')).toBe(0);
    // A graceful shutdown leaves the dataplane in place.
    expect((await lab.routes(node)).filter((r) => r.protocol === '76').map((r) => r.dst).sort()).toEqual(routesBefore);
    await lab.startAgent(node);
    expect(lab.subnetOf(node)).toBe(before);
    const leases = await lab.etcd.getAll().prefix(`${lab.etcdPrefix}/subnets/`).keys();
    expect(leases).toHaveLength(10);
  });
});

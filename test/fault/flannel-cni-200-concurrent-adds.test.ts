import { canCreateNetns } from '../support/netns';
import { FlannelCniCluster, auditNode, hostVeths, podAddresses, reservationFiles } from './support/flannel-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Issue 14, "200 concurrent ADDs over 3 nodes" for the Flannel-style plugin: three nodes (own
 * subnet, host-local state dir and bridge), ADDs spread over them all at once, through the shim +
 * resident server and through the executable. All succeed, no address twice, every address
 * reserved under its pod's ID; DEL all leaves 0 reservations and 0 veths on every node. (This
 * held before issue 14's changes too; it guards them: the attachment lock must not cost
 * correctness or stall a node's ADDs.)
 */
describeRoot('Flannel-style CNI: 200 concurrent ADDs over 3 nodes', () => {
  for (const via of ['shim', 'executable'] as const) {
    it(`through the ${via === 'shim' ? 'shim and resident server' : 'executable'}: all succeed, 0 duplicates, DEL all leaves nothing`, async () => {
      const base = via === 'shim' ? 50 : 60;
      const cluster = new FlannelCniCluster([`10.250.${base + 1}.1/24`, `10.250.${base + 2}.1/24`, `10.250.${base + 3}.1/24`]);
      try {
        if (via === 'shim') await Promise.all(cluster.nodes.map((node) => cluster.startServer(node)));
        const pods = Array.from({ length: 200 }, (_, i) => ({ id: `conc-${via}-${i}`, netns: cluster.namespace(`c${i}`), node: cluster.nodes[i % 3] }));

        const adds = await Promise.all(pods.map((p) => cluster.run(p.node, via, 'ADD', p.id, p.netns)));
        expect(adds.filter((o) => o.code !== 0).map((o) => o.stdout)).toEqual([]);
        const addresses = pods.flatMap((p) => podAddresses(p.netns));
        expect(addresses).toHaveLength(pods.length);
        expect(new Set(addresses).size).toBe(pods.length);
        for (const node of cluster.nodes) {
          const mine = new Map(pods.filter((p) => p.node === node).map((p) => [p.id, p.netns]));
          expect(auditNode(node, mine)).toEqual([]);
          expect(hostVeths(node)).toHaveLength(mine.size);
        }

        const dels = await Promise.all(pods.map((p) => cluster.run(p.node, via, 'DEL', p.id, p.netns)));
        expect(dels.filter((o) => o.code !== 0).map((o) => o.stdout)).toEqual([]);
        for (const node of cluster.nodes) {
          expect([...reservationFiles(node).keys()]).toEqual([]);
          expect(hostVeths(node)).toEqual([]);
        }
      } finally {
        cluster.dispose();
      }
    }, 900_000);
  }
});

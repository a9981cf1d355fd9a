import { canCreateNetns } from '../support/netns';
import { FlannelCniCluster, auditNode, hostVeths, reservationFiles } from './support/flannel-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Issue 14, table row "flannel host-local under an ADD/DEL storm": 30 container IDs, each sent
 * ADD, DEL, ADD, DEL, ADD all at once (a runtime that retries and cancels), then DEL for all.
 * Before, 49 reservations leaked and 2 pods held an address with no reservation.
 */
describeRoot('Flannel-style host-local under an ADD/DEL storm', () => {
  let cluster: FlannelCniCluster;
  beforeAll(async () => {
    cluster = new FlannelCniCluster(['10.250.1.1/24', '10.250.2.1/24']);
    await cluster.startServer(cluster.nodes[1]);
  });
  afterAll(() => cluster.dispose());

  for (const [label, index, via] of [['the executable', 0, 'executable'], ['the shim and resident server', 1, 'shim']] as const) {
    it(`through ${label}: every pod's address is its own reservation, and DEL all leaves 0 reservations and 0 veths`, async () => {
      const node = cluster.nodes[index];
      const pods = new Map(Array.from({ length: 30 }, (_, i) => [`storm-${via}-${i}`, cluster.namespace(`st${i}`)]));
      const storm = [...pods].flatMap(([id, pod]) => (['ADD', 'DEL', 'ADD', 'DEL', 'ADD'] as const).map((command) => cluster.run(node, via, command, id, pod)));
      const outcomes = await Promise.all(storm);
      // a DEL always succeeds; an ADD succeeds (or, at most, asks to be retried)
      expect(outcomes.filter((o) => o.code !== 0 && o.json?.code !== 11).map((o) => o.stdout)).toEqual([]);

      expect(auditNode(node, pods)).toEqual([]);

      const dels = await Promise.all([...pods].map(([id, pod]) => cluster.run(node, via, 'DEL', id, pod)));
      expect(dels.map((d) => d.code)).toEqual([...pods].map(() => 0));
      expect([...reservationFiles(node).keys()]).toEqual([]);
      expect(hostVeths(node)).toEqual([]);
    }, 600_000);
  }
});

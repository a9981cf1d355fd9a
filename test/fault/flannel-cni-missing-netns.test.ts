import { canCreateNetns, destroyNetns } from '../support/netns';
import { FlannelCniCluster, hostVeths, reservationFiles } from './support/flannel-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Issue 14, table row "CNI: non-existent netns path": the Flannel-style executable answered 999 and
 * leaked a reservation. ADD must answer the spec's code 4 naming CNI_NETNS before reserving
 * anything; DEL of a container whose namespace is gone succeeds and frees its address.
 */
describeRoot('Flannel-style CNI with a namespace path that does not exist', () => {
  let cluster: FlannelCniCluster;
  beforeAll(async () => {
    cluster = new FlannelCniCluster(['10.250.31.1/24', '10.250.32.1/24']);
    await cluster.startServer(cluster.nodes[1]);
  });
  afterAll(() => cluster.dispose());

  for (const [label, index, via] of [['the executable', 0, 'executable'], ['the shim and resident server', 1, 'shim']] as const) {
    it(`through ${label}: ADD is error 4 naming CNI_NETNS and leaks nothing; DEL after the namespace went frees the address`, async () => {
      const node = cluster.nodes[index];
      const gone = await cluster.run(node, via, 'ADD', `nons-${via}`, 'cnkt-no-such-netns');
      expect({ exit: gone.code, code: gone.json?.code }).toEqual({ exit: 1, code: 4 });
      expect(String(gone.json?.msg)).toMatch(/CNI_NETNS.*cnkt-no-such-netns/);
      expect([...reservationFiles(node).keys()]).toEqual([]);
      expect(hostVeths(node)).toEqual([]);

      const pod = cluster.namespace('nn');
      expect((await cluster.run(node, via, 'ADD', `went-${via}`, pod)).code).toBe(0);
      destroyNetns(pod);
      const del = await cluster.run(node, via, 'DEL', `went-${via}`, pod);
      expect({ exit: del.code, stdout: del.stdout }).toEqual({ exit: 0, stdout: '' });
      expect([...reservationFiles(node).keys()]).toEqual([]);
      expect(hostVeths(node)).toEqual([]);
    });
  }
});

import { mkdirSync, watch } from 'node:fs';
import * as path from 'node:path';
import { addressToBigInt } from '../../lib/model/cidr';
import { canCreateNetns } from '../support/netns';
import { FlannelCniCluster, auditNode, hostVeths, reservationFiles } from './support/flannel-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Issue 14, table row "resident CNI server killed mid-ADD, shim falls back": the fallback failed
 * `999 interface eth0 already exists` and 2 addresses were held by nobody until DEL. The server
 * is SIGKILLed the moment its first reservation lands, with 10 ADDs in flight; every shim must
 * then succeed through the executable, which completes the half-done ADDs: one reservation and
 * one veth per pod, nothing else.
 */
describeRoot('Flannel-style CNI server SIGKILLed mid-ADD', () => {
  let cluster: FlannelCniCluster;
  beforeAll(async () => {
    cluster = new FlannelCniCluster(['10.250.41.1/24']);
    await cluster.startServer(cluster.nodes[0]);
  });
  afterAll(() => cluster.dispose());

  it('the shim falls back to the executable, which completes every ADD: 1 reservation per pod, 0 leaks', async () => {
    const node = cluster.nodes[0];
    const server = node.server;
    if (!server?.pid) throw new Error('the CNI server did not start');
    const ipamDir = path.join(node.dataDir, 'ipam');
    mkdirSync(ipamDir, { recursive: true });
    const firstReservation = new Promise<void>((resolve) => {
      const watcher = watch(ipamDir, (_event, name) => {
        if (name && addressToBigInt(name.toString()) !== undefined) {
          watcher.close();
          resolve();
        }
      });
    });
    const exited = new Promise((resolve) => server.once('exit', resolve));

    const pods = new Map(Array.from({ length: 10 }, (_, i) => [`killed-${i}`, cluster.namespace(`k${i}`)]));
    const done = new Set<string>();
    const adds = [...pods].map(([id, pod]) => cluster.run(node, 'shim', 'ADD', id, pod).then((outcome) => {
      done.add(id);
      return outcome;
    }));
    await firstReservation;
    server.kill('SIGKILL');
    await exited;
    const inFlightAtKill = [...pods.keys()].filter((id) => !done.has(id));

    const outcomes = await Promise.all(adds);
    expect(outcomes.filter((o) => o.code !== 0).map((o) => o.stdout)).toEqual([]);
    // the fallback really ran: ADDs were cut off by the kill
    expect(inFlightAtKill.length).toBeGreaterThan(0);
    expect(auditNode(node, pods)).toEqual([]);
    const owners = [...reservationFiles(node).values()].map((r) => r.containerId).sort();
    expect(owners).toEqual([...pods.keys()].sort());
    expect(hostVeths(node)).toHaveLength(pods.size);

    const dels = await Promise.all([...pods].map(([id, pod]) => cluster.run(node, 'shim', 'DEL', id, pod)));
    expect(dels.map((d) => d.code)).toEqual([...pods].map(() => 0));
    expect([...reservationFiles(node).keys()]).toEqual([]);
    expect(hostVeths(node)).toEqual([]);
  }, 300_000);
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CALICO_AGENT_OWNERSHIP, CalicoAgent } from '../../../lib/dataplane/calico/agent';
import { KubeNodeRegistry } from '../../../lib/dataplane/calico/node-registry';
import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { CALICO_KINDS, KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { MemoryNetwork } from '../../../lib/dataplane/kernel/memory-kernel';
import { startFakeKubeApi } from '../../support/fake-kube-api';

const quiet = () => undefined;

describe('readiness means routed (memory kernel, API server double)', () => {
  test('/readiness stays 503 until start-up is done and, in BGP mode, a session is Established; it flips with the sessions', async () => {
    const api = await startFakeKubeApi();
    const kube = new KubeClient({ server: api.url });
    const store = new KubeCrdStore({ client: kube, retryDelayMs: 50 });
    for (const [plural, kind] of Object.entries(CALICO_KINDS)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind });
    api.upsert('nodes', { metadata: { name: 'node-r' } });
    api.upsert('ippools', { metadata: { name: 'pool' }, spec: { cidr: '10.70.0.0/16', vxlanMode: 'Never', ipipMode: 'Never', natOutgoing: false } });
    const net = new MemoryNetwork();
    net.root.addLink({ name: 'eth0', kind: 'veth', mtu: 1500, up: true });
    net.root.addresses.set('eth0|10.60.0.2/24', { dev: 'eth0', cidr: '10.60.0.2/24' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-ready-'));
    // The BGP speaker as the agent sees it: a session that comes and goes.
    let established = false;
    let releaseStart: () => void = () => undefined;
    let speakerStarting: () => void = () => undefined;
    const bgpStarting = new Promise<void>((resolve) => {
      speakerStarting = resolve;
    });
    const bgp = {
      start: () => new Promise<void>((resolve) => {
        releaseStart = resolve;
        speakerStarting();
      }),
      stop: async () => undefined,
      notReady: () => (established ? undefined : 'no BGP session Established yet (peers 10.60.0.3)'),
    };
    const agent = new CalicoAgent({
      node: 'node-r', store, registry: new KubeNodeRegistry(kube, store), log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      stateDir: dir, health: { port: 0, host: '127.0.0.1' }, kernel: net.kernel(CALICO_AGENT_OWNERSHIP), resyncSeconds: 60, bgp,
    });
    const readiness = async () => {
      const r = await fetch(`http://127.0.0.1:${agent.healthPort}/readiness`);
      return `${r.status} ${(await r.text()).trim()}`;
    };
    const starting = agent.start();
    try {
      while (agent.healthPort === undefined) await new Promise((r) => setImmediate(r));
      expect(await readiness()).toMatch(/^503 not ready: start-up has not finished/);
      // Registered, routes programmed, the speaker starting: still not ready.
      await bgpStarting;
      expect(await readiness()).toMatch(/^503 not ready: start-up has not finished/);
      releaseStart();
      await starting;
      expect(await readiness()).toBe('503 not ready: no BGP session Established yet (peers 10.60.0.3)');
      established = true;
      expect(await readiness()).toBe('200 ok');
      established = false;
      expect(await readiness()).toBe('503 not ready: no BGP session Established yet (peers 10.60.0.3)');
      // Liveness is about the loop, not the network: it stays up.
      expect((await fetch(`http://127.0.0.1:${agent.healthPort}/liveness`)).status).toBe(200);
    } finally {
      releaseStart();
      await starting.catch(() => undefined);
      await agent.stop();
      await store.close();
      kube.close();
      await api.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

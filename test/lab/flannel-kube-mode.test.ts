import { formatReport, Lab } from '../../lib/lab';
import { FakeKubeApi, FakeObject, startFakeKubeApi } from '../support/fake-kube-api';
import { ONE_RESYNC_MS, RESYNC, describeLab, waitFor } from './flannel-suite';

const P = 'flannel.alpha.coreos.com';

function node(name: string, podCIDR: string | undefined, address: string): FakeObject {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
    status: {
      conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'Node created without a route' }],
      addresses: [{ type: 'InternalIP', address }],
    },
  };
}

// The real agent executable in --kube-subnet-mgr mode, each in its lab namespace, against an HTTP
// server speaking the Kubernetes API's list/watch/patch shapes (reached through a port forward).
describeLab('lab: agents in Kubernetes-API mode', () => {
  let api: FakeKubeApi;
  let lab: Lab;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    api.upsert('nodes', node('n1', '10.244.1.0/24', '10.99.0.11'));
    api.upsert('nodes', node('n2', '10.244.2.0/24', '10.99.0.12'));
    api.upsert('nodes', node('n3', undefined, '10.99.0.13'));
    lab = await Lab.create({ nodes: 3, backend: { Type: 'vxlan' }, kubeApiUrl: api.url, resyncSeconds: RESYNC, startAgents: false });
    await lab.startAgent(lab.nodes[0]);
    await lab.startAgent(lab.nodes[1]);
    await lab.addPod(lab.nodes[0]);
    await lab.addPod(lab.nodes[1]);
  }, 90_000);
  afterAll(async () => {
    await lab?.destroy();
    await api?.close();
  });

  it('uses each node\'s podCIDR and connects the pods', async () => {
    expect(lab.subnetOf(lab.nodes[0])).toBe('10.244.1.0/24');
    expect(lab.subnetOf(lab.nodes[1])).toBe('10.244.2.0/24');
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  });

  it('publishes flannel\'s annotations and marks the node network available', () => {
    const n1 = api.get('nodes', 'n1')!;
    const annotations = n1.metadata!.annotations as Record<string, string>;
    expect(annotations[`${P}/kube-subnet-manager`]).toBe('true');
    expect(annotations[`${P}/backend-type`]).toBe('vxlan');
    expect(annotations[`${P}/public-ip`]).toBe('10.99.0.11');
    expect(JSON.parse(annotations[`${P}/backend-data`])).toEqual({ VNI: 1, VtepMAC: expect.stringMatching(/^[0-9a-f:]{17}$/) });
    const conditions = (n1.status as { conditions: Array<{ type: string; status: string }> }).conditions;
    expect(conditions.find((c) => c.type === 'NetworkUnavailable')?.status).toBe('False');
    // Annotations go through the status subresource, as flannel does it.
    expect(api.requests.some((r) => r.method === 'PATCH' && r.path === '/api/v1/nodes/n1/status')).toBe(true);
  });

  it('refuses to start on a node without a podCIDR, with a one-line error', async () => {
    await expect(lab.startAgent(lab.nodes[2])).rejects.toThrow(/agent-n3 exited \(1\).*flannel-agent: node "n3" pod cidr not assigned/);
  });

  it('drops the routes of a node deleted from the API within one resync', async () => {
    const [n1] = lab.nodes;
    expect((await lab.routes(n1)).some((r) => r.dst === '10.244.2.0/24')).toBe(true);
    api.remove('nodes', 'n2');
    await waitFor('route to n2 removed', async () => ((await lab.routes(n1)).some((r) => r.dst === '10.244.2.0/24') ? undefined : true), ONE_RESYNC_MS);
  });
});

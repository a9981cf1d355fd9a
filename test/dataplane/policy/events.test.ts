import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { policyEvent, recordPolicyEvent } from '../../../lib/dataplane/policy/events';
import { InvalidPolicyReport } from '../../../lib/dataplane/policy/datastore-sync';
import { startFakeKubeApi } from '../../support/fake-kube-api';

const knp: InvalidPolicyReport = {
  key: 'kubernetesnetworkpolicies/x/knp.default.web', kind: 'KubernetesNetworkPolicy', namespace: 'x', name: 'web', fallback: 'isolation',
  message: 'kubernetesnetworkpolicies/x/knp.default.web: NetworkPolicy x/web.spec.ingress[0].from[0]: … (no good version: its endpoints are isolated)',
};
const now = new Date('2026-12-07T10:00:00.123Z');

describe('policy Events', () => {
  it('puts a Warning on the refused object (a Kubernetes NetworkPolicy is networking.k8s.io), a Normal one on its repair', () => {
    expect(policyEvent(knp, 'n1', now)).toEqual({
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `web.n1.${now.getTime().toString(16)}`, namespace: 'x' },
      involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', name: 'web', namespace: 'x' },
      type: 'Warning', reason: 'InvalidPolicy', message: knp.message,
      source: { component: 'cnikit-policy-agent', host: 'n1' }, reportingComponent: 'cnikit-policy-agent', reportingInstance: 'n1',
      firstTimestamp: '2026-12-07T10:00:00Z', lastTimestamp: '2026-12-07T10:00:00Z', count: 1,
    });
    expect(policyEvent({ ...knp, resolved: true }, 'n1', now)).toMatchObject({ type: 'Normal', reason: 'PolicyAccepted' });
  });

  it('puts events of cluster-scoped Calico objects in namespace default', () => {
    const e = policyEvent({ key: 'globalnetworkpolicies/security.gate', kind: 'GlobalNetworkPolicy', name: 'security.gate', fallback: 'last-good', message: 'm' }, 'n2', now);
    expect(e).toMatchObject({ metadata: { namespace: 'default' }, involvedObject: { apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkPolicy', name: 'security.gate' } });
    expect(e.involvedObject).not.toHaveProperty('namespace');
  });

  it('creates it through the API server', async () => {
    const api = await startFakeKubeApi();
    api.defineResource({ group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true });
    const client = new KubeClient({ server: api.url });
    try {
      await recordPolicyEvent(client, knp, 'n1', now);
      expect(api.get('events', `web.n1.${now.getTime().toString(16)}`, 'x')).toMatchObject({ reason: 'InvalidPolicy', involvedObject: { kind: 'NetworkPolicy', name: 'web' } });
    } finally {
      client.close();
      await api.close();
    }
  });
});

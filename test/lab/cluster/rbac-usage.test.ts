import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiCall } from '../../../lib/lab/cluster/audit';
import { buildEnvironment, ENVIRONMENTS, environmentObjects } from '../../../apps/environments';
import {
  GrantExemption, RBAC_USAGE_EXEMPTIONS, describeGrant, exemptionCovers, grantUsage, readManifestObjects, stackGrants, stackServiceAccounts,
} from '../../../lib/lab/cluster/rbac-usage';

const sa = (name: string, namespace = 'kube-system') => ({ kind: 'ServiceAccount', metadata: { name, namespace } });
const clusterRole = (name: string, rules: unknown[]) => ({ kind: 'ClusterRole', metadata: { name }, rules });
const clusterBinding = (name: string, account: string, namespace = 'kube-system') => ({
  kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
});
const call = (account: string, verb: string, resource: string, extra: Partial<ApiCall> = {}): ApiCall => ({
  user: `system:serviceaccount:kube-system:${account}`, verb, resource, apiGroup: '', code: 200, ...extra,
});

const objects = [
  sa('agent'),
  clusterRole('agent', [
    { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  ]),
  clusterBinding('agent', 'agent'),
  { kind: 'Role', metadata: { name: 'agent', namespace: 'kube-system' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['bgp'] }] },
  { kind: 'RoleBinding', metadata: { name: 'agent', namespace: 'kube-system' }, roleRef: { kind: 'Role', name: 'agent' }, subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: 'kube-system' }] },
  // A binding to someone else's account is not the stack's business.
  clusterBinding('agent', 'someone-else'),
];

describe('RBAC usage: every grant of the stack is used by a call in the audit log', () => {
  test('grants are one per (ServiceAccount, rule, apiGroup, resource, verb), with names and namespace of a Role', () => {
    expect(stackServiceAccounts(objects)).toEqual(['kube-system/agent']);
    expect(stackGrants(objects).map(describeGrant)).toEqual([
      'agent: ClusterRole agent rule 0 (core nodes) list',
      'agent: ClusterRole agent rule 0 (core nodes) watch',
      'agent: ClusterRole agent rule 1 (core nodes/status) patch',
      'agent: Role kube-system/agent rule 0 (core secrets named bgp in kube-system) get',
    ]);
  });

  test('a grant no call used is reported; refused calls, other names, namespaces and accounts do not count', () => {
    const calls = [
      call('agent', 'list', 'nodes'),
      call('agent', 'watch', 'nodes', { code: 403 }),
      call('agent', 'patch', 'nodes'),
      call('other', 'patch', 'nodes/status'),
      call('agent', 'get', 'secrets', { namespace: 'kube-system', name: 'not-bgp' }),
      call('agent', 'get', 'secrets', { namespace: 'default', name: 'bgp' }),
    ];
    const usage = grantUsage(stackGrants(objects), calls);
    expect(usage.used.map(describeGrant)).toEqual(['agent: ClusterRole agent rule 0 (core nodes) list']);
    expect(usage.unused.map(describeGrant)).toEqual([
      'agent: ClusterRole agent rule 0 (core nodes) watch',
      'agent: ClusterRole agent rule 1 (core nodes/status) patch',
      'agent: Role kube-system/agent rule 0 (core secrets named bgp in kube-system) get',
    ]);
  });

  test('a 404 is a used grant (the call was authorized); a named call inside the Role uses it', () => {
    const usage = grantUsage(stackGrants(objects), [
      call('agent', 'list', 'nodes'), call('agent', 'watch', 'nodes'), call('agent', 'patch', 'nodes/status', { code: 404 }),
      call('agent', 'get', 'secrets', { namespace: 'kube-system', name: 'bgp' }),
    ]);
    expect(usage.unused).toEqual([]);
    expect(usage.used).toHaveLength(4);
  });

  test('an exemption keeps an unused grant, by ServiceAccount name, and says so', () => {
    const exemption: GrantExemption = { serviceAccounts: ['agent'], apiGroup: '', resource: 'nodes', verbs: ['watch'], callSite: 'x.ts: f', why: 'the lab never does it' };
    const usage = grantUsage(stackGrants(objects), [call('agent', 'list', 'nodes'), call('agent', 'patch', 'nodes/status'),
      call('agent', 'get', 'secrets', { namespace: 'kube-system', name: 'bgp' })], [exemption]);
    expect(usage.unused).toEqual([]);
    expect(usage.exempt.map((x) => describeGrant(x.grant))).toEqual(['agent: ClusterRole agent rule 0 (core nodes) watch']);
  });

  test('every reviewed exemption names a grant a bundled environment renders, and a call site that exists', () => {
    const grants = ENVIRONMENTS.flatMap((e) => stackGrants(environmentObjects(buildEnvironment(e, { imageDigests: {} }))));
    for (const exemption of RBAC_USAGE_EXEMPTIONS) {
      for (const account of exemption.serviceAccounts) {
        for (const verb of exemption.verbs) {
          const one = { ...exemption, serviceAccounts: [account], verbs: [verb] };
          expect({ account, verb, resource: exemption.resource, rendered: grants.some((g) => exemptionCovers(one, g)) }).toEqual({ account, verb, resource: exemption.resource, rendered: true });
        }
      }
      // `file: Class.method[, …]`: the file exists and calls or defines each method named.
      const [file, functions] = exemption.callSite.split(': ');
      const source = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', file), 'utf8');
      const methods = [...functions.matchAll(/\b[A-Z]\w*\.(\w+)/g)].map((m) => m[1]);
      expect(methods.length).toBeGreaterThan(0);
      for (const name of methods) expect({ file, name, found: new RegExp(`\\b${name}\\(`).test(source) }).toEqual({ file, name, found: true });
    }
  });

  test('the policy agent\'s Event grant is not exempt: the cluster lab patches a policy to an invalid version (live-change-checks.ts)', () => {
    const grants = ENVIRONMENTS.flatMap((e) => stackGrants(environmentObjects(buildEnvironment(e, { imageDigests: {} }))))
      .filter((g) => g.apiGroup === '' && g.resource === 'events' && g.verb === 'create');
    expect(grants.map((g) => g.serviceAccount)).toContain('kube-system/calico-node');
    expect(grants.filter((g) => RBAC_USAGE_EXEMPTIONS.some((x) => exemptionCovers(x, g))).map(describeGrant)).toEqual([]);
  });

  test('a binding to a role the manifests do not define is refused, as are nonResourceURLs', () => {
    expect(() => stackGrants([sa('agent'), clusterBinding('missing', 'agent')])).toThrow(/refers to ClusterRole missing/);
    expect(() => stackGrants([sa('agent'), clusterRole('agent', [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]), clusterBinding('agent', 'agent')])).toThrow(/nonResourceURLs/);
  });

  test('reads every object of multi-document manifests', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbac-usage-'));
    try {
      const file = path.join(dir, 'a.yaml');
      fs.writeFileSync(file, 'kind: ServiceAccount\nmetadata: {name: a, namespace: ns}\n---\nkind: ClusterRole\nmetadata: {name: a}\nrules: []\n');
      expect(readManifestObjects([file]).map((o) => o.kind)).toEqual(['ServiceAccount', 'ClusterRole']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CALICO_CRDS, calicoCrdManifests } from '../../lib/crds/calico';
import { JsonSchema } from '../../lib/crds/schema';
import { CALICO_CRD_YAML_PATH, calicoCrdYaml } from '../../lib/crds/render';
import { importCalicoCrds } from '../../scripts/generate-calico-imports';
import { calicoResourceErrors } from './cr-validator';

const root = join(__dirname, '../..');

describe('the CRD schemas', () => {
  test('cover every kind the issue names, with upstream names and scopes', () => {
    const kinds = Object.fromEntries(CALICO_CRDS.map((d) => [d.kind, d.scope]));
    expect(kinds).toEqual({
      BGPConfiguration: 'Cluster', BGPFilter: 'Cluster', BGPPeer: 'Cluster', BlockAffinity: 'Cluster',
      ClusterInformation: 'Cluster', FelixConfiguration: 'Cluster', GlobalNetworkPolicy: 'Cluster',
      GlobalNetworkSet: 'Cluster', HostEndpoint: 'Cluster', IPAMBlock: 'Cluster', IPAMConfig: 'Cluster',
      IPAMHandle: 'Cluster', IPPool: 'Cluster', IPReservation: 'Cluster', KubeControllersConfiguration: 'Cluster',
      NetworkPolicy: 'Namespaced', NetworkSet: 'Namespaced', Tier: 'Cluster',
    });
    expect(calicoCrdManifests().map((m) => m.metadata.name)).toContain('ipamconfigs.crd.projectcalico.org');
  });

  test('are structural: every node typed, every object lists its fields', () => {
    const problems: string[] = [];
    const walk = (s: JsonSchema, path: string): void => {
      if (s.type === undefined && !s['x-kubernetes-int-or-string']) problems.push(`${path}: no type`);
      if (s.type === 'object' && !s.properties && s.additionalProperties === undefined && path.split('.').length > 2) problems.push(`${path}: open object`);
      if (s.type === 'array' && !s.items) problems.push(`${path}: array without items`);
      if (s.properties && s.additionalProperties !== undefined) problems.push(`${path}: properties and additionalProperties`);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`);
      for (const v of s.anyOf ?? []) if ('properties' in v || 'items' in v) problems.push(`${path}: anyOf with structure`);
    };
    for (const m of calicoCrdManifests()) walk(m.spec.versions[0].schema.openAPIV3Schema, m.spec.names.kind);
    expect(problems).toEqual([]);
  });
});

describe('generated files are not stale', () => {
  test(`${CALICO_CRD_YAML_PATH} matches lib/crds/calico.ts`, () => {
    expect(readFileSync(join(root, CALICO_CRD_YAML_PATH), 'utf8')).toBe(calicoCrdYaml());
    const docs = parseAllDocuments(calicoCrdYaml()).map((d) => d.toJSON());
    expect(docs).toEqual(calicoCrdManifests());
  });

  test('lib/imports/crd.projectcalico.org.ts is what cdk8s import makes of the schemas (run `npm run gen:calico-imports`)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnikit-crd-import-'));
    try {
      importCalicoCrds(root, join(root, CALICO_CRD_YAML_PATH), dir);
      expect(readFileSync(join(dir, 'crd.projectcalico.org.ts'), 'utf8'))
        .toBe(readFileSync(join(root, 'lib/imports/crd.projectcalico.org.ts'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('schemas validate instances (ajv)', () => {
  const pool = (spec: Record<string, unknown>) => ({ apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'p' }, spec });

  test('accepts an upstream-style IPPool', () => {
    expect(calicoResourceErrors(pool({ cidr: '192.168.0.0/16', ipipMode: 'Always', natOutgoing: true, blockSize: 26, nodeSelector: 'all()' }))).toEqual([]);
  });

  test('fails a bad pool mode in the schema itself, not only in TypeScript', () => {
    const errors = calicoResourceErrors(pool({ cidr: '10.0.0.0/16', vxlanMode: 'Sometimes' }));
    expect(errors.join('\n')).toMatch(/IPPool\/spec\/vxlanMode must be equal to one of the allowed values/);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['missing cidr', { ipipMode: 'Never' }, /must have required property 'cidr'/],
    ['block size out of range', { cidr: '10.0.0.0/16', blockSize: 8 }, /blockSize must be >= 20/],
    ['unknown field', { cidr: '10.0.0.0/16', ipipmode: 'Always' }, /must NOT have additional properties/],
    ['wrong type', { cidr: '10.0.0.0/16', natOutgoing: 'yes' }, /natOutgoing must be boolean/],
  ])('fails an IPPool with %s', (_n, spec, error) => {
    expect(calicoResourceErrors(pool(spec)).join('\n')).toMatch(error);
  });

  test('policy rules: protocol names or numbers, port ranges and named ports; bad ones fail', () => {
    const policy = (rule: Record<string, unknown>) => ({ apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy', metadata: { name: 'n', namespace: 'x' }, spec: { ingress: [rule] } });
    expect(calicoResourceErrors(policy({ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8000:8080', 'http-alt'] } }))).toEqual([]);
    expect(calicoResourceErrors(policy({ action: 'Allow', protocol: 6, icmp: undefined }))).toEqual([]);
    expect(calicoResourceErrors(policy({ action: 'Allow', protocol: 'TCPX' })).join()).toMatch(/protocol must match pattern/);
    expect(calicoResourceErrors(policy({ action: 'Allow', protocol: 256 })).join()).toMatch(/protocol must be <= 255/);
    expect(calicoResourceErrors(policy({ action: 'Accept' })).join()).toMatch(/action must be equal to one of the allowed values/);
    expect(calicoResourceErrors(policy({ action: 'Deny', protocol: 'ICMP', icmp: { type: 300 } })).join()).toMatch(/icmp\/type must be <= 254/);
  });

  test('BGP peers: AS range enforced by the schema', () => {
    const peer = { apiVersion: 'crd.projectcalico.org/v1', kind: 'BGPPeer', metadata: { name: 'p' }, spec: { peerIP: '10.0.0.1', asNumber: 4294967296 } };
    expect(calicoResourceErrors(peer).join()).toMatch(/asNumber must be <= 4294967295/);
  });
});

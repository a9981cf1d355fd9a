import { CALICO_AGENT_PREFIXES } from '../../../lib/dataplane/calico/agent';
import { parseCalicoAgentConfig } from '../../../lib/dataplane/calico/agent-config';
import { POLICY_PREFIXES } from '../../../lib/dataplane/policy/keys';
import { parseTypha, typhaDiscovery } from '../../../lib/dataplane/typha/config';
import { TYPHA_PREFIXES } from '../../../lib/dataplane/typha/prefixes';

describe('Typha settings shared by the node agents', () => {
  test('an address wins; else a Service (default namespace kube-system); unset, empty and "none" mean no Typha', () => {
    expect(parseTypha('10.96.0.20:5473', 'calico-typha', undefined, 'kubernetes')).toEqual({ address: { host: '10.96.0.20', port: 5473 } });
    expect(parseTypha('[fd00::1]:5473', undefined, undefined, 'etcdv3')).toEqual({ address: { host: 'fd00::1', port: 5473 } });
    expect(parseTypha(undefined, 'calico-typha', undefined, 'kubernetes')).toEqual({ service: 'calico-typha', namespace: 'kube-system' });
    expect(parseTypha('', 'calico-typha', 'calico-system', 'kubernetes')).toEqual({ service: 'calico-typha', namespace: 'calico-system' });
    // What calico-config holds when Typha is off (Felix: "none" is the zero value).
    for (const off of [undefined, '', 'none', 'None']) expect(parseTypha(off, off, undefined, 'kubernetes')).toBeUndefined();
    expect(parseTypha(undefined, 'none', undefined, 'etcdv3')).toBeUndefined();
  });

  test('bad values are refused in one line naming the variable', () => {
    expect(() => parseTypha('typha', undefined, undefined, 'kubernetes')).toThrow('FELIX_TYPHAADDR: "typha" is not valid; expected host:port of Typha, e.g. 10.96.0.20:5473 ([fd00::1]:5473 for IPv6)');
    expect(() => parseTypha(undefined, 'calico-typha', undefined, 'etcdv3')).toThrow('FELIX_TYPHAK8SSERVICENAME: "calico-typha" is not valid; expected unset with DATASTORE_TYPE etcdv3');
    expect(() => parseTypha(undefined, 'Calico_Typha', undefined, 'kubernetes')).toThrow('FELIX_TYPHAK8SSERVICENAME: "Calico_Typha" is not valid');
    expect(() => parseTypha(undefined, 'calico-typha', 'Kube.System', 'kubernetes')).toThrow('FELIX_TYPHAK8SNAMESPACE: "Kube.System" is not valid');
    expect(() => typhaDiscovery({ service: 'calico-typha', namespace: 'kube-system' }, undefined)).toThrow(/found through the Kubernetes API/);
  });

  test('the Calico agent reads the same variables (the calico-config ConfigMap\'s "none" included)', () => {
    const env = { NODENAME: 'n1', DATASTORE_TYPE: 'kubernetes', FELIX_TYPHAK8SNAMESPACE: 'calico-system' };
    expect(parseCalicoAgentConfig([], { ...env, FELIX_TYPHAK8SSERVICENAME: 'calico-typha' }).typha).toEqual({ service: 'calico-typha', namespace: 'calico-system' });
    expect(parseCalicoAgentConfig([], { ...env, FELIX_TYPHAK8SSERVICENAME: 'none' }).typha).toBeUndefined();
  });

  test('Typha serves both agents\' prefixes, none inside another (a watch cache keeps each in one slot)', () => {
    expect(TYPHA_PREFIXES).toEqual(expect.arrayContaining([...CALICO_AGENT_PREFIXES, ...POLICY_PREFIXES]));
    for (const a of TYPHA_PREFIXES) for (const b of TYPHA_PREFIXES) if (a !== b) expect({ a, b, nested: b.startsWith(a) }).toEqual({ a, b, nested: false });
  });
});

import { envName, parseAgentConfig } from '../../../lib/dataplane/flannel/agent-config';
import { ValidationError } from '../../../lib/model/errors';

describe('parseAgentConfig', () => {
  it('has flanneld defaults', () => {
    const c = parseAgentConfig([], {});
    expect(c.datastore).toEqual({ kind: 'etcd', endpoints: ['http://127.0.0.1:4001', 'http://127.0.0.1:2379'], prefix: '/coreos.com/network', caFile: undefined, certFile: undefined, keyFile: undefined });
    expect(c).toMatchObject({ ipMasq: false, forwardRules: true, subnetFile: '/run/flannel/subnet.env', healthzPort: 0, resyncSeconds: 10, renewMarginMinutes: 60 });
  });

  it('reads flags, repeatable flags and FLANNELD_* variables (flags win)', () => {
    const c = parseAgentConfig(
      ['--iface=eth1', '--iface', '10.0.0.5', '--ip-masq', '--healthz-port=8081', '--kube-subnet-mgr'],
      { FLANNELD_IFACE_REGEX: 'en.*,eth[0-9]', FLANNELD_IFACE: 'ignored', FLANNELD_PUBLIC_IP: '10.0.0.9', NODE_NAME: 'node-a' },
    );
    expect(c.selection).toEqual({ iface: ['eth1', '10.0.0.5'], ifaceRegex: ['en.*', 'eth[0-9]'], ifaceCanReach: undefined, publicIp: '10.0.0.9', publicIpv6: undefined });
    expect(c.datastore.kind).toBe('kubernetes');
    expect(c).toMatchObject({ ipMasq: true, healthzPort: 8081, nodeName: 'node-a' });
    expect(envName('iface-can-reach')).toBe('FLANNELD_IFACE_CAN_REACH');
  });

  it('rejects bad values with one line naming the flag', () => {
    expect(() => parseAgentConfig(['--healthz-port=http'], {})).toThrow('--healthz-port: "http" is not valid; expected an integer from 0 to 65535');
    expect(() => parseAgentConfig(['--etcd-endpoints=127.0.0.1:2379'], {})).toThrow(/^--etcd-endpoints: "127\.0\.0\.1:2379" is not valid; expected a URL/);
    expect(() => parseAgentConfig([], { FLANNELD_IP_MASQ: 'maybe' })).toThrow('--ip-masq: "maybe" is not valid; expected true or false');
    expect(() => parseAgentConfig(['--no-such-flag'], {})).toThrow(ValidationError);
    expect(() => parseAgentConfig(['--subnet-lease-renew-margin=1440'], {})).toThrow(/renew-margin/);
  });
});

import { CniError, mergeResults, parseEnvironment, parseNetConf, resultForVersion } from '../../../lib/dataplane/cni';

const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof CniError ? error.code : -1;
  }
  return undefined;
};

describe('parseNetConf', () => {
  it('fills flannel-compatible defaults and reads delegate settings', () => {
    const conf = parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', type: 'cnikit-flannel', delegate: { hairpinMode: false, isDefaultGateway: true } }));
    expect(conf).toEqual({
      cniVersion: '1.0.0', name: 'cbr0', type: 'cnikit-flannel', subnetFile: '/run/flannel/subnet.env', dataDir: '/var/lib/cni/cnikit-flannel',
      bridge: 'cni0', hairpinMode: false, isDefaultGateway: true,
    });
  });

  it('maps bad input to the spec codes, naming the field', () => {
    const base = { cniVersion: '1.1.0', name: 'n', type: 't' };
    expect(codeOf(() => parseNetConf('nope'))).toBe(6);
    expect(codeOf(() => parseNetConf(JSON.stringify({ ...base, cniVersion: '2.0.0' })))).toBe(1);
    expect(codeOf(() => parseNetConf(JSON.stringify({ ...base, ipam: {} })))).toBe(2);
    expect(codeOf(() => parseNetConf(JSON.stringify({ ...base, delegate: { type: 'ptp' } })))).toBe(2);
    expect(codeOf(() => parseNetConf(JSON.stringify({ ...base, bridge: 'a-very-long-bridge-name' })))).toBe(7);
    expect(() => parseNetConf(JSON.stringify({ ...base, subnetFile: 'relative' }))).toThrow('subnetFile: "relative" is not valid; expected an absolute path');
    expect(parseNetConf(JSON.stringify({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'x', ifname: 'eth0' }] })).validAttachments)
      .toEqual([{ containerID: 'x', ifname: 'eth0' }]);
    expect(codeOf(() => parseNetConf(JSON.stringify({ ...base, 'cni.dev/valid-attachments': [{ containerID: 1 }] })))).toBe(7);
  });
});

describe('parseEnvironment', () => {
  it('requires the per-command variables and names the missing ones', () => {
    expect(() => parseEnvironment({ CNI_COMMAND: 'ADD', CNI_PATH: '/opt/cni/bin' })).toThrow(/CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME/);
    expect(parseEnvironment({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0', CNI_PATH: '/a:/b', CNI_ARGS: 'K8S_POD_NAME=x;IgnoreUnknown=1' }))
      .toEqual({ command: 'DEL', containerId: 'abc', ifname: 'eth0', netns: undefined, path: ['/a', '/b'], args: { K8S_POD_NAME: 'x', IgnoreUnknown: '1' } });
    expect(codeOf(() => parseEnvironment({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_NETNS: '/x', CNI_IFNAME: 'eth0:1', CNI_PATH: '' }))).toBe(4);
    expect(codeOf(() => parseEnvironment({ CNI_COMMAND: 'STATUS', CNI_PATH: '' }))).toBeUndefined();
  });
});

describe('results', () => {
  const result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'cni0', mac: '0a:58:0a:00:00:01' }, { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1450, sandbox: '/var/run/netns/x' }],
    ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 }, { address: 'fd00::2/64', gateway: 'fd00::1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 }],
  };

  it('converts to older spec versions', () => {
    const v04 = resultForVersion(result, '0.4.0');
    expect(v04.ips?.map((ip) => ip.version)).toEqual(['4', '6']);
    expect(v04.interfaces?.[1]).toEqual({ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/var/run/netns/x' });
    expect(v04.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
    const v11 = resultForVersion(result, '1.1.0');
    expect(v11.interfaces?.[1].mtu).toBe(1450);
    expect(v11.ips?.[0]).toEqual({ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 });
  });

  it('appends to a previous result, shifting interface indexes', () => {
    const merged = mergeResults({ cniVersion: '1.0.0', interfaces: [{ name: 'lo' }], ips: [] }, result);
    expect(merged.interfaces?.map((i) => i.name)).toEqual(['lo', 'cni0', 'eth0']);
    expect(merged.ips?.map((ip) => ip.interface)).toEqual([2, 2]);
  });
});

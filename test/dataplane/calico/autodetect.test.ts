import { autodetectNodeAddress, parseAutodetectMethod, selectNodeAddress } from '../../../lib/dataplane/calico/autodetect';
import { LinuxKernel } from '../../../lib/dataplane/kernel';
import { canCreateNetns, execIn, withNetns } from '../../support/netns';

const interfaces = [
  { name: 'lo', addresses: ['127.0.0.1/8'] },
  { name: 'docker0', addresses: ['172.17.0.1/16'] },
  { name: 'br-3f2a', addresses: ['172.18.0.1/16'] },
  { name: 'cali1234567890a', addresses: [] },
  { name: 'vxlan.calico', addresses: ['10.244.0.0/32'] },
  { name: 'nodelocaldns', addresses: ['169.254.20.10/32'] },
  { name: 'kube-ipvs0', addresses: ['10.96.0.1/32'] },
  { name: 'eth0', addresses: ['fe80::1/64', '10.0.1.2/24', 'fd00:1::2/64'] },
  { name: 'eth1', addresses: ['192.168.50.7/24'] },
];
const pick = async (method: string, family: 4 | 6 = 4, source?: string) =>
  selectNodeAddress(parseAutodetectMethod(method), interfaces, family, async () => source);

describe('node IP autodetection', () => {
  test('first-found skips docker, bridges, veths, lo, cali, tunnels, kube-ipvs and nodelocaldns', async () => {
    expect(await pick('first-found')).toEqual({ interface: 'eth0', address: '10.0.1.2/24' });
    expect(await pick('first-found', 6)).toEqual({ interface: 'eth0', address: 'fd00:1::2/64' });
  });

  test('interface=, skip-interface=, cidr=, can-reach=', async () => {
    expect(await pick('interface=eth1,ens.*')).toEqual({ interface: 'eth1', address: '192.168.50.7/24' });
    expect(await pick('skip-interface=eth0')).toEqual({ interface: 'eth1', address: '192.168.50.7/24' });
    expect(await pick('cidr=192.168.0.0/16')).toEqual({ interface: 'eth1', address: '192.168.50.7/24' });
    expect(await pick('can-reach=8.8.8.8', 4, '192.168.50.7')).toEqual({ interface: 'eth1', address: '192.168.50.7/24' });
    expect(await pick('interface=wlan.*')).toBeUndefined();
  });

  test('bad methods are one-line errors', () => {
    expect(() => parseAutodetectMethod('nearest')).toThrow('IP_AUTODETECTION_METHOD: "nearest" is not valid; expected first-found');
    expect(() => parseAutodetectMethod('interface=(')).toThrow('valid regular expressions after interface=');
    expect(() => parseAutodetectMethod('can-reach=example')).toThrow('can-reach=<one IP address>');
    expect(() => parseAutodetectMethod('cidr=10.0.0.1/8')).toThrow('network address');
  });

  (canCreateNetns() ? test : test.skip)('on a real namespace: first-found and can-reach', async () => {
    await withNetns(['ad'], async (ns) => {
      for (const cmd of [
        ['ip', 'link', 'add', 'docker0', 'type', 'bridge'], ['ip', 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0'], ['ip', 'link', 'set', 'docker0', 'up'],
        ['ip', 'link', 'add', 'ens3', 'type', 'veth', 'peer', 'name', 'veth-a'], ['ip', 'link', 'add', 'ens4', 'type', 'veth', 'peer', 'name', 'veth-b'],
        ['ip', 'link', 'set', 'veth-a', 'up'], ['ip', 'link', 'set', 'veth-b', 'up'], ['ip', 'addr', 'add', '10.7.0.2/24', 'dev', 'ens3'],
        ['ip', 'addr', 'add', '10.8.0.2/24', 'dev', 'ens4'], ['ip', 'link', 'set', 'ens3', 'up'], ['ip', 'link', 'set', 'ens4', 'up'],
        ['ip', 'route', 'add', '203.0.113.0/24', 'via', '10.8.0.1', 'dev', 'ens4'],
      ]) expect(execIn(ns, cmd).stderr).toBe('');
      const kernel = new LinuxKernel({ netns: ns, ownership: {} });
      expect(await autodetectNodeAddress(kernel, 'first-found')).toEqual({ interface: 'ens3', address: '10.7.0.2/24' });
      expect(await autodetectNodeAddress(kernel, 'can-reach=203.0.113.9')).toEqual({ interface: 'ens4', address: '10.8.0.2/24' });
      await expect(autodetectNodeAddress(kernel, 'cidr=10.9.0.0/16')).rejects.toThrow('none matched');
    });
  });
});

import { selectInterface, InterfaceFacts } from '../../../lib/dataplane/flannel/agent-interface';
import { LinkState } from '../../../lib/dataplane/kernel';

const link = (name: string, index: number, kind = 'device'): LinkState => ({ name, index, kind, mtu: name === 'eth1' ? 9000 : 1500, mac: '02:00:00:00:00:0' + index, up: true });
const facts: InterfaceFacts = {
  links: [link('lo', 1, 'loopback'), link('eth0', 2), link('eth1', 3), link('flannel.1', 4, 'vxlan')],
  addresses: [
    { dev: 'lo', cidr: '127.0.0.1/8' },
    { dev: 'eth0', cidr: '192.168.1.10/24' },
    { dev: 'eth1', cidr: '10.20.0.5/16' },
    { dev: 'eth1', cidr: 'fd00::5/64' },
  ],
  routes: [
    { dst: '0.0.0.0/0', via: '192.168.1.1', dev: 'eth0' },
    { dst: '172.16.0.0/12', via: '10.20.0.1', dev: 'eth1' },
  ],
};

describe('selectInterface (flanneld order: --iface, --iface-regex, --iface-can-reach, default route)', () => {
  it('falls back to the default route\'s interface', () => {
    expect(selectInterface({}, facts)).toEqual({ name: 'eth0', address: '192.168.1.10', localAddress: '192.168.1.10', prefixes: ['192.168.1.10/24'], mtu: 1500 });
  });

  it('takes --iface by name or by address, first existing wins', () => {
    expect(selectInterface({ iface: ['nope', 'eth1'] }, facts).name).toBe('eth1');
    expect(selectInterface({ iface: ['10.20.0.5'] }, facts)).toMatchObject({ name: 'eth1', address: '10.20.0.5', mtu: 9000 });
    // Its global IPv6 address comes along (dual-stack): same interface for both families, as flanneld requires.
    expect(selectInterface({ iface: ['eth1'] }, facts)).toMatchObject({ address6: 'fd00::5', localAddress6: 'fd00::5', prefixes: ['10.20.0.5/16', 'fd00::5/64'] });
  });

  it('matches --iface-regex against names and addresses, never flannel\'s own device', () => {
    expect(selectInterface({ ifaceRegex: ['^eth1$'] }, facts).name).toBe('eth1');
    expect(selectInterface({ ifaceRegex: ['^10\\.20\\.'] }, facts).name).toBe('eth1');
    expect(() => selectInterface({ ifaceRegex: ['^flannel'] }, facts)).toThrow(/^--iface-regex: "\^flannel" is not valid/);
  });

  it('follows the longest-prefix route for --iface-can-reach', () => {
    expect(selectInterface({ ifaceCanReach: '172.20.1.1' }, facts).name).toBe('eth1');
    expect(selectInterface({ ifaceCanReach: '8.8.8.8' }, facts).name).toBe('eth0');
  });

  it('advertises --public-ip while keeping the interface\'s prefixes', () => {
    expect(selectInterface({ publicIp: '203.0.113.7' }, facts)).toMatchObject({ name: 'eth0', address: '203.0.113.7', localAddress: '192.168.1.10', prefixes: ['192.168.1.10/24'] });
    expect(() => selectInterface({ publicIp: 'x' }, facts)).toThrow('--public-ip: "x" is not valid; expected an IPv4 address such as 192.168.1.10');
  });

  it('explains a missing interface', () => {
    expect(() => selectInterface({ iface: ['eth9'] }, facts)).toThrow(/^--iface: "eth9" is not valid; expected an existing interface name or address \(have eth0, eth1\)/);
    expect(() => selectInterface({}, { ...facts, routes: [] })).toThrow(/no default route/);
  });
});

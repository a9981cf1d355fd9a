import { ValidationError } from '../../../lib/model/errors';
import { lease } from './backend-fixtures';
import { ExternalInterface, FLANNEL_ROUTE_PROTOCOL, isOnLink } from '../../../lib/dataplane/flannel/backend';
import { createBackend, HostGwBackend, parseVxlanOptions, VxlanBackend } from '../../../lib/dataplane/flannel/backends';

const external: ExternalInterface = { name: 'eth0', address: '10.99.0.11', prefixes: ['10.99.0.11/24'], mtu: 1500 };

const own = lease('10.244.1.0/24', '10.99.0.11', 'host-gw');

describe('isOnLink', () => {
  it('tells connected addresses from routed ones', () => {
    expect(isOnLink('10.99.0.200', ['10.99.0.11/24'])).toBe(true);
    expect(isOnLink('10.99.1.12', ['10.99.0.11/24'])).toBe(false);
    expect(isOnLink('10.99.1.12', ['10.99.0.11/24', '10.99.1.5/23'])).toBe(true);
    expect(isOnLink('fd00::1', ['10.99.0.11/24'])).toBe(false);
  });
});

describe('host-gw backend', () => {
  const backend = new HostGwBackend(external);

  it('routes each on-link peer subnet via its public IP, skipping itself and other backend types', () => {
    const desired = backend.desired(own, [
      own,
      lease('10.244.3.0/24', '10.99.0.13', 'host-gw'),
      lease('10.244.2.0/24', '10.99.0.12', 'host-gw'),
      lease('10.244.9.0/24', '10.99.0.19', 'vxlan'),
    ]);
    expect(desired.routes).toEqual([
      { dst: '10.244.2.0/24', via: '10.99.0.12', dev: 'eth0', protocol: FLANNEL_ROUTE_PROTOCOL },
      { dst: '10.244.3.0/24', via: '10.99.0.13', dev: 'eth0', protocol: FLANNEL_ROUTE_PROTOCOL },
    ]);
    expect(desired.links).toEqual([]);
    expect(desired.refusals).toEqual([]);
    expect(backend.mtu).toBe(1500);
  });

  it('refuses a peer that is not on-link with a one-line reason naming it', () => {
    const desired = backend.desired(own, [lease('10.244.4.0/24', '10.99.1.14', 'host-gw')]);
    expect(desired.routes).toEqual([]);
    expect(desired.refusals).toHaveLength(1);
    expect(desired.refusals[0].reason).toMatch(/^host-gw: peer 10\.99\.1\.14 \(subnet 10\.244\.4\.0\/24\) is not on-link for eth0/);
    expect(desired.refusals[0].reason).not.toContain('\n');
  });
});

describe('vxlan backend', () => {
  const mac = '0a:00:00:00:00:01';
  const ownVx = lease('10.244.1.0/24', '10.99.0.11', 'vxlan', mac);

  it('parses flannel options with defaults and rejects bad ones naming the field', () => {
    expect(parseVxlanOptions({})).toEqual({ vni: 1, port: 8472, gbp: false, learning: false, directRouting: false, mtu: undefined });
    expect(parseVxlanOptions({ vni: 7, Port: 4789, DirectRouting: true, MTU: 1400 })).toMatchObject({ vni: 7, port: 4789, directRouting: true, mtu: 1400 });
    expect(() => parseVxlanOptions({ VNI: -1 })).toThrow('net-conf.json.Backend.VNI: -1 is not valid; expected an integer from 0 to 16777215');
    expect(() => parseVxlanOptions({ DirectRoute: true })).toThrow(ValidationError);
    expect(() => parseVxlanOptions({ Port: '8472' })).toThrow(/Backend\.Port: "8472"/);
  });

  it('wants a device, its /32 address and per peer a neighbour, an FDB entry and an on-link route', () => {
    const backend = new VxlanBackend(external, parseVxlanOptions({ VNI: 1 }), mac);
    expect(backend.mtu).toBe(1450);
    expect(backend.backendData).toEqual({ VNI: 1, VtepMAC: mac });
    const desired = backend.desired(ownVx, [ownVx, lease('10.244.2.0/24', '10.99.1.12', 'vxlan', '0A:00:00:00:00:02')]);
    expect(desired.links).toEqual([expect.objectContaining({ kind: 'vxlan', name: 'flannel.1', vni: 1, port: 8472, local: '10.99.0.11', device: 'eth0', learning: false, mtu: 1450, mac, up: true })]);
    expect(desired.addresses).toEqual([{ dev: 'flannel.1', cidr: '10.244.1.0/32' }]);
    expect(desired.neighbours).toEqual([{ dev: 'flannel.1', address: '10.244.2.0', mac: '0a:00:00:00:00:02' }]);
    expect(desired.fdb).toEqual([{ dev: 'flannel.1', mac: '0a:00:00:00:00:02', dst: '10.99.1.12' }]);
    expect(desired.routes).toEqual([{ dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true, protocol: FLANNEL_ROUTE_PROTOCOL }]);
  });

  it('routes on-link peers directly with DirectRouting and tunnels the others', () => {
    const backend = new VxlanBackend(external, parseVxlanOptions({ DirectRouting: true }), mac);
    const desired = backend.desired(ownVx, [
      lease('10.244.2.0/24', '10.99.0.12', 'vxlan', '0a:00:00:00:00:02'),
      lease('10.244.3.0/24', '10.99.1.13', 'vxlan', '0a:00:00:00:00:03'),
    ]);
    expect(desired.routes).toEqual([
      { dst: '10.244.2.0/24', via: '10.99.0.12', dev: 'eth0', protocol: FLANNEL_ROUTE_PROTOCOL },
      { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'flannel.1', onlink: true, protocol: FLANNEL_ROUTE_PROTOCOL },
    ]);
    expect(desired.fdb.map((f) => f.dst)).toEqual(['10.99.1.13']);
  });

  it('refuses a peer without a usable VtepMAC instead of programming a broken entry', () => {
    const backend = new VxlanBackend(external, parseVxlanOptions({}), mac);
    const desired = backend.desired(ownVx, [lease('10.244.2.0/24', '10.99.0.12', 'vxlan')]);
    expect(desired.routes).toEqual([]);
    expect(desired.refusals[0].reason).toContain('published no valid VtepMAC');
  });
});

describe('createBackend', () => {
  it('builds the configured type and rejects unsupported ones with the field named', () => {
    expect(createBackend({ type: 'host-gw', options: {} }, { external }).type).toBe('host-gw');
    expect(createBackend({ type: 'vxlan', options: { VNI: 4 } }, { external, vtepMac: '0a:00:00:00:00:01' })).toMatchObject({ device: 'flannel.4' });
    expect(() => createBackend({ type: 'udp', options: {} }, { external })).toThrow(/^net-conf\.json\.Backend\.Type: "udp" is not valid; expected one of vxlan, host-gw/);
    expect(() => createBackend({ type: 'host-gw', options: { VNI: 1 } }, { external })).toThrow(/Backend\.VNI/);
  });
});

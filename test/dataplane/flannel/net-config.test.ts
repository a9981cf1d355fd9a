import { DEFAULT_BACKEND_TYPE, isSubnetInRange, netConfigToJson, parseNetConfig } from '../../../lib/dataplane/flannel/net-config';
import { Cidr } from '../../../lib/model/cidr';
import { ValidationError } from '../../../lib/model/errors';

const parse = (config: object) => parseNetConfig(JSON.stringify(config));
const errorOf = (config: object | string): ValidationError => {
  try {
    parseNetConfig(typeof config === 'string' ? config : JSON.stringify(config));
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).not.toContain('\n');
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
};

describe('net-conf.json (flannel CheckNetworkConfig rules)', () => {
  test('the stock manifest config: /16 gives /24 subnets from the second to the last', () => {
    const config = parse({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    expect(config.ipv4!.network.toString()).toBe('10.244.0.0/16');
    expect(config.ipv4!.subnetLen).toBe(24);
    expect(config.ipv4!.subnetMin.toString()).toBe('10.244.1.0/24');
    expect(config.ipv4!.subnetMax.toString()).toBe('10.244.255.0/24');
    expect(config.ipv6).toBeUndefined();
    expect(config.enableNFTables).toBe(false);
    expect(config.backend).toEqual({ type: 'vxlan', options: {} });
  });

  test.each([
    ['10.0.0.0/8', 24],
    ['10.244.0.0/22', 24],
    ['10.244.0.0/23', 25],
    ['10.244.0.0/26', 28],
    ['10.244.0.0/28', 30],
  ])('default SubnetLen for %s is /%d', (network, len) => {
    expect(parse({ Network: network }).ipv4!.subnetLen).toBe(len);
  });

  test('a network smaller than /28 is rejected', () => {
    expect(errorOf({ Network: '10.244.0.0/29' }).message)
      .toBe('net-conf.json.Network: "10.244.0.0/29" is not valid; expected a network of /28 or larger (flannel needs at least four subnets of four addresses)');
  });

  test('SubnetLen must be at most 30 and leave room for four subnets', () => {
    expect(errorOf({ Network: '10.244.0.0/16', SubnetLen: 31 }).field).toBe('net-conf.json.SubnetLen');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetLen: 17 }).message).toContain('at least 18');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetLen: '24' }).message).toContain('an integer prefix length');
    expect(parse({ Network: '10.244.0.0/16', SubnetLen: 18 }).ipv4!.subnetMin.toString()).toBe('10.244.64.0/18');
  });

  test('SubnetMin / SubnetMax: inside the network, on a subnet boundary, min not above max', () => {
    const config = parse({ Network: '10.244.0.0/16', SubnetMin: '10.244.10.0', SubnetMax: '10.244.20.0' });
    expect(config.ipv4!.subnetMin.toString()).toBe('10.244.10.0/24');
    expect(config.ipv4!.subnetMax.toString()).toBe('10.244.20.0/24');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetMin: '10.245.0.0' }).message).toContain('an address inside the network 10.244.0.0/16');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetMax: '10.244.20.7' }).message)
      .toBe('net-conf.json.SubnetMax: "10.244.20.7" is not valid; expected an address on a /24 boundary, such as 10.244.20.0');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetMin: '10.244.30.0', SubnetMax: '10.244.20.0' }).field).toBe('net-conf.json.SubnetMin');
    expect(errorOf({ Network: '10.244.0.0/16', SubnetMin: '10.244.1.0/24' }).message).toContain('an IPv4 address inside 10.244.0.0/16');
  });

  test('Network is required when IPv4 is enabled and must be a network address', () => {
    expect(errorOf({ Backend: { Type: 'vxlan' } }).message).toBe('net-conf.json.Network: (unset) is not valid; expected an IPv4 CIDR such as 10.244.0.0/16');
    expect(errorOf({ Network: '10.244.1.0/16' }).message).toContain('a network address (host bits zero), e.g. 10.244.0.0/16');
    expect(errorOf({ Network: 'fd00::/56' }).field).toBe('net-conf.json.Network');
  });

  test('IPv6: IPv6Network required, /64 default, +2 for small networks, /124 minimum, /126 maximum', () => {
    const config = parse({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56' });
    expect(config.ipv6!.subnetLen).toBe(64);
    expect(config.ipv6!.subnetMin.toString()).toBe('fd00:10:244:1::/64');
    expect(config.ipv6!.subnetMax.toString()).toBe('fd00:10:244:ff::/64');
    expect(parse({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00::/120' }).ipv6!.subnetLen).toBe(122);
    expect(errorOf({ Network: '10.244.0.0/16', EnableIPv6: true }).message).toContain('EnableIPv6 is true');
    expect(errorOf({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00::/125' }).message).toContain('/124 or larger');
    expect(errorOf({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00::/56', IPv6SubnetLen: 127 }).field).toBe('net-conf.json.IPv6SubnetLen');
    expect(parse({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00::/56' }).ipv4).toBeUndefined();
  });

  test('missing Backend is vxlan (flannel\'s code would pick udp); Type is case-insensitive; options are kept', () => {
    expect(DEFAULT_BACKEND_TYPE).toBe('vxlan');
    expect(parse({ Network: '10.244.0.0/16' }).backend).toEqual({ type: 'vxlan', options: {} });
    expect(parse({ Network: '10.244.0.0/16', Backend: { Type: 'Host-GW' } }).backend.type).toBe('host-gw');
    expect(parse({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 4096, Port: 4789, DirectRouting: true } }).backend.options)
      .toEqual({ VNI: 4096, Port: 4789, DirectRouting: true });
    expect(errorOf({ Network: '10.244.0.0/16', Backend: {} }).field).toBe('net-conf.json.Backend.Type');
    expect(errorOf({ Network: '10.244.0.0/16', Backend: 'vxlan' }).field).toBe('net-conf.json.Backend');
  });

  test('keys match case-insensitively like Go; unknown and unsupported keys are named', () => {
    expect(parse({ network: '10.244.0.0/16', subnetlen: 25 }).ipv4!.subnetLen).toBe(25);
    expect(errorOf({ Network: '10.244.0.0/16', SubnetLenn: 25 }).field).toBe('net-conf.json.SubnetLenn');
    expect(errorOf({ Network: '10.244.0.0/16', Networks: ['10.245.0.0/16'] }).message).toContain('multiple cluster CIDRs are not supported');
    expect(errorOf({ Network: '10.244.0.0/16', EnableIPv6: 'yes' }).message).toContain('expected true or false');
    expect(errorOf({ EnableIPv4: false }).field).toBe('net-conf.json.EnableIPv4');
  });

  test('not JSON, or not an object, is a one-line error', () => {
    expect(errorOf('{"Network": ').message).toMatch(/^net-conf\.json: .* is not valid; expected a JSON object \(/);
    expect(errorOf('[1]').message).toContain('expected a JSON object such as');
  });

  test('the source name prefixes the field (e.g. the etcd key)', () => {
    expect(() => parseNetConfig('{"Network":"x"}', '/coreos.com/network/config')).toThrow(/^\/coreos\.com\/network\/config\.Network: "x"/);
  });

  test('netConfigToJson writes the defaults out and parses back to the same config', () => {
    const config = parse({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/48', Backend: { Type: 'vxlan', VNI: 2 } });
    const json = netConfigToJson(config);
    expect(json).toMatchObject({ Network: '10.244.0.0/16', SubnetLen: 24, SubnetMin: '10.244.1.0', SubnetMax: '10.244.255.0', EnableIPv6: true, IPv6SubnetLen: 64, Backend: { Type: 'vxlan', VNI: 2 } });
    expect(parse(json)).toEqual(config);
  });

  test('isSubnetInRange: length, network and [min, max]', () => {
    const range = parse({ Network: '10.244.0.0/16', SubnetMin: '10.244.10.0', SubnetMax: '10.244.20.0' }).ipv4!;
    expect(isSubnetInRange(range, Cidr.parse('10.244.10.0/24', 's'))).toBe(true);
    expect(isSubnetInRange(range, Cidr.parse('10.244.20.0/24', 's'))).toBe(true);
    expect(isSubnetInRange(range, Cidr.parse('10.244.21.0/24', 's'))).toBe(false);
    expect(isSubnetInRange(range, Cidr.parse('10.244.12.0/25', 's'))).toBe(false);
    expect(isSubnetInRange(range, Cidr.parse('10.245.12.0/24', 's'))).toBe(false);
  });
});

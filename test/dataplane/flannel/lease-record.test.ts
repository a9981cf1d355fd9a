import { checkLeaseNetwork, decodeLeaseAttrs, encodeLeaseAttrs, parseSubnetKey, subnetKey } from '../../../lib/dataplane/flannel/lease-record';
import { parseNetConfig } from '../../../lib/dataplane/flannel/net-config';
import { Cidr } from '../../../lib/model/cidr';

const c = (text: string) => Cidr.parse(text, 't');

describe('flannel etcd lease encoding', () => {
  test('subnet keys: IPv4, dual-stack with &, IPv6-only with the 0.0.0.0-0 placeholder', () => {
    expect(subnetKey(c('10.5.52.0/24'), undefined)).toBe('10.5.52.0-24');
    expect(subnetKey(c('10.12.13.0/24'), c('fd00:12:13::/56'))).toBe('10.12.13.0-24&fd00:12:13::-56');
    expect(subnetKey(undefined, c('fd00:12:13::/64'))).toBe('0.0.0.0-0&fd00:12:13::-64');
    for (const key of ['10.5.52.0-24', '10.12.13.0-24&fd00:12:13::-56', '0.0.0.0-0&fd00:12:13::-64']) {
      const parsed = parseSubnetKey(key)!;
      expect(subnetKey(parsed.subnet, parsed.ipv6Subnet)).toBe(key);
    }
  });

  test('keys that are not subnet keys are not leases', () => {
    for (const key of ['config', '10.5.52.0', '10.5.52.1-24', '10.5.52.0-33', 'fd00::-64', '10.5.52.0-24&10.6.0.0-24', '0.0.0.0-0', 'a&b&c']) {
      expect(parseSubnetKey(key)).toBeUndefined();
    }
  });

  test('lease JSON is flannel\'s: PublicIP always, empty fields omitted, raw backend data kept', () => {
    expect(encodeLeaseAttrs({ publicIp: '192.168.1.10', backendType: 'host-gw' })).toBe('{"PublicIP":"192.168.1.10","BackendType":"host-gw"}');
    const full = { publicIp: '192.168.1.10', publicIpv6: 'fd00::10', backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:ff' }, backendV6Data: { VNI: 1 } };
    expect(JSON.parse(encodeLeaseAttrs(full))).toEqual({ PublicIP: '192.168.1.10', PublicIPv6: 'fd00::10', BackendType: 'vxlan', BackendData: full.backendData, BackendV6Data: { VNI: 1 } });
    expect(decodeLeaseAttrs(encodeLeaseAttrs(full), 'k')).toEqual(full);
    expect(decodeLeaseAttrs('{"PublicIP":"0.0.0.0","PublicIPv6":"fd00::1","BackendType":"VXLAN"}', 'k')).toEqual({
      publicIp: undefined, publicIpv6: 'fd00::1', backendType: 'vxlan', backendData: undefined, backendV6Data: undefined,
    });
  });

  test('malformed lease values are errors naming the key and field', () => {
    expect(() => decodeLeaseAttrs('nope', '/p/subnets/10.5.52.0-24')).toThrow('/p/subnets/10.5.52.0-24: value "nope" is not valid; expected a JSON object');
    expect(() => decodeLeaseAttrs('{"PublicIP":"999.1.1.1"}', 'k')).toThrow('k: PublicIP "999.1.1.1" is not valid; expected an IPv4 address');
    expect(() => decodeLeaseAttrs('{"PublicIP":"10.0.0.1","BackendType":3}', 'k')).toThrow('k: BackendType 3 is not valid; expected a string');
  });

  test('a lease outside the configured network, or not a /SubnetLen, is refused naming the key and field', () => {
    const v4 = parseNetConfig(JSON.stringify({ Network: '10.5.0.0/16' }));
    const check = (config: typeof v4, key: string) => () => checkLeaseNetwork(config, key, parseSubnetKey(key)!);
    expect(check(v4, '10.5.52.0-24')).not.toThrow();
    expect(check(v4, '192.168.5.0-24')).toThrow('192.168.5.0-24: subnet "192.168.5.0/24" is not valid; expected a /24 inside Network 10.5.0.0/16');
    expect(check(v4, '10.5.52.0-25')).toThrow('10.5.52.0-25: subnet "10.5.52.0/25" is not valid; expected a /24 inside Network 10.5.0.0/16');
    expect(check(v4, '10.0.0.0-8')).toThrow(/subnet "10.0.0.0\/8" is not valid/);

    const dual = parseNetConfig(JSON.stringify({ Network: '10.5.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:5::/56' }));
    expect(check(dual, '10.5.52.0-24&fd00:5:0:34::-64')).not.toThrow();
    expect(check(dual, '10.5.52.0-24&fd00:6::-64'))
      .toThrow('10.5.52.0-24&fd00:6::-64: IPv6 subnet "fd00:6::/64" is not valid; expected a /64 inside IPv6Network fd00:5::/56');
    // A family the config does not enable is not looked at (the backends program only enabled ones).
    expect(check(v4, '10.5.52.0-24&fd00:6::-64')).not.toThrow();
  });
});

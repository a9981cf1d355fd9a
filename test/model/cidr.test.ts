import { Cidr, isIpAddress } from '../../lib/model/cidr';
import { ValidationError } from '../../lib/model/errors';

describe('Cidr', () => {
  test('counts and enumerates subnets', () => {
    const net = Cidr.parse('10.244.0.0/16', 'podNetwork', 4);
    expect(net.subnetCount(24)).toBe(256n);
    expect(net.subnet(24, 1n).toString()).toBe('10.244.1.0/24');
    expect(net.subnet(24, 255n).toString()).toBe('10.244.255.0/24');
    expect(net.address(1n)).toBe('10.244.0.1');
  });

  test('handles IPv6', () => {
    const net = Cidr.parse('fd00:10:244::/56', 'podNetworkV6', 6);
    expect(net.subnetCount(64)).toBe(256n);
    expect(net.subnet(64, 2n).toString()).toBe('fd00:10:244:2::/64');
  });

  test('overlap and containment', () => {
    const a = Cidr.parse('10.96.0.0/12', 'a');
    expect(a.overlaps(Cidr.parse('10.100.0.0/16', 'b'))).toBe(true);
    expect(a.overlaps(Cidr.parse('10.244.0.0/16', 'b'))).toBe(false);
    expect(a.contains(Cidr.parse('10.100.0.0/16', 'b'))).toBe(true);
    expect(a.containsAddress('10.96.0.1')).toBe(true);
    expect(a.containsAddress('fd00::1')).toBe(false);
  });

  test.each([
    ['10.244.0.0/33', 'expected an IPv4 CIDR'],
    ['10.244.0.300/16', 'expected an IPv4 CIDR'],
    ['10.244.1.0/16', 'expected a network address (host bits zero), e.g. 10.244.0.0/16'],
    ['fd00::/48', 'expected an IPv4 CIDR'],
    ['10.244.0.0', 'expected an IPv4 CIDR'],
  ])('fails on %s with a message naming field, value and expectation', (text, expected) => {
    expect(() => Cidr.parse(text, 'flannel.podNetwork', 4)).toThrow(ValidationError);
    expect(() => Cidr.parse(text, 'flannel.podNetwork', 4)).toThrow(`flannel.podNetwork: "${text}" is not valid; ${expected}`);
  });

  test('isIpAddress', () => {
    expect(isIpAddress('10.0.0.1', 4)).toBe(true);
    expect(isIpAddress('10.0.0.1/32')).toBe(false);
    expect(isIpAddress('fd00::1', 4)).toBe(false);
    expect(isIpAddress('nope')).toBe(false);
  });
});

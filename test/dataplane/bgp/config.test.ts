import { parseSpeakerConfig } from '../../../lib/dataplane/bgp/config';

describe('standalone speaker configuration', () => {
  const good = { routerId: '10.0.0.1', asn: 64512, peers: [{ address: '10.0.0.2', asn: 64512, passive: true }], localRoutes: ['10.244.1.7/26'] };

  it('accepts a valid file and canonicalises prefixes', () => {
    expect(parseSpeakerConfig(good)).toMatchObject({ routerId: '10.0.0.1', localRoutes: ['10.244.1.0/26'], peers: [{ address: '10.0.0.2', passive: true }] });
  });

  it('takes the families a session carries per peer', () => {
    expect(parseSpeakerConfig({ ...good, peers: [{ address: 'fd00::2', asn: 64512, families: ['ipv6'] }] }).peers[0].families).toEqual(['ipv6']);
  });

  it.each([
    [{ ...good, routerId: 'fd00::1' }, 'bgp.routerId: "fd00::1" is not valid; expected an IPv4 address'],
    [{ ...good, asn: 0 }, 'bgp.asn: 0 is not valid; expected a whole number from 1 to 4294967295'],
    [{ ...good, holdTime: 2 }, 'bgp.holdTime: 2 is not valid; expected 0 or at least 3 seconds'],
    [{ ...good, peers: [{ address: '10.0.0.2', asn: 1, nextHopMode: 'self' }] }, 'bgp.peers[0].nextHopMode: "self" is not valid; expected Auto, Self or Keep'],
    [{ ...good, peers: [{ address: 'x', asn: 1 }] }, 'bgp.peers[0].address: "x" is not valid; expected an IPv4 or IPv6 address'],
    [{ ...good, localRoutes: ['10.0.0.0/33'] }, 'bgp.localRoutes[0]: "10.0.0.0/33" is not valid; expected a CIDR such as 10.244.1.0/26'],
    [{ ...good, peer: [] }, 'bgp.peer: [] is not valid; expected one of the known keys'],
    [{ ...good, peers: [{ address: 'fd00::2', asn: 1, families: ['ipv6', 'vpnv4'] }] }, 'bgp.peers[0].families: ["ipv6","vpnv4"] is not valid; expected a non-empty list of ipv4, ipv6'],
  ])('rejects %j with one line', (input, message) => {
    expect(() => parseSpeakerConfig(input)).toThrow(message);
  });
});

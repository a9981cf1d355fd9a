import { AFI_IPV4, AFI_IPV6, BgpMessage, Origin, SAFI_UNICAST } from '../../../lib/dataplane/bgp/wire';

/** Valid messages covering every message type, capability and attribute the codec knows. */
export const sampleOpen: BgpMessage = {
  type: 'open', version: 4, myAs: 23456, holdTime: 90, routerId: '10.0.0.1',
  capabilities: {
    multiprotocol: [{ afi: AFI_IPV4, safi: SAFI_UNICAST }, { afi: AFI_IPV6, safi: SAFI_UNICAST }],
    fourOctetAs: 4200000001,
    routeRefresh: true,
    gracefulRestart: { restartTime: 120, restarting: true, families: [{ afi: AFI_IPV4, safi: SAFI_UNICAST, forwardingPreserved: true }] },
    addPath: [{ afi: AFI_IPV4, safi: SAFI_UNICAST, sendReceive: 3 }],
    unknown: [{ code: 73, value: Uint8Array.of(4, 110, 111, 100, 101) }],
  },
};

export const sampleUpdateV4: BgpMessage = {
  type: 'update',
  withdrawn: ['10.9.0.0/16', '0.0.0.0/0'],
  attributes: {
    origin: Origin.IGP,
    asPath: [{ type: 'sequence', asns: [64512, 4200000001] }, { type: 'set', asns: [65001, 65002] }],
    nextHop: '192.168.1.1',
    med: 50,
    localPref: 200,
    atomicAggregate: true,
    aggregator: { asn: 64512, address: '192.168.1.9' },
    communities: [0xfde80001, 0xffffff01],
    originatorId: '10.0.0.7',
    clusterList: ['10.0.0.1', '1.2.3.4'],
    unknown: [{ flags: 0xe0, code: 99, value: Uint8Array.of(1, 2, 3) }],
  },
  nlri: ['10.244.1.0/26', '10.244.1.64/26', '172.16.0.0/12', '192.168.7.8/32'],
};

export const sampleUpdateV6: BgpMessage = {
  type: 'update', withdrawn: [], nlri: [],
  attributes: { origin: Origin.INCOMPLETE, asPath: [], localPref: 100 },
  mpReach: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: ['fd00::1', 'fe80::1'], nlri: ['fd00:10:244::/64', '2001:db8::/32', '::/0'] },
  mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: ['fd00:1::/48'] },
};

export const sampleUpdateMpV4: BgpMessage = {
  type: 'update', withdrawn: [], nlri: [],
  attributes: { origin: Origin.EGP, asPath: [{ type: 'sequence', asns: [65010] }] },
  mpReach: { afi: AFI_IPV4, safi: SAFI_UNICAST, nextHops: ['10.1.1.1'], nlri: ['10.250.0.0/24'] },
};

export const samples: readonly BgpMessage[] = [
  sampleOpen, sampleUpdateV4, sampleUpdateV6, sampleUpdateMpV4,
  { type: 'keepalive' },
  { type: 'notification', code: 6, subcode: 2, data: Uint8Array.of(5, 104, 101, 108, 108, 111) },
  { type: 'route-refresh', afi: AFI_IPV6, safi: SAFI_UNICAST },
  { type: 'update', withdrawn: [], attributes: {}, nlri: [] },
];

/** Deterministic PRNG (mulberry32) so a failing fuzz case reproduces from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

import { Route } from '../../kernel/types';
import { Lease } from '../lease';
import { Backend, DesiredDataplane, ExternalInterface, FLANNEL_ROUTE_PROTOCOL, isOnLink, leaseFamilies, Peer, Refusal, remotePeers } from '../backend';

/**
 * host-gw: no device, no encapsulation. Each remote subnet is routed via the remote node's
 * public address on the uplink (per family), which only works when that address is on-link (same
 * L2 segment); other peers are refused with a one-line reason instead of a route that blackholes.
 */
export class HostGwBackend implements Backend {
  public readonly type = 'host-gw';
  public readonly mtu: number;

  constructor(private readonly external: ExternalInterface) {
    this.mtu = external.mtu;
  }

  public desired(own: Lease, leases: readonly Lease[]): DesiredDataplane {
    const routes: Route[] = [];
    const refusals: Refusal[] = [];
    for (const family of leaseFamilies(own)) {
      for (const peer of remotePeers(own, leases, this.type, family)) {
        if (!isOnLink(peer.publicIp, this.external.prefixes)) {
          refusals.push({ lease: peer.lease.key, reason: hostGwRefusal(peer, this.external) });
          continue;
        }
        routes.push({ dst: peer.subnet.toString(), via: peer.publicIp, dev: this.external.name, protocol: FLANNEL_ROUTE_PROTOCOL });
      }
    }
    return { links: [], addresses: [], routes, neighbours: [], fdb: [], refusals };
  }
}

export function hostGwRefusal(peer: Peer, external: ExternalInterface): string {
  const v6 = peer.publicIp.includes(':');
  const prefixes = external.prefixes.filter((p) => p.includes(':') === v6);
  return `host-gw: peer ${peer.publicIp} (subnet ${peer.subnet}) is not on-link for ${external.name} `
    + `(${prefixes.join(', ') || `no IPv${v6 ? 6 : 4} prefix`}); host-gw needs every node on one L2 segment, use the vxlan backend across subnets`;
}

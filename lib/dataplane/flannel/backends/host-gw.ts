import { Route } from '../../kernel/types';
import { Lease } from '../lease';
import { Backend, DesiredDataplane, ExternalInterface, FLANNEL_ROUTE_PROTOCOL, isOnLink, Refusal, remoteLeases } from '../backend';

/**
 * host-gw: no device, no encapsulation. Each remote subnet is routed via the remote node's
 * PublicIP on the uplink, which only works when that address is on-link (same L2 segment);
 * other peers are refused with a one-line reason instead of programming a route that blackholes.
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
    for (const peer of remoteLeases(own, leases, this.type)) {
      const via = peer.attrs.publicIp!;
      if (!isOnLink(via, this.external.prefixes)) {
        refusals.push({ lease: peer.key, reason: hostGwRefusal(peer, this.external) });
        continue;
      }
      routes.push({ dst: peer.subnet!.toString(), via, dev: this.external.name, protocol: FLANNEL_ROUTE_PROTOCOL });
    }
    return { links: [], addresses: [], routes, neighbours: [], fdb: [], refusals };
  }
}

export function hostGwRefusal(peer: Lease, external: ExternalInterface): string {
  return `host-gw: peer ${peer.attrs.publicIp} (subnet ${peer.subnet}) is not on-link for ${external.name} `
    + `(${external.prefixes.join(', ') || 'no IPv4 prefix'}); host-gw needs every node on one L2 segment, use the vxlan backend across subnets`;
}

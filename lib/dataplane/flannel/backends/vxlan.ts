import { ValidationError } from '../../../model/errors';
import { JsonObject, JsonValue } from '../../datastore/types';
import { Address, FdbEntry, LinkSpec, Neighbour, Route } from '../../kernel/types';
import { Lease } from '../lease';
import { Backend, DesiredDataplane, ExternalInterface, FLANNEL_ROUTE_PROTOCOL, isOnLink, leaseFamilies, Refusal, remotePeers } from '../backend';

/** VXLAN (RFC 7348) headers on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
/** The same over an IPv6 underlay: outer IPv6 header 40. */
export const VXLAN_OVERHEAD_V6 = 70;
/** flannel's default UDP port (the Linux kernel's historical one), not IANA's 4789. */
export const FLANNEL_VXLAN_PORT = 8472;

/** The vxlan `Backend` options of net-conf.json, defaulted. */
export interface VxlanOptions {
  readonly vni: number;
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  /** Device MTU when set; else the uplink MTU minus VXLAN_OVERHEAD. */
  readonly mtu?: number;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Parses the `Backend` options (without `Type`) as flannel's vxlan backend reads them; keys are
 * case-insensitive like Go's encoding/json, unknown keys are rejected so typos are not ignored.
 */
export function parseVxlanOptions(options: JsonObject, field = 'net-conf.json.Backend'): VxlanOptions {
  const known: Record<string, string> = { vni: 'VNI', port: 'Port', gbp: 'GBP', learning: 'Learning', directrouting: 'DirectRouting', mtu: 'MTU' };
  const values: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(options)) {
    const canonical = known[key.toLowerCase()];
    if (!canonical) throw new ValidationError(`${field}.${key}`, value, `one of the vxlan options ${Object.values(known).join(', ')}`);
    values[canonical] = value;
  }
  const int = (key: string, min: number, max: number, fallback: number): number => {
    const value = values[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new ValidationError(`${field}.${key}`, value, `an integer from ${min} to ${max}`);
    }
    return value;
  };
  const bool = (key: string): boolean => {
    const value = values[key];
    if (value === undefined || value === null) return false;
    if (typeof value !== 'boolean') throw new ValidationError(`${field}.${key}`, value, 'true or false');
    return value;
  };
  const port = int('Port', 0, 65535, 0);
  const mtu = values.MTU === undefined || values.MTU === null || values.MTU === 0 ? undefined : int('MTU', 68, 65535, 0);
  return {
    vni: int('VNI', 0, 16_777_215, 1),
    port: port === 0 ? FLANNEL_VXLAN_PORT : port,
    gbp: bool('GBP'),
    learning: bool('Learning'),
    directRouting: bool('DirectRouting'),
    mtu,
  };
}

/** `flannel.<VNI>` (`flannel-v6.<VNI>` for the IPv6 underlay), flannel's device names. */
export function vxlanDeviceName(vni: number, family: 4 | 6 = 4): string {
  return family === 6 ? `flannel-v6.${vni}` : `flannel.${vni}`;
}

/** BackendData as flannel writes it: `{"VNI":1,"VtepMAC":"…"}`. */
export function vxlanBackendData(vni: number, vtepMac: string): JsonObject {
  return { VNI: vni, VtepMAC: vtepMac };
}

/** The VTEP MAC a peer published (BackendData, or BackendV6Data for family 6); undefined when missing or bad. */
export function peerVtepMac(lease: Lease, family: 4 | 6 = 4): string | undefined {
  const data = family === 6 ? lease.attrs.backendV6Data : lease.attrs.backendData;
  if (!data || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const mac = data.VtepMAC;
  return typeof mac === 'string' && MAC.test(mac.toLowerCase()) ? mac.toLowerCase() : undefined;
}

/**
 * VXLAN: per family one device `flannel.<VNI>` / `flannel-v6.<VNI>` (learning off, so the kernel
 * never guesses), addressed with the node subnet's network address as a host prefix; per remote
 * node a permanent neighbour (subnet address → remote VTEP MAC), an FDB entry (VTEP MAC → remote
 * public address) and an on-link route. With DirectRouting, peers on the same L2 get a plain
 * route via their public address instead. IPv6 is programmed when `vtepMac6` is given.
 */
export class VxlanBackend implements Backend {
  public readonly type = 'vxlan';
  public readonly mtu: number;
  public readonly device: string;
  public readonly device6: string;
  public readonly backendData: JsonObject;
  public readonly backendV6Data?: JsonObject;
  private readonly mtu4: number;
  private readonly mtu6: number;

  constructor(
    private readonly external: ExternalInterface,
    public readonly options: VxlanOptions,
    public readonly vtepMac: string,
    public readonly vtepMac6?: string,
  ) {
    for (const mac of [vtepMac, ...(vtepMac6 ? [vtepMac6] : [])]) {
      if (!MAC.test(mac)) throw new ValidationError('vxlan VtepMAC', mac, 'a lower-case MAC such as 0a:58:0a:f4:01:01');
    }
    this.mtu4 = options.mtu ?? external.mtu - VXLAN_OVERHEAD;
    this.mtu6 = options.mtu ?? external.mtu - VXLAN_OVERHEAD_V6;
    this.mtu = vtepMac6 ? Math.min(this.mtu4, this.mtu6) : this.mtu4;
    this.device = vxlanDeviceName(options.vni, 4);
    this.device6 = vxlanDeviceName(options.vni, 6);
    this.backendData = vxlanBackendData(options.vni, vtepMac);
    if (vtepMac6) this.backendV6Data = vxlanBackendData(options.vni, vtepMac6);
  }

  public desired(own: Lease, leases: readonly Lease[]): DesiredDataplane {
    const out = { links: [] as LinkSpec[], addresses: [] as Address[], routes: [] as Route[], neighbours: [] as Neighbour[], fdb: [] as FdbEntry[], refusals: [] as Refusal[] };
    for (const family of leaseFamilies(own)) {
      const local = family === 4 ? this.external.localAddress ?? this.external.address : this.external.localAddress6 ?? this.external.address6;
      const mac = family === 4 ? this.vtepMac : this.vtepMac6;
      const ownSubnet = family === 4 ? own.subnet : own.ipv6Subnet;
      if (!local || !mac || !ownSubnet) continue;
      const dev = vxlanDeviceName(this.options.vni, family);
      const o = this.options;
      out.links.push({
        kind: 'vxlan', name: dev, vni: o.vni, port: o.port, local, device: this.external.name,
        learning: o.learning, gbp: o.gbp, mtu: family === 4 ? this.mtu4 : this.mtu6, mac, up: true,
      });
      out.addresses.push({ dev, cidr: `${ownSubnet.address(0n)}/${family === 4 ? 32 : 128}`, ...(family === 6 ? { nodad: true } : {}) });
      for (const peer of remotePeers(own, leases, this.type, family)) {
        const subnet = peer.subnet;
        if (o.directRouting && isOnLink(peer.publicIp, this.external.prefixes)) {
          out.routes.push({ dst: subnet.toString(), via: peer.publicIp, dev: this.external.name, protocol: FLANNEL_ROUTE_PROTOCOL });
          continue;
        }
        const peerMac = peerVtepMac(peer.lease, family);
        if (!peerMac) {
          out.refusals.push({ lease: peer.lease.key, reason: `vxlan: peer ${peer.publicIp} (subnet ${subnet}) published no valid VtepMAC in its ${family === 4 ? 'BackendData' : 'BackendV6Data'}` });
          continue;
        }
        const gateway = subnet.address(0n);
        out.neighbours.push({ dev, address: gateway, mac: peerMac });
        out.fdb.push({ dev, mac: peerMac, dst: peer.publicIp });
        out.routes.push({ dst: subnet.toString(), via: gateway, dev, onlink: true, protocol: FLANNEL_ROUTE_PROTOCOL });
      }
    }
    return out;
  }
}

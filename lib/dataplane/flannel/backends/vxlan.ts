import { ValidationError } from '../../../model/errors';
import { JsonObject, JsonValue } from '../../datastore/types';
import { FdbEntry, Neighbour, Route } from '../../kernel/types';
import { Lease } from '../lease';
import { Backend, DesiredDataplane, ExternalInterface, FLANNEL_ROUTE_PROTOCOL, isOnLink, Refusal, remoteLeases } from '../backend';

/** VXLAN (RFC 7348) headers on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
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

/** `flannel.<VNI>`, flannel's device name. */
export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

/** BackendData as flannel writes it: `{"VNI":1,"VtepMAC":"…"}`. */
export function vxlanBackendData(vni: number, vtepMac: string): JsonObject {
  return { VNI: vni, VtepMAC: vtepMac };
}

/** The VTEP MAC a peer published, or undefined when its BackendData has none (or a bad one). */
export function peerVtepMac(lease: Lease): string | undefined {
  const data = lease.attrs.backendData;
  if (!data || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const mac = data.VtepMAC;
  return typeof mac === 'string' && MAC.test(mac.toLowerCase()) ? mac.toLowerCase() : undefined;
}

/**
 * VXLAN: one device `flannel.<VNI>` (learning off, so the kernel never guesses), addressed with
 * the node subnet's network address /32; per remote node a permanent neighbour (subnet address →
 * remote VTEP MAC), an FDB entry (VTEP MAC → remote PublicIP) and an on-link route. With
 * DirectRouting, peers on the same L2 get a plain route via their PublicIP instead.
 */
export class VxlanBackend implements Backend {
  public readonly type = 'vxlan';
  public readonly mtu: number;
  public readonly device: string;
  public readonly backendData: JsonObject;

  constructor(private readonly external: ExternalInterface, public readonly options: VxlanOptions, public readonly vtepMac: string) {
    if (!MAC.test(vtepMac)) throw new ValidationError('vxlan VtepMAC', vtepMac, 'a lower-case MAC such as 0a:58:0a:f4:01:01');
    this.mtu = options.mtu ?? external.mtu - VXLAN_OVERHEAD;
    this.device = vxlanDeviceName(options.vni);
    this.backendData = vxlanBackendData(options.vni, vtepMac);
  }

  public desired(own: Lease, leases: readonly Lease[]): DesiredDataplane {
    const dev = this.device;
    const routes: Route[] = [];
    const neighbours: Neighbour[] = [];
    const fdb: FdbEntry[] = [];
    const refusals: Refusal[] = [];
    for (const peer of remoteLeases(own, leases, this.type)) {
      const publicIp = peer.attrs.publicIp!;
      const subnet = peer.subnet!;
      if (this.options.directRouting && isOnLink(publicIp, this.external.prefixes)) {
        routes.push({ dst: subnet.toString(), via: publicIp, dev: this.external.name, protocol: FLANNEL_ROUTE_PROTOCOL });
        continue;
      }
      const mac = peerVtepMac(peer);
      if (!mac) {
        refusals.push({ lease: peer.key, reason: `vxlan: peer ${publicIp} (subnet ${subnet}) published no valid VtepMAC in its BackendData` });
        continue;
      }
      const gateway = subnet.address(0n);
      neighbours.push({ dev, address: gateway, mac });
      fdb.push({ dev, mac, dst: publicIp });
      routes.push({ dst: subnet.toString(), via: gateway, dev, onlink: true, protocol: FLANNEL_ROUTE_PROTOCOL });
    }
    const o = this.options;
    return {
      links: [{
        kind: 'vxlan', name: dev, vni: o.vni, port: o.port, local: this.external.localAddress ?? this.external.address, device: this.external.name,
        learning: o.learning, gbp: o.gbp, mtu: this.mtu, mac: this.vtepMac, up: true,
      }],
      addresses: own.subnet ? [{ dev, cidr: `${own.subnet.address(0n)}/32` }] : [],
      routes,
      neighbours,
      fdb,
      refusals,
    };
  }
}

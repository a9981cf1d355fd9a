import { ValidationError } from '../errors';

/** The encapsulation a node's pod traffic uses, which decides the MTU overhead. */
export enum Encapsulation {
  NONE = 'None',
  IPIP = 'IPIP',
  VXLAN = 'VXLAN',
  VXLAN_V6 = 'VXLANv6',
}

/** Bytes of header each encapsulation adds (Felix's auto-MTU table). */
export const ENCAPSULATION_OVERHEAD: Readonly<Record<Encapsulation, number>> = {
  [Encapsulation.NONE]: 0,
  [Encapsulation.IPIP]: 20,
  [Encapsulation.VXLAN]: 50,
  [Encapsulation.VXLAN_V6]: 70,
};

/**
 * The pod interface MTU: detected on each node from its uplink (auto), or derived from a known
 * link MTU with the encapsulation overhead subtracted.
 */
export class Mtu {
  /** Each node detects its uplink MTU and subtracts the encapsulation overhead (`veth_mtu: "0"`). */
  public static auto(): Mtu {
    return new Mtu(undefined);
  }

  /** The nodes' uplink MTU (e.g. 1500, 9001); the pod MTU is this minus the encapsulation overhead. */
  public static fromLinkMtu(linkMtu: number): Mtu {
    if (!Number.isInteger(linkMtu) || linkMtu < 1280 || linkMtu > 65535) {
      throw new ValidationError('calico.mtu', linkMtu, 'a link MTU from 1280 to 65535 bytes');
    }
    return new Mtu(linkMtu);
  }

  private constructor(public readonly linkMtu: number | undefined) {}

  public get isAuto(): boolean {
    return this.linkMtu === undefined;
  }

  /** The pod (veth) MTU for this encapsulation; 0 means "detect on the node". */
  public podMtu(encapsulation: Encapsulation): number {
    return this.linkMtu === undefined ? 0 : this.linkMtu - ENCAPSULATION_OVERHEAD[encapsulation];
  }
}

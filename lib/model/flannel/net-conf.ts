import { FlannelBackendType, ResolvedFlannelBackend } from './backend';
import { FLANNEL_AGENT } from './agent';
import { ResolvedFlannelNetwork } from './network';

/** flannel's net-conf.json (`pkg/subnet/config.go`), with every default written out. */
export interface FlannelNetConf {
  readonly Network?: string;
  readonly IPv6Network?: string;
  readonly EnableIPv4: boolean;
  readonly EnableIPv6: boolean;
  readonly EnableNFTables: boolean;
  readonly SubnetLen?: number;
  readonly SubnetMin?: string;
  readonly SubnetMax?: string;
  readonly IPv6SubnetLen?: number;
  readonly IPv6SubnetMin?: string;
  readonly IPv6SubnetMax?: string;
  readonly Backend: Readonly<Record<string, string | number | boolean>>;
}

/**
 * The net-conf.json the agent reads, from a resolved network. Every value is explicit, so the
 * agent's own defaults (and flannel's udp-when-omitted quirk) never come into play.
 */
export function flannelNetConf(network: ResolvedFlannelNetwork): FlannelNetConf {
  const { ipv4, ipv6 } = network;
  return {
    ...(ipv4 ? { Network: ipv4.network } : {}),
    ...(ipv6 ? { IPv6Network: ipv6.network } : {}),
    EnableIPv4: ipv4 !== undefined,
    EnableIPv6: ipv6 !== undefined,
    EnableNFTables: network.nftables,
    ...(ipv4 ? { SubnetLen: ipv4.subnetLength, SubnetMin: ipv4.subnetMin, SubnetMax: ipv4.subnetMax } : {}),
    ...(ipv6 ? { IPv6SubnetLen: ipv6.subnetLength, IPv6SubnetMin: ipv6.subnetMin, IPv6SubnetMax: ipv6.subnetMax } : {}),
    Backend: backendConf(network.backend),
  };
}

function backendConf(backend: ResolvedFlannelBackend): Record<string, string | number | boolean> {
  switch (backend.type) {
    case FlannelBackendType.VXLAN:
      return {
        Type: 'vxlan', VNI: backend.vni, Port: backend.port, DirectRouting: backend.directRouting, GBP: backend.gbp,
        ...(backend.uplinkMtu !== undefined ? { MTU: backend.uplinkMtu } : {}),
      };
    case FlannelBackendType.HOST_GW:
      return { Type: 'host-gw' };
    case FlannelBackendType.WIREGUARD:
      return {
        Type: 'wireguard', ListenPort: backend.listenPort, ListenPortV6: backend.listenPortV6,
        PersistentKeepaliveInterval: backend.persistentKeepaliveSeconds, Mode: backend.mode,
        // A secret never goes into a ConfigMap: the agent reads the key from the mounted Secret.
        ...(backend.pskSecretName !== undefined ? { PSKFile: `${FLANNEL_AGENT.wireGuardPskDir}/psk` } : {}),
      };
  }
}

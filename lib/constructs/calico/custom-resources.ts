import { Construct } from 'constructs';
import { clusterScoped } from '../common/cluster-scoped';
import * as calico from '../../imports/crd.projectcalico.org';
import { ResolvedBgpPeer } from '../../model/calico/bgp';
import { ResolvedCalicoNetwork } from '../../model/calico/network';
import { ResolvedIpPool } from '../../model/calico/pool';

/** Maps one of the model's string enums onto the generated enum with the same values. */
export function toGeneratedEnum<E extends string>(target: Record<string, E>, value: string): E {
  const found = Object.values(target).find((v) => v === value);
  if (found === undefined) throw new Error(`value ${value} has no counterpart in the generated enum (${Object.values(target).join(', ')})`);
  return found;
}

function seconds(s: number): string {
  return `${s}s`;
}

/** A Calico IPPool rendered from a resolved pool. */
export class CalicoIpPool extends Construct {
  public readonly resource: calico.IpPool;

  constructor(scope: Construct, id: string, pool: ResolvedIpPool) {
    super(scope, id);
    this.resource = clusterScoped(new calico.IpPool(this, 'Resource', {
      metadata: { name: pool.name },
      spec: {
        cidr: pool.cidr.toString(),
        blockSize: pool.blockSize,
        ipipMode: toGeneratedEnum(calico.IpPoolSpecIpipMode, pool.ipipMode),
        vxlanMode: toGeneratedEnum(calico.IpPoolSpecVxlanMode, pool.vxlanMode),
        natOutgoing: pool.natOutgoing,
        nodeSelector: pool.nodeSelector.toString(),
        disabled: pool.disabled,
        disableBgpExport: pool.disableBgpExport,
        allowedUses: pool.allowedUses.map((u) => toGeneratedEnum(calico.IpPoolSpecAllowedUses, u)),
      },
    }));
  }
}

/** A Calico BGPPeer rendered from a resolved peer; passwords are Secret references, never values. */
export class CalicoBgpPeer extends Construct {
  public readonly resource: calico.BgpPeer;

  constructor(scope: Construct, id: string, peer: ResolvedBgpPeer) {
    super(scope, id);
    this.resource = clusterScoped(new calico.BgpPeer(this, 'Resource', {
      metadata: { name: peer.name },
      spec: {
        peerIp: peer.peerIp,
        peerSelector: peer.peerSelector?.toString(),
        asNumber: peer.asNumber,
        node: peer.node,
        nodeSelector: peer.nodeSelector?.toString(),
        password: peer.password ? { secretKeyRef: { name: peer.password.secretName, key: peer.password.key } } : undefined,
        nextHopMode: toGeneratedEnum(calico.BgpPeerSpecNextHopMode, peer.nextHopMode),
        maxRestartTime: peer.maxRestartTimeSeconds === undefined ? undefined : seconds(peer.maxRestartTimeSeconds),
        filters: peer.filters.length > 0 ? [...peer.filters] : undefined,
      },
    }));
  }
}

/**
 * The cluster-wide settings objects named `default`: IPAMConfig, BGPConfiguration (when BGP
 * runs), FelixConfiguration and KubeControllersConfiguration, plus every pool and peer.
 * Declaring them (rather than letting the agent create defaults on first start, as upstream
 * does) keeps the cluster's networking fully described by the manifests.
 */
export class CalicoClusterResources extends Construct {
  public readonly pools: CalicoIpPool[];
  public readonly peers: CalicoBgpPeer[];

  constructor(scope: Construct, id: string, network: ResolvedCalicoNetwork) {
    super(scope, id);
    this.pools = network.pools.map((p) => new CalicoIpPool(this, `Pool-${p.name}`, p));

    clusterScoped(new calico.IpamConfig(this, 'IpamConfig', {
      metadata: { name: 'default' },
      spec: {
        strictAffinity: network.ipam.strictAffinity,
        autoAllocateBlocks: true,
        maxBlocksPerHost: network.ipam.maxBlocksPerHost,
      },
    }));

    const bgp = network.bgp;
    if (bgp.enabled) {
      const cidrs = (list: readonly { toString(): string }[]) => (list.length > 0 ? list.map((c) => ({ cidr: c.toString() })) : undefined);
      clusterScoped(new calico.BgpConfiguration(this, 'BgpConfiguration', {
        metadata: { name: 'default' },
        spec: {
          asNumber: bgp.asNumber,
          nodeToNodeMeshEnabled: bgp.nodeMesh,
          listenPort: bgp.listenPort,
          logSeverityScreen: toGeneratedEnum(calico.BgpConfigurationSpecLogSeverityScreen, bgp.logSeverity),
          serviceClusterIPs: cidrs(bgp.serviceClusterIps),
          serviceExternalIPs: cidrs(bgp.serviceExternalIps),
          serviceLoadBalancerIPs: cidrs(bgp.serviceLoadBalancerIps),
        },
      }));
    }
    this.peers = bgp.peers.map((p) => new CalicoBgpPeer(this, `Peer-${p.name}`, p));

    // Only fields a process of the kit obeys (lib/dataplane/calico/felix-config.ts reads them;
    // test/model/calico/felix-contract.test.ts proves it). Health lives in the DaemonSet's FELIX_HEALTH*
    // env: the probes are tied to it and the agent serves health before it reads the datastore.
    const f = network.felix;
    clusterScoped(new calico.FelixConfiguration(this, 'FelixConfiguration', {
      metadata: { name: 'default' },
      spec: {
        // Node agent and policy agent log level.
        logSeverityScreen: toGeneratedEnum(calico.FelixConfigurationSpecLogSeverityScreen, f.logSeverity),
        // Policy agent: pod → own node after the pod's egress policy.
        defaultEndpointToHostAction: toGeneratedEnum(calico.FelixConfigurationSpecDefaultEndpointToHostAction, f.defaultEndpointToHostAction),
        // Node agent: its metrics endpoint.
        prometheusMetricsEnabled: f.prometheusMetricsEnabled,
        prometheusMetricsPort: f.prometheusMetricsPort,
        // Node agent: vxlan.calico and vxlan-v6.calico, one VNI and port for both (the MTUs only when
        // the model knows the link MTU; else uplink − 50 / − 70 on the node).
        vxlanPort: f.vxlanPort,
        vxlanVni: f.vxlanVni,
        ...(f.vxlanMtu > 0 ? { vxlanMtu: f.vxlanMtu } : {}),
        ...(f.vxlanMtuV6 > 0 ? { vxlanMtuv6: f.vxlanMtuV6 } : {}),
        // Node agent's route resync; policy agent's resync (its nft backend).
        routeRefreshInterval: seconds(f.routeRefreshIntervalSeconds),
        nftablesRefreshInterval: seconds(f.policyRefreshIntervalSeconds),
      },
    }));

    clusterScoped(new calico.KubeControllersConfiguration(this, 'KubeControllersConfiguration', {
      metadata: { name: 'default' },
      spec: {
        healthChecks: calico.KubeControllersConfigurationSpecHealthChecks.ENABLED,
        // Obeyed by the kit's controllers (kube-controllers-config.ts): leak collection after 15m (Calico's
        // default); a node controller pass every minute — it has no watches, so this is how soon a deleted
        // node's blocks are freed (Calico's node controller reacts to the deletion instead, and ignores
        // this field).
        controllers: { node: { leakGracePeriod: '15m', reconcilerPeriod: '1m' } },
      },
    }));
  }
}

import { ConfigMap } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { calicoCniConfList } from '../../model/calico/agent';
import { ResolvedCalicoNetwork } from '../../model/calico/network';
import { CALICO_NAMES } from './names';

export interface CalicoConfigProps {
  readonly namespace: string;
  readonly network: ResolvedCalicoNetwork;
  /** Name of the Typha Service, or undefined when Typha is off. */
  readonly typhaServiceName?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The `calico-config` ConfigMap: what the agent and the installer read, keys as upstream's. */
export class CalicoConfig extends Construct {
  public readonly configMap: ConfigMap;

  constructor(scope: Construct, id: string, props: CalicoConfigProps) {
    super(scope, id);
    const n = props.network;
    this.configMap = new ConfigMap(this, 'Resource', {
      metadata: { name: CALICO_NAMES.config, namespace: props.namespace, labels: props.labels ? { ...props.labels } : undefined },
      data: {
        // "none" tells the agent to watch the API server directly (upstream's value).
        typha_service_name: props.typhaServiceName ?? 'none',
        calico_backend: n.networkingBackend,
        veth_mtu: String(n.podMtu),
        ip_autodetection_method: n.ipAutodetection,
        ip6_autodetection_method: n.ipv6Autodetection,
        route_reflector_selector: n.bgp.routeReflector?.selector.toString() ?? '',
        route_reflector_cluster_id: n.bgp.routeReflector?.clusterId ?? '',
        cni_network_config: `${JSON.stringify(calicoCniConfList(n), null, 2)}\n`,
      },
    });
  }
}

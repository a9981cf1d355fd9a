import { Construct } from 'constructs';
import { PolicyAction, PolicyPort, PolicyType, Protocol } from '../../model/calico/policy';
import { Selector } from '../../model/calico/selector';
import { CalicoGlobalNetworkPolicy } from './calico-global-network-policy';

export interface DefaultDenyBaselineProps {
  /** @default "default-deny" */
  readonly name?: string;
  /**
   * Namespaces left alone (system components keep working while application policies are written).
   * @default ["kube-system"]
   */
  readonly excludedNamespaces?: readonly string[];
  /** Labels of the cluster DNS pods. @default k8s-app == 'kube-dns' */
  readonly dnsSelector?: Selector;
  /** Namespace of the cluster DNS pods. @default "kube-system" */
  readonly dnsNamespace?: string;
}

/**
 * Cluster-wide default deny for pods, in both directions, that still lets every pod resolve names
 * (UDP and TCP 53 to the cluster DNS). Unordered, so it runs after every ordered policy: any policy
 * that allows traffic wins, everything else ends at the tier's implicit deny. Host endpoints are
 * untouched (a namespace selector only matches pods).
 */
export class DefaultDenyBaseline extends Construct {
  public readonly policy: CalicoGlobalNetworkPolicy;

  constructor(scope: Construct, id: string, props: DefaultDenyBaselineProps = {}) {
    super(scope, id);
    const nsLabel = 'kubernetes.io/metadata.name';
    const excluded = props.excludedNamespaces ?? ['kube-system'];
    const dns = {
      selector: props.dnsSelector ?? Selector.label('k8s-app').eq('kube-dns'),
      namespaceSelector: Selector.label(nsLabel).eq(props.dnsNamespace ?? 'kube-system'),
      ports: [PolicyPort.number(53)],
    };
    this.policy = new CalicoGlobalNetworkPolicy(this, 'Resource', {
      name: props.name ?? 'default-deny',
      namespaceSelector: excluded.length > 0 ? Selector.label(nsLabel).notIn(excluded) : Selector.has(nsLabel),
      types: [PolicyType.INGRESS, PolicyType.EGRESS],
      egress: [
        { action: PolicyAction.ALLOW, protocol: Protocol.UDP, destination: dns },
        { action: PolicyAction.ALLOW, protocol: Protocol.TCP, destination: dns },
      ],
    });
  }
}

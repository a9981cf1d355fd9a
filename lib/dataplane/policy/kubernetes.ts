import { Cidr } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import { PolicyAction, PolicyType, ResolvedEntityRule, ResolvedRule } from '../../model/calico/policy';
import { Selector } from '../../model/calico/selector';
import { Policy } from './types';

/** `networking.k8s.io/v1` LabelSelector. */
export interface K8sLabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

export interface K8sNetworkPolicyPeer {
  readonly podSelector?: K8sLabelSelector;
  readonly namespaceSelector?: K8sLabelSelector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}

export interface K8sNetworkPolicyPort {
  /** @default 'TCP' */
  readonly protocol?: string;
  /** A number or a named container port. @default - every port of the protocol */
  readonly port?: number | string;
  readonly endPort?: number;
}

/** `networking.k8s.io/v1` NetworkPolicy (the parts that matter for enforcement). */
export interface K8sNetworkPolicy {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: {
    readonly podSelector: K8sLabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: readonly { readonly from?: readonly K8sNetworkPolicyPeer[]; readonly ports?: readonly K8sNetworkPolicyPort[] }[];
    readonly egress?: readonly { readonly to?: readonly K8sNetworkPolicyPeer[]; readonly ports?: readonly K8sNetworkPolicyPort[] }[];
  };
}

/** Calico converts a Kubernetes NetworkPolicy into a policy of order 1000 in the default tier. */
export const KUBERNETES_POLICY_ORDER = 1000;

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

/** A Kubernetes LabelSelector in Calico's selector language (matchLabels and matchExpressions ANDed). */
export function labelSelectorToCalico(sel: K8sLabelSelector | undefined, field: string): Selector {
  if (sel === undefined || sel === null) return Selector.all();
  const parts: Selector[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(Selector.label(k).eq(String(v)));
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new ValidationError(`${f}.values`, values, `at least one value for operator ${e.operator}`);
        parts.push(e.operator === 'In' ? Selector.label(e.key).in(values) : Selector.label(e.key).notIn(values));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new ValidationError(`${f}.values`, values, `no values for operator ${e.operator}`);
        parts.push(e.operator === 'Exists' ? Selector.has(e.key) : Selector.not(Selector.has(e.key)));
        break;
      default:
        throw new ValidationError(`${f}.operator`, e.operator, 'one of In, NotIn, Exists, DoesNotExist');
    }
  });
  return parts.length === 0 ? Selector.all() : Selector.and(...parts);
}

function peerEntity(peer: K8sNetworkPolicyPeer, field: string): ResolvedEntityRule {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) throw new ValidationError(field, peer, 'ipBlock alone, or podSelector and/or namespaceSelector');
    // Read as the API server (Go's net.ParseCIDR) reads them: host bits are cleared, not refused.
    const cidr = Cidr.parseMasked(peer.ipBlock.cidr, `${field}.ipBlock.cidr`);
    const except = (peer.ipBlock.except ?? []).map((e, i) => {
      const ex = Cidr.parseMasked(e, `${field}.ipBlock.except[${i}]`);
      if (!cidr.contains(ex) || ex.equals(cidr)) throw new ValidationError(`${field}.ipBlock.except[${i}]`, e, `a CIDR strictly inside ${cidr.toString()}`);
      return ex.toString();
    });
    return except.length ? { nets: [cidr.toString()], notNets: except } : { nets: [cidr.toString()] };
  }
  if (!peer.podSelector && !peer.namespaceSelector) throw new ValidationError(field, peer, 'a peer with podSelector, namespaceSelector or ipBlock');
  const entity: { selector?: string; namespaceSelector?: string } = {};
  if (peer.podSelector) entity.selector = labelSelectorToCalico(peer.podSelector, `${field}.podSelector`).toString();
  if (peer.namespaceSelector) entity.namespaceSelector = labelSelectorToCalico(peer.namespaceSelector, `${field}.namespaceSelector`).toString();
  // A namespaceSelector alone means every pod of those namespaces (not the network sets Calico also keeps there).
  if (entity.selector === undefined) entity.selector = 'all()';
  return entity;
}

/** Ports grouped by protocol: one Calico rule per protocol; undefined ports = every port of it. */
function portGroups(ports: readonly K8sNetworkPolicyPort[] | undefined, field: string): { protocol?: string; ports?: (string | number)[] }[] {
  if (!ports || ports.length === 0) return [{}];
  const groups = new Map<string, (string | number)[] | undefined>();
  ports.forEach((p, i) => {
    const protocol = p.protocol ?? 'TCP';
    if (!PROTOCOLS.includes(protocol)) throw new ValidationError(`${field}[${i}].protocol`, protocol, 'TCP, UDP or SCTP');
    let spec: string | number | undefined;
    if (p.port === undefined) {
      if (p.endPort !== undefined) throw new ValidationError(`${field}[${i}].endPort`, p.endPort, 'unset unless port is set');
    } else if (typeof p.port === 'number') {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new ValidationError(`${field}[${i}].port`, p.port, 'a port number from 1 to 65535 or a port name');
      if (p.endPort !== undefined) {
        if (!Number.isInteger(p.endPort) || p.endPort < p.port || p.endPort > 65535) {
          throw new ValidationError(`${field}[${i}].endPort`, p.endPort, `a port number from ${p.port} to 65535`);
        }
        spec = p.endPort === p.port ? p.port : `${p.port}:${p.endPort}`;
      } else spec = p.port;
    } else {
      if (p.endPort !== undefined) throw new ValidationError(`${field}[${i}].endPort`, p.endPort, 'unset when port is a name');
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.port) || p.port.length > 15 || !/[a-z]/.test(p.port)) {
        throw new ValidationError(`${field}[${i}].port`, p.port, 'a port number or an IANA port name (at most 15 lower-case letters, digits and "-")');
      }
      spec = p.port;
    }
    const existing = groups.has(protocol) ? groups.get(protocol) : [];
    // Once a protocol has an "every port" entry, narrower entries add nothing.
    groups.set(protocol, spec === undefined || existing === undefined ? undefined : [...existing, spec]);
  });
  return [...groups].map(([protocol, list]) => (list ? { protocol, ports: list } : { protocol }));
}

function rules(
  list: readonly { readonly peers?: readonly K8sNetworkPolicyPeer[]; readonly ports?: readonly K8sNetworkPolicyPort[] }[],
  field: string, peerField: 'from' | 'to',
): ResolvedRule[] {
  const out: ResolvedRule[] = [];
  list.forEach((r, i) => {
    const peers = r.peers && r.peers.length > 0 ? r.peers.map((p, j) => peerEntity(p, `${field}[${i}].${peerField}[${j}]`)) : [undefined];
    for (const group of portGroups(r.ports, `${field}[${i}].ports`)) {
      for (const peer of peers) {
        const dest: ResolvedEntityRule | undefined = group.ports ? { ports: group.ports } : undefined;
        const src = peerField === 'from' ? peer : undefined;
        const dst = peerField === 'to' ? { ...(peer ?? {}), ...(dest ?? {}) } : dest;
        out.push({
          action: PolicyAction.ALLOW,
          ...(group.protocol ? { protocol: group.protocol } : {}),
          ...(src ? { source: src } : {}),
          ...(dst && Object.keys(dst).length ? { destination: dst } : {}),
        });
      }
    }
  });
  return out;
}

/**
 * Converts a Kubernetes NetworkPolicy as Calico does: one Allow rule per (peer, protocol),
 * ipBlock.except as notNets, numbered/named ports and endPort ranges on the destination;
 * policyTypes omitted → Ingress, plus Egress when egress rules are present.
 */
export function fromKubernetesNetworkPolicy(np: K8sNetworkPolicy, defaultNamespace = 'default'): Policy {
  const field = `NetworkPolicy ${np.metadata?.namespace ?? defaultNamespace}/${np.metadata?.name}`;
  if (!np.metadata || typeof np.metadata.name !== 'string' || np.metadata.name === '') throw new ValidationError(`${field}.metadata.name`, np.metadata?.name, 'a name');
  if (!np.spec || typeof np.spec !== 'object') throw new ValidationError(`${field}.spec`, np.spec, 'a NetworkPolicy spec');
  const types = np.spec.policyTypes ?? ['Ingress', ...(np.spec.egress && np.spec.egress.length > 0 ? ['Egress'] : [])];
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') throw new ValidationError(`${field}.spec.policyTypes[${i}]`, t, 'Ingress or Egress');
  });
  return {
    kind: 'KubernetesNetworkPolicy',
    name: np.metadata.name,
    namespace: np.metadata.namespace ?? defaultNamespace,
    order: KUBERNETES_POLICY_ORDER,
    selector: labelSelectorToCalico(np.spec.podSelector, `${field}.spec.podSelector`).toString(),
    types: types.map((t) => (t === 'Ingress' ? PolicyType.INGRESS : PolicyType.EGRESS)),
    // Rules of a direction the policy does not declare are ignored, as the API server's consumers do.
    ingress: types.includes('Ingress') ? rules((np.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })), `${field}.spec.ingress`, 'from') : [],
    egress: types.includes('Egress') ? rules((np.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })), `${field}.spec.egress`, 'to') : [],
  };
}

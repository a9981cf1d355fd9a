import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../../model/errors';
import {
  EntityRuleSpec, GlobalNetworkPolicySpec, PolicyAction, PolicyPort, PolicyRuleSpec, PolicyType, Protocol,
  resolveGlobalNetworkPolicy, resolveNetworkPolicy, resolveNetworkSet, resolveTier, TierDefaultAction,
} from '../../model/calico/policy';
import { fromKubernetesNetworkPolicy, K8sNetworkPolicy } from './kubernetes';
import { Policy, PolicyNetworkSet, PolicyTier } from './types';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a bundle of manifests contributes to policy: the policies, the network sets and the tiers. */
export interface PolicyObjects {
  readonly policies: Policy[];
  readonly networkSets: PolicyNetworkSet[];
  readonly tiers: PolicyTier[];
}

const PROTOCOLS: Record<string, Protocol> = {
  TCP: Protocol.TCP, UDP: Protocol.UDP, ICMP: Protocol.ICMP, ICMPv6: Protocol.ICMPV6, SCTP: Protocol.SCTP, UDPLite: Protocol.UDPLITE,
};

function protocol(field: string, v: unknown): Protocol | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return Protocol.number(v);
  if (typeof v === 'string' && PROTOCOLS[v]) return PROTOCOLS[v];
  if (typeof v === 'string' && /^\d+$/.test(v)) return Protocol.number(Number(v));
  throw new ValidationError(field, v, `one of ${Object.keys(PROTOCOLS).join(', ')} or a protocol number`);
}

function port(field: string, v: unknown): PolicyPort {
  try {
    if (typeof v === 'number') return PolicyPort.number(v);
    if (typeof v === 'string') {
      const range = /^(\d+):(\d+)$/.exec(v);
      if (range) return PolicyPort.range(Number(range[1]), Number(range[2]));
      if (/^\d+$/.test(v)) return PolicyPort.number(Number(v));
      return PolicyPort.named(v);
    }
  } catch (error) {
    // The model names only "port": say which rule's port it is.
    if (error instanceof ValidationError) throw new ValidationError(field, v, error.expected);
    throw error;
  }
  throw new ValidationError(field, v, 'a port number, "first:last" or a port name');
}

function entity(field: string, v: unknown): EntityRuleSpec | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw new ValidationError(field, v, 'a rule source or destination object');
  const { ports, notPorts, serviceAccounts, ...rest } = v;
  const sa = serviceAccounts === undefined ? {} : isObj(serviceAccounts)
    ? { ...(serviceAccounts.names !== undefined ? { serviceAccountNames: serviceAccounts.names as string[] } : {}),
      ...(serviceAccounts.selector !== undefined ? { serviceAccountSelector: serviceAccounts.selector as string } : {}) }
    : (() => { throw new ValidationError(`${field}.serviceAccounts`, serviceAccounts, 'an object with names and/or selector'); })();
  const list = (name: string, l: unknown) => {
    if (l === undefined) return undefined;
    if (!Array.isArray(l)) throw new ValidationError(`${field}.${name}`, l, 'a list of ports');
    return l.map((p, i) => port(`${field}.${name}[${i}]`, p));
  };
  return { ...(rest as EntityRuleSpec), ...sa, ...(ports !== undefined ? { ports: list('ports', ports) } : {}), ...(notPorts !== undefined ? { notPorts: list('notPorts', notPorts) } : {}) };
}

function rule(field: string, v: unknown): PolicyRuleSpec {
  if (!isObj(v)) throw new ValidationError(field, v, 'a rule object');
  const { action, protocol: p, notProtocol, icmp, notICMP, source, destination, ...rest } = v;
  const icmpOf = (name: string, m: unknown) => {
    if (m === undefined) return {};
    if (!isObj(m)) throw new ValidationError(`${field}.${name}`, m, 'an object with type and optional code');
    return name === 'icmp' ? { icmpType: m.type as number, icmpCode: m.code as number | undefined } : { notIcmpType: m.type as number, notIcmpCode: m.code as number | undefined };
  };
  const strip = (o: Obj) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
  return strip({
    ...rest,
    action: action as PolicyAction,
    protocol: protocol(`${field}.protocol`, p),
    notProtocol: protocol(`${field}.notProtocol`, notProtocol),
    ...icmpOf('icmp', icmp),
    ...icmpOf('notICMP', notICMP),
    source: entity(`${field}.source`, source),
    destination: entity(`${field}.destination`, destination),
  }) as unknown as PolicyRuleSpec;
}

function calicoPolicy(kind: 'NetworkPolicy' | 'GlobalNetworkPolicy', doc: Obj, field: string): Policy {
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const spec = isObj(doc.spec) ? doc.spec : {};
  const { ingress, egress, types, ...rest } = spec;
  const rulesOf = (name: string, l: unknown) => {
    if (l === undefined) return undefined;
    if (!Array.isArray(l)) throw new ValidationError(`${field}.spec.${name}`, l, 'a list of rules');
    return l.map((r, i) => rule(`${field}.spec.${name}[${i}]`, r));
  };
  const specIn: GlobalNetworkPolicySpec = {
    ...(rest as Obj),
    name: String(meta.name),
    ...(types !== undefined ? { types: types as PolicyType[] } : {}),
    ...(ingress !== undefined ? { ingress: rulesOf('ingress', ingress) } : {}),
    ...(egress !== undefined ? { egress: rulesOf('egress', egress) } : {}),
  } as GlobalNetworkPolicySpec;
  if (kind === 'NetworkPolicy') {
    const r = resolveNetworkPolicy({ ...specIn, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default' }, field);
    return { kind, ...r };
  }
  const { doNotTrack: _d, preDNAT: _p, applyOnForward: _a, ...g } = resolveGlobalNetworkPolicy(specIn, field);
  return { kind, ...g };
}

/**
 * One Kubernetes or Calico object (parsed YAML/JSON) into `out`: a policy, a network set, a tier,
 * or nothing for other kinds. `apiVersion` and `kind` say what it is.
 */
export function addPolicyObject(out: PolicyObjects, doc: unknown, source: string): void {
  if (!isObj(doc)) return;
  const api = String(doc.apiVersion ?? '');
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const field = `${source}: ${String(doc.kind)} ${meta.namespace ? `${String(meta.namespace)}/` : ''}${String(meta.name)}`;
  const calico = api === 'projectcalico.org/v3' || api === 'crd.projectcalico.org/v1';
  if (api === 'networking.k8s.io/v1' && doc.kind === 'NetworkPolicy') {
    out.policies.push(fromKubernetesNetworkPolicy(doc as unknown as K8sNetworkPolicy));
  } else if (calico && (doc.kind === 'NetworkPolicy' || doc.kind === 'GlobalNetworkPolicy')) {
    out.policies.push(calicoPolicy(doc.kind, doc, field));
  } else if (calico && doc.kind === 'Tier') {
    const spec = isObj(doc.spec) ? doc.spec : {};
    out.tiers.push(resolveTier({
      name: meta.name as string, ...(spec.order !== undefined && spec.order !== null ? { order: spec.order as number } : {}),
      ...(spec.defaultAction !== undefined ? { defaultAction: spec.defaultAction as TierDefaultAction } : {}),
    }, field));
  } else if (calico && (doc.kind === 'NetworkSet' || doc.kind === 'GlobalNetworkSet')) {
    const spec = isObj(doc.spec) ? doc.spec : {};
    const set = resolveNetworkSet({ name: String(meta.name), labels: (meta.labels ?? {}) as Record<string, string>, nets: (spec.nets ?? []) as string[] }, field);
    out.networkSets.push(doc.kind === 'NetworkSet' ? { ...set, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default' } : set);
  }
}

/**
 * Reads policies and network sets out of manifests (YAML text, many documents): Kubernetes
 * `networking.k8s.io/v1` NetworkPolicy and Calico NetworkPolicy, GlobalNetworkPolicy, NetworkSet,
 * GlobalNetworkSet, Tier (`projectcalico.org/v3` or `crd.projectcalico.org/v1`). Other kinds are skipped.
 */
export function loadPolicyObjects(yamlText: string, source = 'manifest'): PolicyObjects {
  const out: PolicyObjects = { policies: [], networkSets: [], tiers: [] };
  parseAllDocuments(yamlText).forEach((d, i) => {
    if (d.errors.length) throw new ValidationError(`${source}[${i}]`, d.errors[0].message, 'valid YAML');
    addPolicyObject(out, d.toJS(), source);
  });
  return out;
}

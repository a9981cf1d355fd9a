import { createHash } from 'crypto';
import { Cidr } from '../../model/cidr';
import { WORKLOAD_VETH_PREFIX } from '../calico/workload-endpoint';
import { PolicyAction, ResolvedEntityRule, ResolvedRule } from '../../model/calico/policy';
import { Members, PolicyIndex, policyId } from './selection';
import { Action, ALLOW_MARK, CompiledChain, CompiledMap, CompiledRule, CompiledRuleSet, CompiledSet, DispatchKey, Match, PASS_MARK, Side } from './ruleset';
import { DEFAULT_TIER, Direction, Policy, PolicyEndpoint, PolicyWorld, protocolNumber } from './types';

/**
 * Where the engine sees pod traffic. `interface`: per host-side veth (`cali*`, the Calico-style
 * stack: every pod packet is routed through the node). `address`: per pod address, for the
 * Flannel-style bridge, where same-node pod traffic is bridged and reaches the forward hook only
 * through br_netfilter (`net.bridge.bridge-nf-call-iptables=1`).
 */
export type HookMode = 'interface' | 'address';

export interface PortProtocol {
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
}

export interface CompileOptions {
  readonly mode: HookMode;
  /** Endpoints enforced on this node, as `namespace/name`. @default - every endpoint of the world */
  readonly localEndpoints?: readonly string[];
  /** @default 'cnikit-policy' */
  readonly table?: string;
  /** Node ports pods can always reach, whatever their egress policy says. @default FAILSAFE_INBOUND */
  readonly failsafeInbound?: readonly PortProtocol[];
  /**
   * Felix's `defaultEndpointToHostAction`: what happens to traffic from a pod to its own node once
   * the pod's egress policy let it through (interface mode only). `Drop` drops it (established
   * traffic and the failsafe ports excepted, which the input chain accepts first). `Accept` and
   * `Return` both let it go on: this table accepts it, and the node's own nftables/iptables rules
   * still see it — nftables has no way for one table to accept on behalf of another, so unlike
   * Felix's ACCEPT the host's rules are not skipped. @default 'Accept'
   */
  readonly endpointToHostAction?: 'Drop' | 'Accept' | 'Return';
}

/** Calico's failsafe inbound ports (ssh, dhcp, BGP, etcd, Typha, the API server, …). */
export const FAILSAFE_INBOUND: readonly PortProtocol[] = [
  { protocol: 'TCP', port: 22 }, { protocol: 'UDP', port: 68 }, { protocol: 'TCP', port: 179 }, { protocol: 'TCP', port: 2379 },
  { protocol: 'TCP', port: 2380 }, { protocol: 'TCP', port: 5473 }, { protocol: 'TCP', port: 6443 }, { protocol: 'TCP', port: 6666 },
  { protocol: 'TCP', port: 6667 },
];

/**
 * ICMPv6 a pod must send its node whatever its egress policy says (Felix's workload-to-host
 * allowance): MLD (130-132), router solicitation (133), neighbour solicitation and advertisement
 * (135, 136). Without them a pod under an egress policy cannot resolve its IPv6 gateway, or answer
 * the node's solicitation, and has no IPv6 at all.
 */
export const WORKLOAD_TO_HOST_ICMPV6: readonly number[] = [130, 131, 132, 133, 135, 136];

export const DEFAULT_TABLE = 'cnikit-policy';

function hash(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12);
}

export function endpointKey(ep: PolicyEndpoint): string {
  return `${ep.namespace}/${ep.name}`;
}

/** `tw.<ns>.<pod>` / `fw.<ns>.<pod>`: to-workload (ingress) and from-workload (egress); a namespace has no dots, so the name is unique. */
export function endpointChainName(ep: PolicyEndpoint, direction: Direction): string {
  return `${direction === 'ingress' ? 'tw' : 'fw'}.${ep.namespace}.${ep.name}`;
}

/** `tw-<tier>.<ns>.<pod>` / `fw-<tier>.<ns>.<pod>`: one endpoint's policies of one tier (tier names have no dots). */
export function tierChainName(ep: PolicyEndpoint, direction: Direction, tier: string): string {
  return `${direction === 'ingress' ? 'tw' : 'fw'}-${tier}.${ep.namespace}.${ep.name}`;
}

const tierEndComment = (tier: string) => (tier === DEFAULT_TIER ? 'end of tier' : `end of tier ${tier}`);

export function policyChainName(p: Policy, direction: Direction): string {
  const kind = p.kind === 'KubernetesNetworkPolicy' ? 'knp.' : p.kind === 'GlobalNetworkPolicy' ? 'gnp.' : 'np.';
  return `${direction === 'ingress' ? 'pi' : 'po'}-${kind}${p.namespace ? `${p.namespace}.` : ''}${p.name}`;
}

/**
 * Drops CIDRs contained in another, so an interval set never holds overlapping elements. CIDRs are
 * nested or disjoint, so after sorting by network (wider first) one sweep per family decides.
 */
export function normalizeCidrs(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].map((c) => Cidr.parse(c.includes('/') ? c : `${c}/${c.includes(':') ? 128 : 32}`, 'set element'));
  parsed.sort((a, b) => a.family - b.family || (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefix - b.prefix));
  const kept: Cidr[] = [];
  let family = 0;
  let coveredTo = -1n;
  for (const c of parsed) {
    if (c.family !== family) {
      family = c.family;
      coveredTo = -1n;
    }
    if (c.network <= coveredTo) continue;
    kept.push(c);
    coveredTo = c.last;
  }
  return kept.map((c) => (c.prefix === c.bits ? c.address() : c.toString())).sort();
}

/** Compiles the world into the rule set one node enforces. Pure. */
export function compilePolicy(world: PolicyWorld | PolicyIndex, options: CompileOptions): CompiledRuleSet {
  return new Compiler(world instanceof PolicyIndex ? world : new PolicyIndex(world), options).compile();
}

class Compiler {
  private readonly sets = new Map<string, CompiledSet>();
  private readonly chains = new Map<string, CompiledChain>();

  constructor(private readonly index: PolicyIndex, private readonly options: CompileOptions) {}

  public compile(): CompiledRuleSet {
    const local = this.options.localEndpoints ? new Set(this.options.localEndpoints) : undefined;
    const endpoints = this.index.world.endpoints.filter((ep) => !local || local.has(endpointKey(ep)));
    const maps: Record<'from' | 'to', Record<'if' | '4' | '6', Record<string, string>>> = {
      from: { if: {}, 4: {}, 6: {} }, to: { if: {}, 4: {}, 6: {} },
    };
    for (const ep of endpoints) {
      for (const direction of ['ingress', 'egress'] as const) {
        const tiers = this.index.tiersFor(ep, direction);
        if (tiers.length === 0) continue; // open: the namespace profile allows
        const chain = endpointChainName(ep, direction);
        const rules: CompiledRule[] = [{ matches: [], action: { kind: 'clearMark' } }];
        if (tiers.length === 1 && tiers[0].tier.defaultAction === 'Deny') {
          // One tier: its chain inline (a Pass in the last tier goes on to the profile: allowed).
          rules.push(...this.tierRules(tiers[0].policies, direction));
          rules.push({ matches: [], action: { kind: 'drop' }, comment: tierEndComment(tiers[0].tier.name) });
        } else {
          tiers.forEach(({ tier, policies }, i) => {
            const name = tierChainName(ep, direction, tier.name);
            const end: CompiledRule[] = tier.defaultAction === 'Deny' ? [{ matches: [], action: { kind: 'drop' }, comment: tierEndComment(tier.name) }] : [];
            this.chains.set(name, { name, rules: [...this.tierRules(policies, direction), ...end] });
            if (i > 0) rules.push({ matches: [], action: { kind: 'clearMark' } });
            rules.push({ matches: [], action: { kind: 'jump', chain: name } });
            rules.push({ matches: [{ kind: 'mark', bits: ALLOW_MARK }], action: { kind: 'return' } });
          });
        }
        this.chains.set(chain, { name: chain, rules });
        const side = direction === 'ingress' ? maps.to : maps.from;
        if (this.options.mode === 'interface') {
          if (!ep.interfaceName) throw new Error(`policy: endpoint ${endpointKey(ep)} has no interfaceName (needed in interface mode)`);
          side.if[ep.interfaceName] = chain;
        } else {
          for (const a of ep.addresses) side[a.includes(':') ? 6 : 4][a] = chain;
        }
      }
    }
    const mapList: CompiledMap[] = [];
    const dispatch: CompiledRule[] = [];
    for (const dir of ['from', 'to'] as const) {
      if (this.options.mode === 'interface') {
        mapList.push({ name: `${dir}-wl`, keyType: 'ifname', elements: maps[dir].if });
        dispatch.push({ matches: [], action: { kind: 'dispatch', key: dir === 'from' ? 'iifname' : 'oifname', map: `${dir}-wl` } });
      } else {
        for (const fam of [4, 6] as const) {
          mapList.push({ name: `${dir}-wl-${fam}`, keyType: fam === 4 ? 'ipv4_addr' : 'ipv6_addr', elements: maps[dir][fam] });
          const key = `${dir === 'from' ? 'saddr' : 'daddr'}${fam}` as DispatchKey;
          dispatch.push({ matches: [], action: { kind: 'dispatch', key, map: `${dir}-wl-${fam}` } });
        }
      }
    }
    const established: CompiledRule = { matches: [{ kind: 'ct', states: ['established', 'related'] }], action: { kind: 'accept' } };
    const failsafe = this.options.failsafeInbound ?? FAILSAFE_INBOUND;
    const base: CompiledChain[] = [
      {
        name: 'forward', hook: 'forward', rules: [
          established,
          { matches: [{ kind: 'ct', states: ['invalid'] }], action: { kind: 'drop' } },
          ...dispatch,
        ],
      },
      {
        name: 'input', hook: 'input', rules: [
          established,
          ...(failsafe.length ? [{ matches: [{ kind: 'protocolPort', pairs: failsafe.map((f) => ({ protocol: protocolNumber(f.protocol), port: f.port })) }], action: { kind: 'accept' }, comment: 'failsafe' } as CompiledRule] : []),
          ...WORKLOAD_TO_HOST_ICMPV6.map((type): CompiledRule => ({
            matches: [{ kind: 'protocol', protocol: 58 }, { kind: 'icmp', family: 6, type }], action: { kind: 'accept' }, comment: 'IPv6 neighbour discovery and MLD',
          })),
          // Pod → node traffic obeys the pod's egress policy, then defaultEndpointToHostAction.
          ...dispatch.filter((d) => d.action.kind === 'dispatch' && (d.action.key === 'iifname' || d.action.key.startsWith('saddr'))),
          ...this.endpointToHost(),
        ],
      },
    ];
    const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return {
      table: this.options.table ?? DEFAULT_TABLE,
      sets: [...this.sets.values()].sort(byName),
      maps: mapList,
      chains: [...base, ...[...this.chains.values()].sort(byName)],
    };
  }

  private endpointToHost(): CompiledRule[] {
    if (this.options.endpointToHostAction !== 'Drop') return [];
    if (this.options.mode !== 'interface') throw new Error('policy: endpointToHostAction Drop needs interface mode (pods are told apart by their cali* veths)');
    return [{ matches: [{ kind: 'inInterfacePrefix', prefix: WORKLOAD_VETH_PREFIX }], action: { kind: 'drop' }, comment: 'defaultEndpointToHostAction Drop' }];
  }

  /** A tier's policies in order: an Allow returns (allowed), a Pass returns to the next tier. */
  private tierRules(policies: readonly Policy[], direction: Direction): CompiledRule[] {
    return policies.flatMap((p) => [
      { matches: [], action: { kind: 'jump', chain: this.policyChain(p, direction) } },
      { matches: [{ kind: 'mark', bits: ALLOW_MARK }], action: { kind: 'return' } },
      ...((direction === 'ingress' ? p.ingress : p.egress).some((r) => r.action === PolicyAction.PASS)
        ? [{ matches: [{ kind: 'mark', bits: PASS_MARK }], action: { kind: 'return' } } as CompiledRule] : []),
    ] as CompiledRule[]);
  }

  private policyChain(p: Policy, direction: Direction): string {
    const name = policyChainName(p, direction);
    if (this.chains.has(name)) return name;
    const rules = (direction === 'ingress' ? p.ingress : p.egress).flatMap((r, i) => this.rule(p, r, `${policyId(p)} ${direction}[${i}]`));
    this.chains.set(name, { name, rules });
    return name;
  }

  /** The set of addresses a rule entity selects (shared by every rule with the same scope and selector). */
  private addressSet(p: Policy, entity: ResolvedEntityRule, negated: boolean, family: 4 | 6, members: Members): string {
    const scope = {
      scope: entity.namespaceSelector !== undefined ? `ns:${entity.namespaceSelector}` : p.namespace ?? '*global*',
      selector: negated ? entity.notSelector : entity.selector,
      serviceAccounts: negated ? undefined : entity.serviceAccounts,
    };
    const key = JSON.stringify(scope);
    const name = `s${family}-${hash(key)}`;
    if (!this.sets.has(name)) {
      const addresses = members.endpoints.flatMap((ep) => ep.addresses).concat(members.nets);
      this.sets.set(name, {
        name, type: family === 4 ? 'ipv4_addr' : 'ipv6_addr', interval: true,
        elements: normalizeCidrs(addresses.filter((a) => a.includes(':') === (family === 6))),
        comment: key,
      });
    }
    return name;
  }

  private namedPortSet(p: Policy, entity: ResolvedEntityRule, family: 4 | 6, names: readonly string[], members: Members | undefined): string {
    const key = JSON.stringify({
      scope: members ? (entity.namespaceSelector !== undefined ? `ns:${entity.namespaceSelector}` : p.namespace ?? '*global*') : '*any*',
      selector: members ? entity.selector : undefined, serviceAccounts: members ? entity.serviceAccounts : undefined, names: [...names].sort(),
    });
    const name = `n${family}-${hash(key)}`;
    if (!this.sets.has(name)) {
      const endpoints = members ? members.endpoints : this.index.world.endpoints;
      const elements = new Set<string>();
      for (const ep of endpoints) {
        for (const np of ep.ports ?? []) {
          if (!names.includes(np.name)) continue;
          for (const a of ep.addresses) if (a.includes(':') === (family === 6)) elements.add(`${a} . ${protocolNumber(np.protocol ?? 'TCP')} . ${np.port}`);
        }
      }
      this.sets.set(name, {
        name, type: family === 4 ? 'ipv4_addr . inet_proto . inet_service' : 'ipv6_addr . inet_proto . inet_service',
        interval: false, elements: [...elements].sort(), comment: key,
      });
    }
    return name;
  }

  /** One Calico rule → nft rules: one per address family it can match, times port variants (numbers | names). */
  private rule(p: Policy, r: ResolvedRule, comment: string): CompiledRule[] {
    const action: Action = r.action === PolicyAction.ALLOW ? { kind: 'allow' } : r.action === PolicyAction.PASS ? { kind: 'pass' }
      : r.action === PolicyAction.DENY ? { kind: 'drop' } : { kind: 'log', prefix: `cnikit ${comment}: `.slice(0, 127) };
    const proto = r.protocol !== undefined ? protocolNumber(r.protocol) : undefined;
    const familySpecific = r.ipVersion !== undefined || proto === 1 || proto === 58 || r.icmp !== undefined || r.notIcmp !== undefined
      || [r.source, r.destination].some((e) => e && (e.nets || e.notNets || e.selector || e.notSelector || e.namespaceSelector
        || e.serviceAccounts || [...(e.ports ?? []), ...(e.notPorts ?? [])].some((x) => typeof x === 'string' && !/^\d+:\d+$/.test(x))));
    let families: (4 | 6 | undefined)[] = familySpecific ? [4, 6] : [undefined];
    if (r.ipVersion !== undefined) families = [r.ipVersion];
    if (proto === 1) families = families.filter((f) => f === 4);
    if (proto === 58) families = families.filter((f) => f === 6);
    const out: CompiledRule[] = [];
    for (const family of families) {
      if (family !== undefined && [r.source, r.destination].some((e) => e?.nets && !e.nets.some((n) => n.includes(':') === (family === 6)))) continue;
      const common: Match[] = [];
      if (family !== undefined) common.push({ kind: 'family', family });
      if (proto !== undefined) common.push({ kind: 'protocol', protocol: proto });
      if (r.notProtocol !== undefined) common.push({ kind: 'protocol', protocol: protocolNumber(r.notProtocol), not: true });
      if (r.icmp?.type !== undefined && family) common.push({ kind: 'icmp', family, type: r.icmp.type, code: r.icmp.code });
      if (r.notIcmp?.type !== undefined && family) common.push({ kind: 'icmp', family, type: r.notIcmp.type, code: r.notIcmp.code, not: true });
      let variants: Match[][] = [common];
      for (const side of ['source', 'destination'] as const) {
        const e = side === 'source' ? r.source : r.destination;
        if (!e) continue;
        const sideVariants = this.entity(p, e, side, family);
        if (sideVariants === undefined) { variants = []; break; }
        variants = variants.flatMap((v) => sideVariants.map((s) => [...v, ...s]));
      }
      for (const matches of variants) out.push({ matches, action, comment });
    }
    return out;
  }

  /** Matches for one side; several variants are ORed (numbered vs named ports). Undefined: cannot match in this family. */
  private entity(p: Policy, e: ResolvedEntityRule, side: Side, family: 4 | 6 | undefined): Match[][] | undefined {
    const m: Match[] = [];
    if (family !== undefined) {
      const fam = (list: readonly string[] | undefined) => (list ?? []).filter((n) => n.includes(':') === (family === 6));
      if (e.nets) m.push({ kind: 'address', side, family, cidrs: normalizeCidrs(fam(e.nets)) });
      if (fam(e.notNets).length) m.push({ kind: 'address', side, family, cidrs: normalizeCidrs(fam(e.notNets)), not: true });
    }
    const members = this.index.members(p, e);
    if (members && family !== undefined) m.push({ kind: 'address', side, family, set: this.addressSet(p, e, false, family, members) });
    const excluded = this.index.members(p, e, true);
    if (excluded && family !== undefined) m.push({ kind: 'address', side, family, set: this.addressSet(p, e, true, family, excluded), not: true });
    const isNumeric = (x: string | number) => typeof x === 'number' || /^\d+:\d+$/.test(x);
    const numeric = (list: readonly (string | number)[]) => list.filter(isNumeric).map((x) => String(x).replace(':', '-'));
    const named = (list: readonly (string | number)[]) => list.filter((x): x is string => !isNumeric(x));
    if (e.notPorts) {
      if (numeric(e.notPorts).length) m.push({ kind: 'port', side, ports: numeric(e.notPorts), not: true });
      if (named(e.notPorts).length && family !== undefined) m.push({ kind: 'namedPort', side, family, set: this.namedPortSet(p, e, family, named(e.notPorts), members), not: true });
    }
    if (!e.ports) return [m];
    const variants: Match[][] = [];
    if (numeric(e.ports).length) variants.push([...m, { kind: 'port', side, ports: numeric(e.ports) }]);
    if (named(e.ports).length && family !== undefined) variants.push([...m, { kind: 'namedPort', side, family, set: this.namedPortSet(p, e, family, named(e.ports), members) }]);
    return variants;
  }
}

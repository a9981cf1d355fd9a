import { Cidr } from '../../model/cidr';
import { PolicyAction, ResolvedEntityRule, ResolvedRule } from '../../model/calico/policy';
import { isMember, PolicyIndex, policyId } from './selection';
import { DEFAULT_TIER, Direction, DirectionVerdict, familyOf, Packet, Policy, PolicyEndpoint, PolicyWorld, protocolNumber, Verdict } from './types';

/**
 * The reference evaluator: what Calico's semantics say about one packet, computed directly from
 * the policies (no sets, no chains). Tests and the lab's expected truth tables use it as the
 * oracle the compiled nftables rules are checked against.
 *
 * A packet is allowed when the source endpoint's egress and the destination endpoint's ingress
 * both allow it (either side that is not a known endpoint is not policed here). Per direction:
 * no policy selecting the endpoint → allowed (the namespace profile allows); otherwise the tiers
 * in order, skipping those with no policy for the endpoint; in a tier, the policies in order,
 * rules in order: Allow → allowed, Deny → denied, Pass → on to the next tier, Log → next rule;
 * the end of a tier → its default action (Deny → denied, Pass → next tier). Past the last tier
 * the profile decides: allowed.
 */
export function evaluate(world: PolicyWorld | PolicyIndex, packet: Packet): Verdict {
  const index = world instanceof PolicyIndex ? world : new PolicyIndex(world);
  const src = index.endpointAt(packet.source);
  const dst = index.endpointAt(packet.destination);
  const egress = src ? evaluateDirection(index, src, 'egress', packet) : undefined;
  const ingress = dst ? evaluateDirection(index, dst, 'ingress', packet) : undefined;
  return { allowed: (egress?.allowed ?? true) && (ingress?.allowed ?? true), egress, ingress };
}

export function evaluateDirection(index: PolicyIndex, ep: PolicyEndpoint, direction: Direction, packet: Packet): DirectionVerdict {
  const tiers = index.tiersFor(ep, direction);
  if (tiers.length === 0) return { allowed: true, reason: 'no policy' };
  let reason = 'pass → profile';
  for (const { tier, policies } of tiers) {
    const verdict = evaluateTier(index, policies, direction, packet);
    if (typeof verdict === 'string' && verdict !== 'end') {
      reason = `${verdict} Pass → profile`;
      continue;
    }
    if (verdict !== 'end') return verdict;
    if (tier.defaultAction === 'Deny') return { allowed: false, reason: tier.name === DEFAULT_TIER ? 'end of tier' : `end of tier ${tier.name}` };
    reason = `end of tier ${tier.name} Pass → profile`;
  }
  return { allowed: true, reason };
}

/** One tier's verdict: a rule's Allow or Deny, the Pass rule that matched (on to the next tier), or `end` (no rule matched). */
function evaluateTier(index: PolicyIndex, policies: readonly Policy[], direction: Direction, packet: Packet): DirectionVerdict | string {
  for (const policy of policies) {
    const rules = direction === 'ingress' ? policy.ingress : policy.egress;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (!ruleMatches(index, policy, rule, packet)) continue;
      const where = `${policyId(policy)} ${direction} rule ${i}`;
      switch (rule.action) {
        case PolicyAction.ALLOW: return { allowed: true, reason: `${where} Allow` };
        case PolicyAction.DENY: return { allowed: false, reason: `${where} Deny` };
        case PolicyAction.PASS: return where;
        case PolicyAction.LOG: break;
      }
    }
  }
  return 'end';
}

export function ruleMatches(index: PolicyIndex, policy: Policy, rule: ResolvedRule, packet: Packet): boolean {
  const family = familyOf(packet.source);
  if (rule.ipVersion !== undefined && rule.ipVersion !== family) return false;
  const proto = protocolNumber(packet.protocol);
  if (rule.protocol !== undefined && protocolNumber(rule.protocol) !== proto) return false;
  if (rule.notProtocol !== undefined && protocolNumber(rule.notProtocol) === proto) return false;
  if (rule.icmp && !icmpMatches(rule.icmp, packet)) return false;
  if (rule.notIcmp && icmpMatches(rule.notIcmp, packet)) return false;
  return entityMatches(index, policy, rule.source, packet.source, packet.sourcePort, proto)
    && entityMatches(index, policy, rule.destination, packet.destination, packet.destinationPort, proto);
}

function icmpMatches(m: { readonly type?: number; readonly code?: number }, packet: Packet): boolean {
  const proto = protocolNumber(packet.protocol);
  if (proto !== 1 && proto !== 58) return false;
  if (m.type !== undefined && packet.icmpType !== m.type) return false;
  return m.code === undefined || packet.icmpCode === m.code;
}

function inNets(nets: readonly string[], address: string): boolean {
  return nets.some((n) => {
    const cidr = Cidr.parse(n, 'nets');
    return cidr.family === familyOf(address) && cidr.containsAddress(address);
  });
}

function entityMatches(index: PolicyIndex, policy: Policy, entity: ResolvedEntityRule | undefined, address: string, port: number | undefined, proto: number): boolean {
  if (!entity) return true;
  if (entity.nets && !inNets(entity.nets, address)) return false;
  if (entity.notNets && inNets(entity.notNets, address)) return false;
  const members = index.members(policy, entity);
  if (members && !isMember(members, address)) return false;
  const excluded = index.members(policy, entity, true);
  if (excluded && isMember(excluded, address)) return false;
  if (entity.ports && !entity.ports.some((p) => portMatches(index, p, members?.endpoints, address, port, proto))) return false;
  if (entity.notPorts && entity.notPorts.some((p) => portMatches(index, p, members?.endpoints, address, port, proto))) return false;
  return true;
}

/**
 * A numbered port or range compares with the packet's port; a named port matches when the
 * address belongs to an endpoint (among the entity's selected ones, if it selects) that names
 * that port for the packet's protocol.
 */
function portMatches(index: PolicyIndex, spec: string | number, endpoints: readonly PolicyEndpoint[] | undefined, address: string,
  port: number | undefined, proto: number): boolean {
  if (port === undefined) return false;
  if (typeof spec === 'number') return port === spec;
  const range = /^(\d+):(\d+)$/.exec(spec);
  if (range) return port >= Number(range[1]) && port <= Number(range[2]);
  const ep = index.endpointAt(address);
  if (!ep || (endpoints && !endpoints.includes(ep))) return false;
  return (ep.ports ?? []).some((np) => np.name === spec && np.port === port && protocolNumber(np.protocol ?? 'TCP') === proto);
}

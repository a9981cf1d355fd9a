import { Cidr } from '../../model/cidr';
import { Kernel, Rule, RuleSet } from '../kernel/types';
import { ruleSetsEqual } from '../kernel/nft';

/** Where flannel's nftables mode puts its rules: tables `ip flannel-ipv4` and `ip6 flannel-ipv6`. */
export const FLANNEL_RULESET = 'flannel-ipv4';
export const FLANNEL_RULESET_V6 = 'flannel-ipv6';
/** kube-proxy's masquerade mark: packets it already marked are left to it. */
const KUBE_MASQ_MARK = 0x4000;

export interface MasqueradeOptions {
  /** The pod network (FLANNEL_NETWORK or FLANNEL_IPV6_NETWORK); its family decides the rule set's. */
  readonly network: Cidr;
  /** This node's subnet (FLANNEL_SUBNET's network). */
  readonly podCidr: Cidr;
  /** Add the masquerade chain (--ip-masq). */
  readonly ipMasq: boolean;
  /** Add the forward accept chain (--iptables-forward-rules). @default true */
  readonly forwardRules?: boolean;
  /** `--random-fully` on masquerade rules. @default true */
  readonly randomFully?: boolean;
}

/**
 * flannel's masquerade and forward rules for one family (reference flannel.md §9, nftables flavour): traffic
 * inside the pod network keeps its source; pod traffic leaving the network is masqueraded,
 * except multicast; traffic from outside to this node's pods is left alone; the forward chain
 * accepts pod-network traffic even when the FORWARD policy drops.
 */
export function flannelRuleSet(options: MasqueradeOptions): RuleSet | undefined {
  const net = options.network.toString();
  const pod = options.podCidr.toString();
  const family = options.network.family;
  const multicast = family === 6 ? 'ff00::/8' : '224.0.0.0/4';
  const masq = { comment: 'flanneld masq' };
  const randomFully = options.randomFully ?? true;
  const postrouting: Rule[] = [
    { mark: { value: KUBE_MASQ_MARK, mask: KUBE_MASQ_MARK }, verdict: 'return', ...masq },
    { saddr: { cidr: pod }, daddr: { cidr: net }, verdict: 'return', ...masq },
    { saddr: { cidr: net }, daddr: { cidr: pod }, verdict: 'return', ...masq },
    { saddr: { cidr: pod, not: true }, daddr: { cidr: net }, verdict: 'return', ...masq },
    { saddr: { cidr: net }, daddr: { cidr: multicast, not: true }, verdict: 'masquerade', randomFully, ...masq },
    { saddr: { cidr: net, not: true }, daddr: { cidr: net }, verdict: 'masquerade', randomFully, ...masq },
  ];
  const forward: Rule[] = [
    { saddr: { cidr: net }, verdict: 'accept', comment: 'flanneld forward' },
    { daddr: { cidr: net }, verdict: 'accept', comment: 'flanneld forward' },
  ];
  const chains = [
    ...(options.ipMasq ? [{ name: 'postrtg', type: 'nat' as const, hook: 'postrouting' as const, rules: postrouting }] : []),
    ...((options.forwardRules ?? true) ? [{ name: 'forward', type: 'filter' as const, hook: 'forward' as const, policy: 'accept' as const, rules: forward }] : []),
  ];
  return chains.length ? { name: family === 6 ? FLANNEL_RULESET_V6 : FLANNEL_RULESET, family, chains } : undefined;
}

/**
 * Makes the kernel's flannel rule set equal `desired` (removing it when undefined). Returns true
 * when something had to change: the set is read back and compared first, so a resync that finds
 * everything in place writes nothing.
 */
export async function reconcileRuleSet(kernel: Kernel, desired: RuleSet | undefined, family: 4 | 6 = desired?.family ?? 4): Promise<boolean> {
  const name = family === 6 ? FLANNEL_RULESET_V6 : FLANNEL_RULESET;
  const current = await kernel.ruleSet(name, family);
  if (desired === undefined) {
    if (current === undefined) return false;
    await kernel.deleteRuleSet(name, family);
    return true;
  }
  if (ruleSetsEqual(current, desired)) return false;
  await kernel.replaceRuleSet(desired);
  return true;
}

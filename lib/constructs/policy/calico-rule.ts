import * as calico from '../../imports/crd.projectcalico.org';
import { ResolvedEntityRule, ResolvedRule } from '../../model/calico/policy';
import { toGeneratedEnum } from '../calico/custom-resources';

/**
 * The generated classes give each policy kind and direction its own rule types; they differ only
 * in the action and ipVersion enums (IntOrString wrappers are structurally the same), so one
 * renderer serves all four, given the two enums.
 */
interface IntOrStringValue { readonly value: string | number }

export interface CalicoEntityJson {
  readonly nets?: string[];
  readonly notNets?: string[];
  readonly selector?: string;
  readonly notSelector?: string;
  readonly namespaceSelector?: string;
  readonly ports?: IntOrStringValue[];
  readonly notPorts?: IntOrStringValue[];
  readonly serviceAccounts?: { readonly names?: string[]; readonly selector?: string };
}

export interface CalicoRuleJson<A, V> {
  readonly action: A;
  readonly ipVersion?: V;
  readonly protocol?: IntOrStringValue;
  readonly notProtocol?: IntOrStringValue;
  readonly icmp?: { readonly type?: number; readonly code?: number };
  readonly notIcmp?: { readonly type?: number; readonly code?: number };
  readonly source?: CalicoEntityJson;
  readonly destination?: CalicoEntityJson;
}

function intOrString(value: string | number | undefined): IntOrStringValue | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'number'
    ? calico.NetworkPolicySpecIngressProtocol.fromNumber(value)
    : calico.NetworkPolicySpecIngressProtocol.fromString(value);
}

function numericEnum<V extends number>(target: Record<string, V | string>, value: number): V {
  const found = Object.values(target).find((v): v is V => v === value);
  if (found === undefined) throw new Error(`value ${value} has no counterpart in the generated enum`);
  return found;
}

function entity(e: ResolvedEntityRule | undefined): CalicoEntityJson | undefined {
  if (e === undefined) return undefined;
  return {
    nets: e.nets ? [...e.nets] : undefined,
    notNets: e.notNets ? [...e.notNets] : undefined,
    selector: e.selector,
    notSelector: e.notSelector,
    namespaceSelector: e.namespaceSelector,
    ports: e.ports?.map((p) => intOrString(p) as IntOrStringValue),
    notPorts: e.notPorts?.map((p) => intOrString(p) as IntOrStringValue),
    serviceAccounts: e.serviceAccounts
      ? { names: e.serviceAccounts.names ? [...e.serviceAccounts.names] : undefined, selector: e.serviceAccounts.selector }
      : undefined,
  };
}

export function calicoRule<A extends string, V extends number>(
  rule: ResolvedRule, actions: Record<string, A>, versions: Record<string, V | string>,
): CalicoRuleJson<A, V> {
  return {
    action: toGeneratedEnum(actions, rule.action),
    ipVersion: rule.ipVersion === undefined ? undefined : numericEnum(versions, rule.ipVersion),
    protocol: intOrString(rule.protocol),
    notProtocol: intOrString(rule.notProtocol),
    icmp: rule.icmp ? { ...rule.icmp } : undefined,
    notIcmp: rule.notIcmp ? { ...rule.notIcmp } : undefined,
    source: entity(rule.source),
    destination: entity(rule.destination),
  };
}

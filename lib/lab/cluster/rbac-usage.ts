import * as fs from 'fs';
import { parseAllDocuments } from 'yaml';
import { ApiCall, auditLogPath, readAudit } from './audit';
import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

/**
 * Least privilege, proved: every (ServiceAccount, apiGroup, resource, verb) an environment's RBAC
 * grants its own ServiceAccounts is matched against the apiserver's audit log, and a grant no call
 * used fails the check. The other half (a call refused with 403) is audit.ts' rbacDenialsCheck.
 */

/** One thing a role lets one of the stack's ServiceAccounts do. */
export interface RbacGrant {
  /** `namespace/name` of the ServiceAccount. */
  readonly serviceAccount: string;
  /** `ClusterRole calico-node`, `Role kube-system/calico-node`. */
  readonly role: string;
  /** Index of the rule in the role's `rules`. */
  readonly rule: number;
  readonly apiGroup: string;
  /** `pods`, `nodes/status`, … (resource/subresource), or `*`. */
  readonly resource: string;
  /** An RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`) or `*`. */
  readonly verb: string;
  /** The rule's `resourceNames`: only calls on these objects use it. */
  readonly resourceNames?: readonly string[];
  /** Granted through a RoleBinding: only calls in this namespace use it. */
  readonly namespace?: string;
}

/**
 * Grants the lab cannot exercise on demand, kept on purpose: the code path that calls them and why the
 * lab's run does not take it. Matched by ServiceAccount name (the stack's namespace is a prop). An
 * exempt grant no call used is still listed in the check's report, never dropped silently.
 */
export interface GrantExemption {
  readonly serviceAccounts: readonly string[];
  readonly apiGroup: string;
  readonly resource: string;
  readonly verbs: readonly string[];
  /** `file: function` that makes the call. */
  readonly callSite: string;
  readonly why: string;
}

const CALICO = 'crd.projectcalico.org';

/**
 * The reviewed list (test/lab/cluster/rbac-usage.test.ts checks each entry still names a grant a
 * bundled environment renders, and methods its file has). Everything else dev, staging and prod grant
 * must be used by a call of the lab's run, the retired node's clean-up included (node-retirement.ts)
 * and the policy agent's Events on a policy patched to an invalid version (live-change-checks.ts).
 */
export const RBAC_USAGE_EXEMPTIONS: readonly GrantExemption[] = [
  {
    serviceAccounts: ['calico-node', 'calico-cni-plugin'], apiGroup: CALICO, resource: 'blockaffinities', verbs: ['delete'],
    callSite: 'lib/dataplane/ipam/block-ipam.ts: BlockIpam.claimBlock',
    why: 'another node created the block between this node\'s pending affinity and its block: the affinity is withdrawn (a race)',
  },
  {
    serviceAccounts: ['calico-node', 'calico-cni-plugin'], apiGroup: CALICO, resource: 'ipamhandles', verbs: ['update'],
    callSite: 'lib/dataplane/ipam/block-ipam.ts: BlockIpam.adjustHandle, from tryBlocks',
    why: 'a handle that exists gains an address (a dual-stack pod\'s second family: prod uses it) or is decremented after its block\'s compare-and-swap lost a race',
  },
  {
    serviceAccounts: ['calico-node'], apiGroup: CALICO, resource: 'ipamhandles', verbs: ['delete'],
    callSite: 'lib/dataplane/calico/agent.ts: CalicoAgent.followVxlan → BlockIpam.releaseByHandle',
    why: 'no pool uses VXLAN any more: the node\'s tunnel address is released (the lab never turns encapsulation off)',
  },
  {
    serviceAccounts: ['calico-cni-plugin'], apiGroup: CALICO, resource: 'blockaffinities', verbs: ['create', 'update'],
    callSite: 'lib/dataplane/ipam/block-ipam.ts: BlockIpam.claimBlock, from a CNI ADD',
    why: 'the node has no block with room: with VXLAN (staging) the agent\'s tunnel address claims each node\'s first block, and the lab\'s few pods fill none (prod, unencapsulated, uses it)',
  },
  {
    serviceAccounts: ['calico-cni-plugin'], apiGroup: CALICO, resource: 'ipamblocks', verbs: ['list', 'create'],
    callSite: 'lib/dataplane/ipam/block-ipam.ts: BlockIpam.claimBlock, from a CNI ADD',
    why: 'as above: a new block for the node (prod uses it)',
  },
];

interface Rule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

interface KubeObject {
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly rules?: readonly Rule[];
  readonly roleRef?: { readonly kind?: string; readonly name?: string };
  readonly subjects?: readonly { readonly kind?: string; readonly name?: string; readonly namespace?: string }[];
}

/** Every object of the manifests, in file order. */
export function readManifestObjects(files: readonly string[]): Record<string, unknown>[] {
  const objects: Record<string, unknown>[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      const value: unknown = doc.toJS();
      if (value && typeof value === 'object' && !Array.isArray(value)) objects.push(value as Record<string, unknown>);
    }
  }
  return objects;
}

/** The ServiceAccounts the manifests create, as `namespace/name`. */
export function stackServiceAccounts(objects: readonly Record<string, unknown>[]): string[] {
  return (objects as readonly KubeObject[])
    .filter((o) => o.kind === 'ServiceAccount' && o.metadata?.name)
    .map((o) => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`);
}

/**
 * What the manifests' (Cluster)RoleBindings grant the manifests' own ServiceAccounts, one entry per
 * (rule, apiGroup, resource, verb). A rule with `nonResourceURLs` cannot be matched against objects
 * and is refused; a binding to a role the manifests do not define is refused too.
 */
export function stackGrants(objects: readonly Record<string, unknown>[]): RbacGrant[] {
  const all = objects as readonly KubeObject[];
  const accounts = new Set(stackServiceAccounts(objects));
  const roles = new Map<string, KubeObject>();
  for (const o of all) {
    if (o.kind === 'ClusterRole') roles.set(`ClusterRole ${o.metadata?.name}`, o);
    if (o.kind === 'Role') roles.set(`Role ${o.metadata?.namespace}/${o.metadata?.name}`, o);
  }
  const grants: RbacGrant[] = [];
  for (const binding of all) {
    if (binding.kind !== 'ClusterRoleBinding' && binding.kind !== 'RoleBinding') continue;
    const bindingNamespace = binding.kind === 'RoleBinding' ? binding.metadata?.namespace ?? 'default' : undefined;
    const roleKey = binding.roleRef?.kind === 'Role' ? `Role ${bindingNamespace}/${binding.roleRef.name}` : `ClusterRole ${binding.roleRef?.name}`;
    const subjects = (binding.subjects ?? [])
      .filter((s) => s.kind === 'ServiceAccount')
      .map((s) => `${s.namespace ?? bindingNamespace ?? 'default'}/${s.name}`)
      .filter((sa) => accounts.has(sa));
    if (subjects.length === 0) continue;
    const role = roles.get(roleKey);
    if (!role) throw new Error(`${binding.kind} ${binding.metadata?.name} refers to ${roleKey}, which the manifests do not define`);
    (role.rules ?? []).forEach((rule, index) => {
      if (rule.nonResourceURLs?.length) throw new Error(`${roleKey} rule ${index}: nonResourceURLs cannot be matched against the audit log's objects`);
      for (const serviceAccount of subjects) {
        for (const apiGroup of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs ?? []) {
              grants.push({
                serviceAccount, role: roleKey, rule: index, apiGroup, resource, verb,
                ...(rule.resourceNames?.length ? { resourceNames: [...rule.resourceNames] } : {}),
                ...(bindingNamespace ? { namespace: bindingNamespace } : {}),
              });
            }
          }
        }
      }
    });
  }
  return grants;
}

const user = (serviceAccount: string) => {
  const [namespace, name] = serviceAccount.split('/');
  return `system:serviceaccount:${namespace}:${name}`;
};

/** Whether `call` is one `grant` authorized: same account, verb, group, resource, and within its names and namespace. */
export function callUsesGrant(call: ApiCall, grant: RbacGrant): boolean {
  if (call.code === 403 || call.user !== user(grant.serviceAccount)) return false;
  if (grant.verb !== '*' && call.verb !== grant.verb) return false;
  if (grant.apiGroup !== '*' && call.apiGroup !== grant.apiGroup) return false;
  if (grant.resource !== '*' && call.resource !== grant.resource) return false;
  if (grant.namespace !== undefined && call.namespace !== grant.namespace) return false;
  if (grant.resourceNames && (call.name === undefined || !grant.resourceNames.includes(call.name))) return false;
  return true;
}

/** Whether `exemption` covers `grant` (by ServiceAccount name, group, resource and verb). */
export function exemptionCovers(exemption: GrantExemption, grant: RbacGrant): boolean {
  return exemption.serviceAccounts.includes(grant.serviceAccount.split('/')[1]) && exemption.apiGroup === grant.apiGroup
    && exemption.resource === grant.resource && exemption.verbs.includes(grant.verb);
}

export interface GrantUsage {
  /** Grants at least one call used. */
  readonly used: readonly RbacGrant[];
  /** Grants no call used and no exemption covers. */
  readonly unused: readonly RbacGrant[];
  /** Grants no call used, kept by an exemption. */
  readonly exempt: readonly { readonly grant: RbacGrant; readonly exemption: GrantExemption }[];
}

/** Sorts every grant into used, unused and exempt by the calls of the audit log. */
export function grantUsage(grants: readonly RbacGrant[], calls: readonly ApiCall[], exemptions: readonly GrantExemption[] = []): GrantUsage {
  const used: RbacGrant[] = [];
  const unused: RbacGrant[] = [];
  const exempt: { grant: RbacGrant; exemption: GrantExemption }[] = [];
  for (const grant of grants) {
    if (calls.some((c) => callUsesGrant(c, grant))) {
      used.push(grant);
      continue;
    }
    const exemption = exemptions.find((e) => exemptionCovers(e, grant));
    if (exemption) exempt.push({ grant, exemption });
    else unused.push(grant);
  }
  return { used, unused, exempt };
}

/** `calico-node: ClusterRole calico-node rule 4 (crd.projectcalico.org ippools) watch`. */
export function describeGrant(g: RbacGrant): string {
  const what = `${g.apiGroup || 'core'} ${g.resource}${g.resourceNames ? ` named ${g.resourceNames.join(',')}` : ''}${g.namespace ? ` in ${g.namespace}` : ''}`;
  return `${g.serviceAccount.split('/')[1]}: ${g.role} rule ${g.rule} (${what}) ${g.verb}`;
}

/**
 * The check: every grant the manifests `files` give their own ServiceAccounts is used by at least
 * one call in the lab's audit log, or is on the reviewed exemption list (which is reported). Run it
 * last, after every call the lab provokes (a retired node, deleted pods) has been made.
 */
export function rbacUsageCheck(lab: ClusterLab, files: readonly string[], exemptions: readonly GrantExemption[] = RBAC_USAGE_EXEMPTIONS): CheckResult {
  const grants = stackGrants(readManifestObjects(files));
  const usage = grantUsage(grants, readAudit(lab), exemptions);
  const perAccount = new Map<string, number>();
  for (const g of usage.used) perAccount.set(g.serviceAccount.split('/')[1], (perAccount.get(g.serviceAccount.split('/')[1]) ?? 0) + 1);
  const exempt = usage.exempt.map((x) => `${describeGrant(x.grant)} (${x.exemption.callSite})`);
  const problems = usage.unused.map((g) => `${describeGrant(g)}: no call in the audit log`);
  return {
    name: 'every RBAC grant of the stack is used by a call',
    ok: grants.length > 0 && problems.length === 0,
    detail: problems.length
      ? `${problems.length} of ${grants.length} grants unused: ${problems.join(' · ')}${exempt.length ? `; ${exempt.join(' · ')}` : ''} (audit log ${auditLogPath(lab)})`
      : `${usage.used.length} grants each used by a call (${[...perAccount].map(([sa, n]) => `${sa} ${n}`).join(', ')})${exempt.length ? `; ${exempt.length} exempt: ${exempt.join(' · ')}` : ''}`,
  };
}

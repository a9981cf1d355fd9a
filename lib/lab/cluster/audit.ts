import * as fs from 'fs';
import * as path from 'path';
import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

/** One API request as the apiserver's audit log (Metadata level) records it. */
export interface ApiCall {
  readonly user: string;
  readonly verb: string;
  /** `pods`, `nodes/status`, … (resource/subresource). */
  readonly resource: string;
  readonly apiGroup: string;
  readonly namespace?: string;
  /** The object's name, for calls on one object (get, update, patch, delete, create of a subresource). */
  readonly name?: string;
  readonly code: number;
}

/** Where the lab's apiserver writes its audit log. */
export function auditLogPath(lab: ClusterLab): string {
  return path.join(lab.dir, 'control-plane', 'logs', 'audit.log');
}

/** Every completed request in the lab's audit log (or in the audit log `file`, a copy of one), in order. */
export function readAudit(lab: ClusterLab | { readonly file: string }): ApiCall[] {
  const file = 'file' in lab ? lab.file : auditLogPath(lab);
  if (!fs.existsSync(file)) return [];
  const calls: ApiCall[] = [];
  const seen = new Set<string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as {
      auditID: string; stage?: string; verb: string; user: { username: string };
      objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string }; responseStatus?: { code?: number };
    };
    // A watch is logged when its response starts (and again only when it ends); anything else when complete.
    if (e.stage !== (e.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete') || seen.has(e.auditID)) continue;
    seen.add(e.auditID);
    const o = e.objectRef ?? {};
    calls.push({
      user: e.user.username, verb: e.verb, resource: `${o.resource ?? ''}${o.subresource ? `/${o.subresource}` : ''}`,
      apiGroup: o.apiGroup ?? '', ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.name ? { name: o.name } : {}), code: e.responseStatus?.code ?? 0,
    });
  }
  return calls;
}

const serviceAccount = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

/**
 * With Typha, the node agents (calico-node's containers) open no watch on the apiserver: Typha
 * holds them, one per resource per replica. Counted in the audit log, not assumed.
 */
export function typhaWatchCheck(lab: ClusterLab, namespace = 'kube-system'): CheckResult {
  const calls = readAudit(lab).filter((c) => c.verb === 'watch');
  const byAgents = calls.filter((c) => c.user === serviceAccount(namespace, 'calico-node'));
  const byTypha = calls.filter((c) => c.user === serviceAccount(namespace, 'calico-typha'));
  const resources = (list: readonly ApiCall[]) => [...new Set(list.map((c) => c.resource))].sort().join(', ');
  return {
    name: 'agents hold no apiserver watches (Typha serves them)',
    ok: byAgents.length === 0 && byTypha.length > 0,
    detail: `watches by calico-node: ${byAgents.length}${byAgents.length ? ` (${resources(byAgents)})` : ''}; by calico-typha: ${byTypha.length} (${resources(byTypha) || 'none'}); audit log ${path.join(lab.dir, 'control-plane', 'logs', 'audit.log')}`,
  };
}

/**
 * The stack's components are never refused by RBAC: a 403 for one of their ServiceAccounts means a
 * role misses a grant a code path needs (the roles are trimmed to the calls the code makes).
 */
export function rbacDenialsCheck(lab: ClusterLab, serviceAccounts: readonly string[], namespace = 'kube-system'): CheckResult {
  const users = new Set(serviceAccounts.map((sa) => serviceAccount(namespace, sa)));
  const denied = readAudit(lab).filter((c) => c.code === 403 && users.has(c.user));
  const calls = [...new Set(denied.map((c) => `${c.user.split(':').at(-1)} ${c.verb} ${c.apiGroup ? `${c.apiGroup}/` : ''}${c.resource}${c.namespace ? ` in ${c.namespace}` : ''}`))];
  return {
    name: 'no API call of the stack is refused by RBAC',
    ok: denied.length === 0,
    detail: denied.length === 0 ? `no 403 for ${[...serviceAccounts].join(', ')} in the audit log`
      : `${denied.length} refused: ${calls.join(' · ')} (audit log ${path.join(lab.dir, 'control-plane', 'logs', 'audit.log')})`,
  };
}

import { describeOp } from './describe';
import { KernelOp, Ownership, Route } from './types';

/** Thrown before anything is applied when a batch would touch an object the caller does not own. */
export class NotOwnedError extends Error {
  constructor(public readonly op: KernelOp, reason: string) {
    super(`kernel: refusing ${op.op} ${describeOp(op)}: ${reason}`);
    this.name = 'NotOwnedError';
  }
}

export function ownsLink(ownership: Ownership, name: string): boolean {
  if (ownership.everything) return true;
  if (ownership.links?.includes(name)) return true;
  return (ownership.linkPrefixes ?? []).some((prefix) => name.startsWith(prefix));
}

export function ownsRoute(ownership: Ownership, route: Route): boolean {
  if (ownership.everything) return true;
  return ownership.routeProtocol !== undefined && route.protocol === ownership.routeProtocol;
}

export function ownsRuleSet(ownership: Ownership, name: string): boolean {
  if (ownership.everything) return true;
  return (ownership.ruleSetPrefixes ?? []).some((prefix) => name.startsWith(prefix));
}

export function ownsSysctl(ownership: Ownership, key: string): boolean {
  if (ownership.everything || ownership.sysctlPrefixes === undefined) return true;
  const dotted = key.replace(/\//g, '.');
  return ownership.sysctlPrefixes.some((prefix) => dotted.startsWith(prefix));
}

/** Throws NotOwnedError for the first op outside `ownership`. */
export function assertOwned(ownership: Ownership, ops: readonly KernelOp[]): void {
  for (const op of ops) {
    const reason = notOwnedReason(ownership, op);
    if (reason) throw new NotOwnedError(op, reason);
  }
}

function notOwnedReason(ownership: Ownership, op: KernelOp): string | undefined {
  const link = (name: string) => (ownsLink(ownership, name) ? undefined : `link ${name} is not owned`);
  switch (op.op) {
    case 'link.add':
      return link(op.link.name) ?? (op.link.kind === 'veth' && !op.link.peer.netns ? link(op.link.peer.name) : undefined);
    case 'link.set':
      return link(op.change.name);
    case 'link.del':
      return link(op.name);
    case 'addr.replace':
    case 'addr.del':
      return link(op.address.dev);
    case 'neigh.replace':
    case 'neigh.del':
      return link(op.neighbour.dev);
    case 'fdb.replace':
    case 'fdb.append':
    case 'fdb.del':
      return link(op.entry.dev);
    case 'route.replace':
    case 'route.del':
      return ownsRoute(ownership, op.route)
        ? undefined
        : `route protocol ${op.route.protocol ?? '(unset)'} is not the owned protocol ${ownership.routeProtocol ?? '(none declared)'}`;
  }
}


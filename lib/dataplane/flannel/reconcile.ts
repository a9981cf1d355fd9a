import { Address, FdbEntry, Kernel, KernelApplyError, KernelOp, LinkSpec, LinkState, Neighbour, Route } from '../kernel/types';
import { routeKey, routesEqual } from '../kernel/normalize';
import { DesiredDataplane } from './backend';

/**
 * The flannel agent's reconciler: compares a backend's desired dataplane with what the kernel has
 * (only objects the agent owns: its links, routes carrying its protocol, neighbours and FDB
 * entries on its links) and applies the smallest set of changes. The diff functions are pure.
 */

/** Link and address changes: create what is missing, fix what drifted, recreate what is incompatible. */
export function linkOps(desired: DesiredDataplane, links: readonly LinkState[], addresses: readonly Address[]): KernelOp[] {
  const ops: KernelOp[] = [];
  for (const spec of desired.links) {
    const current = links.find((l) => l.name === spec.name);
    const fresh = !current || !compatible(spec, current);
    if (current && fresh) ops.push({ op: 'link.del', name: spec.name });
    if (fresh) {
      ops.push({ op: 'link.add', link: spec });
      if (spec.up) ops.push({ op: 'link.set', change: { name: spec.name, up: true } });
    } else {
      const change: { name: string; mtu?: number; mac?: string; up?: boolean } = { name: spec.name };
      if (spec.mtu !== undefined && current.mtu !== spec.mtu) change.mtu = spec.mtu;
      if (spec.mac !== undefined && current.mac.toLowerCase() !== spec.mac) change.mac = spec.mac;
      if (spec.up && !current.up) change.up = true;
      if (Object.keys(change).length > 1) ops.push({ op: 'link.set', change });
    }
    const want = desired.addresses.filter((a) => a.dev === spec.name);
    const have = fresh ? [] : addresses.filter((a) => a.dev === spec.name && !isLinkLocal(a.cidr));
    for (const a of have) if (!want.some((w) => w.cidr === a.cidr)) ops.push({ op: 'addr.del', address: a });
    for (const w of want) if (!have.some((a) => a.cidr === w.cidr)) ops.push({ op: 'addr.replace', address: w });
  }
  return ops;
}

/** What the forwarding objects look like now: owned routes, and neighbours / FDB on owned links. */
export interface ForwardingState {
  readonly routes: readonly Route[];
  readonly neighbours: readonly Neighbour[];
  readonly fdb: readonly FdbEntry[];
}

/**
 * Route, neighbour and FDB changes. Removals come first and routes last on the way in (so a route
 * never points at a neighbour that is not there yet) and first on the way out.
 */
export function forwardingOps(desired: DesiredDataplane, current: ForwardingState): KernelOp[] {
  const routeDels: KernelOp[] = [];
  const routeAdds: KernelOp[] = [];
  const wantRoutes = new Map(desired.routes.map((r) => [routeKey(r), r]));
  for (const route of current.routes) {
    if (!wantRoutes.has(routeKey(route))) routeDels.push({ op: 'route.del', route });
  }
  const haveRoutes = new Map(current.routes.map((r) => [routeKey(r), r]));
  for (const [key, route] of wantRoutes) {
    const have = haveRoutes.get(key);
    if (!have || !routesEqual(have, route)) routeAdds.push({ op: 'route.replace', route });
  }

  const neighKey = (n: Neighbour) => `${n.dev}|${n.address}`;
  const wantNeigh = new Map(desired.neighbours.map((n) => [neighKey(n), n]));
  const haveNeigh = current.neighbours.filter((n) => n.mac);
  const neighDels: KernelOp[] = haveNeigh.filter((n) => !wantNeigh.has(neighKey(n))).map((neighbour) => ({ op: 'neigh.del', neighbour }));
  const neighAdds: KernelOp[] = [...wantNeigh.values()]
    .filter((n) => !haveNeigh.some((h) => neighKey(h) === neighKey(n) && h.mac.toLowerCase() === n.mac))
    .map((neighbour) => ({ op: 'neigh.replace', neighbour }));

  const fdbKey = (f: FdbEntry) => `${f.dev}|${f.mac.toLowerCase()}|${f.dst ?? ''}`;
  const wantFdb = new Set(desired.fdb.map(fdbKey));
  const haveFdb = current.fdb.filter((f) => f.dst);
  const fdbDels: KernelOp[] = haveFdb.filter((f) => !wantFdb.has(fdbKey(f))).map((entry) => ({ op: 'fdb.del', entry }));
  const haveFdbKeys = new Set(haveFdb.map(fdbKey));
  const fdbAdds: KernelOp[] = desired.fdb.filter((f) => !haveFdbKeys.has(fdbKey(f))).map((entry) => ({ op: 'fdb.append', entry }));

  return [...routeDels, ...neighDels, ...fdbDels, ...fdbAdds, ...neighAdds, ...routeAdds];
}

export interface ReconcileResult {
  /** Every change applied (empty when the kernel already matched). */
  readonly ops: readonly KernelOp[];
  /** Changes the kernel refused; the rest were applied. */
  readonly failures: readonly { readonly op: KernelOp; readonly message: string }[];
  /** Routes of the desired state that are in the kernel after the pass. */
  readonly routes: number;
}

/** Makes one namespace's kernel match desired dataplanes, one pass at a time. */
export class Reconciler {
  constructor(private readonly kernel: Kernel, private readonly routeProtocol: number) {}

  /**
   * `prune: false` only adds and fixes, never removes: used before the first full list of leases
   * has arrived, when "not desired" may just mean "not heard of yet".
   */
  public async reconcile(desired: DesiredDataplane, options: { prune?: boolean } = {}): Promise<ReconcileResult> {
    const prune = options.prune ?? true;
    const applied: KernelOp[] = [];
    const failures: { op: KernelOp; message: string }[] = [];
    const apply = async (ops: KernelOp[]) => {
      if (ops.length === 0) return;
      try {
        await this.kernel.apply(ops);
        applied.push(...ops);
      } catch (error) {
        if (!(error instanceof KernelApplyError)) throw error;
        failures.push(...error.failures);
        const failed = new Set(error.failures.map((f) => f.op));
        applied.push(...ops.filter((op) => !failed.has(op)));
      }
    };

    const devices = desired.links.map((l) => l.name);
    if (devices.length > 0) {
      const links = await this.kernel.links();
      const addresses = (await Promise.all(devices.filter((d) => links.some((l) => l.name === d)).map((d) => this.kernel.addresses(d)))).flat();
      await apply(linkOps(desired, links, addresses));
    }
    const [routes, neighbours, fdb] = await Promise.all([
      Promise.all([4, 6].map((family) => this.kernel.routes({ family: family as 4 | 6, protocol: this.routeProtocol }))).then((r) => r.flat()),
      Promise.all(devices.map((d) => this.kernel.neighbours(d))).then((n) => n.flat()),
      Promise.all(devices.map((d) => this.kernel.fdb(d))).then((f) => f.flat()),
    ]);
    const ops = forwardingOps(desired, { routes, neighbours, fdb }).filter((op) => prune || !op.op.endsWith('.del'));
    await apply(ops);
    const failedRoutes = failures.filter((f) => f.op.op === 'route.replace').length;
    return { ops: applied, failures, routes: desired.routes.length - failedRoutes };
  }
}

function compatible(spec: LinkSpec, current: LinkState): boolean {
  if (current.kind !== spec.kind) return false;
  if (spec.kind !== 'vxlan') return true;
  const v = current.vxlan;
  return v !== undefined && v.vni === spec.vni && v.port === (spec.port ?? 8472) && (v.local ?? '') === (spec.local ?? '')
    && (spec.device === undefined || v.device === spec.device) && v.learning === (spec.learning ?? false) && v.gbp === (spec.gbp ?? false);
}

function isLinkLocal(cidr: string): boolean {
  return cidr.toLowerCase().startsWith('fe80:');
}

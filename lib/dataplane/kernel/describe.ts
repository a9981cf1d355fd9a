import type { KernelOp } from './types';

/** One-line human description of an op, for errors and logs. */
export function describeOp(op: KernelOp): string {
  switch (op.op) {
    case 'link.add':
      return `${op.link.kind} ${op.link.name}`;
    case 'link.set':
      return op.change.name;
    case 'link.del':
      return op.name;
    case 'addr.replace':
    case 'addr.del':
      return `${op.address.cidr} dev ${op.address.dev}`;
    case 'route.replace':
    case 'route.del':
      return `${op.route.type && op.route.type !== 'unicast' ? op.route.type + ' ' : ''}${op.route.dst}${op.route.via ? ' via ' + op.route.via : ''}${op.route.dev ? ' dev ' + op.route.dev : ''}`
        + (op.route.nexthops ?? []).map((h) => ` nexthop${h.via ? ' via ' + h.via : ''}${h.dev ? ' dev ' + h.dev : ''}`).join('');
    case 'neigh.replace':
    case 'neigh.del':
      return `${op.neighbour.address} lladdr ${op.neighbour.mac} dev ${op.neighbour.dev}`;
    case 'fdb.replace':
    case 'fdb.append':
    case 'fdb.del':
      return `${op.entry.mac} dev ${op.entry.dev}${op.entry.dst ? ' dst ' + op.entry.dst : ''}`;
  }
}

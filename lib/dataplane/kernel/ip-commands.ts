import { normalizeRoute } from './normalize';
import { KernelOp, LinkSpec, Route } from './types';

/** Which iproute2 tool runs an op: `bridge` for FDB entries, `ip` for everything else. */
export function toolOf(op: KernelOp): 'ip' | 'bridge' {
  return op.op.startsWith('fdb.') ? 'bridge' : 'ip';
}

/** The batch lines (`ip -batch` / `bridge -batch` syntax, without the tool name) for one op. */
export function commandLines(op: KernelOp): string[] {
  switch (op.op) {
    case 'link.add':
      return linkAddLines(op.link);
    case 'link.set': {
      const c = op.change;
      const lines: string[] = [];
      const attrs = [
        c.mac !== undefined ? `address ${c.mac}` : '',
        c.mtu !== undefined ? `mtu ${c.mtu}` : '',
        c.master === null ? 'nomaster' : c.master !== undefined ? `master ${c.master}` : '',
      ].filter(Boolean);
      if (attrs.length) lines.push(`link set dev ${c.name} ${attrs.join(' ')}`);
      if (c.hairpin !== undefined) lines.push(`link set dev ${c.name} type bridge_slave hairpin ${c.hairpin ? 'on' : 'off'}`);
      if (c.up !== undefined) lines.push(`link set dev ${c.name} ${c.up ? 'up' : 'down'}`);
      return lines;
    }
    case 'link.del':
      return [`link del dev ${op.name}`];
    case 'addr.replace':
      return [`addr replace ${op.address.cidr} dev ${op.address.dev}${op.address.nodad ? ' nodad' : ''}`];
    case 'addr.del':
      return [`addr del ${op.address.cidr} dev ${op.address.dev}`];
    case 'route.replace':
      return [`route replace ${routeArgs(op.route, true)}`];
    case 'route.del':
      return [`route del ${routeArgs(op.route, false)}`];
    case 'neigh.replace':
      return [`neigh replace ${op.neighbour.address} lladdr ${op.neighbour.mac} dev ${op.neighbour.dev} nud permanent`];
    case 'neigh.del':
      return [`neigh del ${op.neighbour.address} dev ${op.neighbour.dev}`];
    case 'fdb.replace':
    case 'fdb.append':
      return [`fdb ${op.op === 'fdb.replace' ? 'replace' : 'append'} ${op.entry.mac} dev ${op.entry.dev}${op.entry.dst ? ` dst ${op.entry.dst}` : ''} self permanent`];
    case 'fdb.del':
      return [`fdb del ${op.entry.mac} dev ${op.entry.dev}${op.entry.dst ? ` dst ${op.entry.dst}` : ''} self`];
  }
}

function linkAddLines(link: LinkSpec): string[] {
  const common = `${link.mac ? ` address ${link.mac}` : ''}${link.mtu ? ` mtu ${link.mtu}` : ''}`;
  let type: string;
  switch (link.kind) {
    case 'bridge':
    case 'dummy':
      type = link.kind;
      break;
    case 'veth': {
      const p = link.peer;
      type = `veth peer name ${p.name}${p.mac ? ` address ${p.mac}` : ''}${(p.mtu ?? link.mtu) ? ` mtu ${p.mtu ?? link.mtu}` : ''}${p.netns ? ` netns ${p.netns}` : ''}`;
      break;
    }
    case 'vxlan':
      type = `vxlan id ${link.vni} dstport ${link.port ?? 8472}${link.local ? ` local ${link.local}` : ''}${link.device ? ` dev ${link.device}` : ''}`
        + ` ${link.learning ? 'learning' : 'nolearning'}${link.gbp ? ' gbp' : ''}`;
      break;
  }
  const lines = [`link add ${link.name}${common} type ${type}`];
  if (link.alias !== undefined && !/^[\x21-\x7e]{1,128}$/.test(link.alias)) throw new Error(`kernel: link ${link.name}: alias ${JSON.stringify(link.alias)} must be 1-128 printable characters without spaces`);
  const after = [link.master ? `master ${link.master}` : '', link.alias ? `alias ${link.alias}` : '', link.up ? 'up' : ''].filter(Boolean);
  if (after.length) lines.push(`link set dev ${link.name} ${after.join(' ')}`);
  return lines;
}

function routeArgs(route: Route, full: boolean): string {
  const r = normalizeRoute(route);
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  parts.push(r.dst);
  if (r.via) parts.push(`via ${r.via}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  parts.push(`proto ${r.protocol}`, `table ${r.table}`, `metric ${r.metric}`);
  if (full) {
    if (r.onlink) parts.push('onlink');
    if (route.scope) parts.push(`scope ${route.scope}`);
    if (r.src) parts.push(`src ${r.src}`);
    if (r.mtu) parts.push(`mtu ${r.mtu}`);
    // next hops must come last; a delete leaves them out so that it removes the whole route
    for (const hop of r.nexthops ?? []) {
      parts.push(['nexthop', hop.via ? `via ${hop.via}` : '', hop.dev ? `dev ${hop.dev}` : '', `weight ${hop.weight}`, hop.onlink ? 'onlink' : ''].filter(Boolean).join(' '));
    }
  }
  return parts.join(' ');
}

/** The kernel said the object is already gone: a delete of it succeeded in effect. */
export function isAlreadyGone(message: string): boolean {
  return /No such (file|device|process)|Cannot find device|not found|Cannot assign requested address|does not exist/i.test(message);
}

export function isAlreadyThere(message: string): boolean {
  return /File exists/.test(message);
}

/**
 * Splits the stderr of `ip -force -batch -` into the failure message of each batch line
 * (1-based), using the `Command failed -:<line>` marker iproute2 prints after each failure.
 */
export function batchFailures(stderr: string): Map<number, string> {
  const failures = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const marker = /^Command failed -:(\d+)$/.exec(line.trim());
    if (marker) {
      failures.set(Number(marker[1]), pending.join(' ').replace(/^RTNETLINK answers: /, '').trim() || 'failed');
      pending = [];
    } else if (line.trim()) {
      pending.push(line.trim());
    }
  }
  return failures;
}

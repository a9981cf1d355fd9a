import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run } from './exec';
import { listNetns } from './resources';
import { topLevelCgroups } from './cgroups';

/**
 * What the machine's own network namespace holds: links, routes of both families, the nftables rule
 * set and the iptables rules (without counters). Labs must leave it exactly as it was.
 */
export async function captureHostNetwork(): Promise<Record<string, string>> {
  const text = async (argv: string[]) => (await run(argv, { allowFailure: true })).stdout;
  const links = (await text(['ip', '-o', 'link', 'show']))
    .split('\n')
    .filter(Boolean)
    // Name, flags and kind; not the queue length or state a carrier flap may change.
    .map((line) => line.replace(/^\d+: /, '').replace(/ state \S+/, '').replace(/ qlen \d+/, ''))
    .sort()
    .join('\n');
  const withoutCounters = (rules: string) => rules.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1')).join('\n');
  return {
    links,
    'routes (IPv4)': await text(['ip', '-4', 'route', 'show', 'table', 'all']),
    'routes (IPv6)': (await text(['ip', '-6', 'route', 'show', 'table', 'all'])).split('\n').filter((l) => !/^(local|multicast) /.test(l) && !l.includes(' expires ')).join('\n'),
    'nftables': await text(['nft', 'list', 'ruleset']),
    'iptables': withoutCounters(await text(['iptables-save'])),
    'ip6tables': withoutCounters(await text(['ip6tables-save'])),
  };
}

/** The keys whose content differs between two captures, each with its first differing line. */
export function hostNetworkChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before).filter((key) => before[key] !== after[key]).map((key) => {
    const a = before[key].split('\n');
    const b = after[key].split('\n');
    const added = b.find((line) => !a.includes(line));
    const removed = a.find((line) => !b.includes(line));
    return `${key}: ${added !== undefined ? `added "${added}"` : `removed "${removed}"`}`;
  });
}

/**
 * Everything carrying the lab id `id` that is still on the machine: network namespaces, processes,
 * mounts, cgroups and files in the temp directory.
 */
export function labLeftovers(id: string): string[] {
  const found: string[] = [];
  for (const netns of listNetns()) if (netns.includes(id)) found.push(`network namespace ${netns}`);
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(id) && Number(pid) !== process.pid) found.push(`process ${pid}: ${cmdline.slice(0, 120)}`);
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(id)) found.push(`mount ${line.split(' ')[4]}`);
  for (const cgroup of topLevelCgroups(new RegExp(`^${id}`))) found.push(`cgroup /${cgroup}`);
  for (const entry of fs.readdirSync(os.tmpdir())) if (entry.includes(id)) found.push(`file ${path.join(os.tmpdir(), entry)}`);
  return found;
}

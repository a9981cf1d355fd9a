import * as fs from 'fs';
import * as path from 'path';

/**
 * cgroup helpers for the cluster lab's nodes: each node's kubelet and containers live under
 * `/<lab id>-<node>` in every hierarchy, so a node (or a crashed lab) is found and removed by name.
 */
export const CGROUP_HIERARCHIES = '/sys/fs/cgroup';

/** The cgroup v1 hierarchies (and the cgroup2 `unified` one) mounted here. */
export function cgroupHierarchies(): string[] {
  try {
    return fs.readdirSync(CGROUP_HIERARCHIES).filter((name) => fs.existsSync(path.join(CGROUP_HIERARCHIES, name, 'cgroup.procs')));
  } catch {
    return [];
  }
}

/** Removes `root` (a path like `/<lab id>-n1`) and everything below it in every hierarchy, deepest first. */
export function removeCgroups(root: string): void {
  const remove = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) remove(path.join(dir, entry.name));
    try {
      fs.rmdirSync(dir);
    } catch {
      // still busy (a process that would not die) or already gone
    }
  };
  for (const hierarchy of cgroupHierarchies()) remove(path.join(CGROUP_HIERARCHIES, hierarchy, root));
}

/** Every process in `root` and below, in any hierarchy. */
export function cgroupPids(root: string): number[] {
  const pids: number[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      pids.push(...fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
    } catch {
      // gone meanwhile
    }
    for (const entry of entries) if (entry.isDirectory()) walk(path.join(dir, entry.name));
  };
  for (const hierarchy of cgroupHierarchies()) walk(path.join(CGROUP_HIERARCHIES, hierarchy, root));
  return [...new Set(pids)];
}

/** Top-level cgroup names (in any hierarchy) that match `pattern`. */
export function topLevelCgroups(pattern: RegExp): string[] {
  const names = new Set<string>();
  for (const hierarchy of cgroupHierarchies()) {
    for (const entry of fs.readdirSync(path.join(CGROUP_HIERARCHIES, hierarchy), { withFileTypes: true })) {
      if (entry.isDirectory() && pattern.test(entry.name)) names.add(entry.name);
    }
  }
  return [...names];
}

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

/** Visits `dir` and every cgroup below it, children before their parent. */
function walkDepthFirst(dir: string, visit: (dir: string) => void): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.isDirectory()) walkDepthFirst(path.join(dir, entry.name), visit);
  visit(dir);
}

/** Removes `root` (a path like `/<lab id>-n1`) and everything below it in every hierarchy, deepest first. */
export function removeCgroups(root: string): void {
  for (const hierarchy of cgroupHierarchies()) {
    walkDepthFirst(path.join(CGROUP_HIERARCHIES, hierarchy, root), (dir) => {
      try {
        fs.rmdirSync(dir);
      } catch {
        // still busy (a process that would not die) or already gone
      }
    });
  }
}

/** Every process in `root` and below, in any hierarchy. */
export function cgroupPids(root: string): number[] {
  const pids = new Set<number>();
  for (const hierarchy of cgroupHierarchies()) {
    walkDepthFirst(path.join(CGROUP_HIERARCHIES, hierarchy, root), (dir) => {
      try {
        for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(pid));
      } catch {
        // gone meanwhile
      }
    });
  }
  return [...pids];
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

import { Lab, LabNode } from '../../../lib/lab';
import { LabProcess } from '../../../lib/lab/process';

/** What an outage test checks on each node: the routes a stack's agent owns, as a stable string. */
export async function ownedRoutes(lab: Lab, node: LabNode, protocols: readonly string[]): Promise<string> {
  const routes = await lab.routes(node);
  return routes.filter((r) => r.protocol !== undefined && protocols.includes(r.protocol))
    .map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`).sort().join('; ');
}

/** Every node's owned routes now. */
export function routeSnapshot(lab: Lab, protocols: readonly string[]): Promise<string[]> {
  return Promise.all(lab.nodes.map((n) => ownedRoutes(lab, n, protocols)));
}

/**
 * Samples every node's owned routes (about twice a second) until `stop`, which returns each sample
 * that differed from `baseline`: an outage test expects none.
 */
export function sampleRoutes(lab: Lab, protocols: readonly string[], baseline: readonly string[]): { stop(): Promise<string[]>; samples(): number } {
  const changes: string[] = [];
  let stopped = false;
  let samples = 0;
  const loop = (async () => {
    while (!stopped) {
      const now = await routeSnapshot(lab, protocols);
      samples++;
      now.forEach((routes, i) => {
        if (routes !== baseline[i]) changes.push(`${lab.nodes[i].name}: ${baseline[i]} -> ${routes}`);
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  return {
    samples: () => samples,
    stop: async () => {
      stopped = true;
      await loop;
      return changes;
    },
  };
}

/** The agent's log lines whose `msg` matches. */
export function logLines(agent: LabProcess, msg: RegExp, from = 0): string[] {
  return agent.output().slice(from).filter((line) => {
    try {
      return msg.test((JSON.parse(line) as { msg?: string }).msg ?? '');
    } catch {
      return false;
    }
  });
}

/** Resolves once every agent has logged a line whose msg matches, counting from `from[i]`. */
export async function eachLogged(agents: readonly LabProcess[], msg: RegExp, timeoutMs: number, from: readonly number[] = []): Promise<void> {
  await Promise.all(agents.map((agent, i) => agent.waitForLine(new RegExp(`"msg":"${msg.source}`), timeoutMs, from[i] ?? 0)));
}

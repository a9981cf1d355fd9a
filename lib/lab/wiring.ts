import { inNetns, ipBatch, run } from './exec';
import { WiringStep } from './topology';

/** Carries out the plan's wiring steps (topology.ts), in order, inside the namespaces they name. */
export async function applyWiring(steps: readonly WiringStep[]): Promise<void> {
  for (const step of steps) {
    if (step.kind === 'netns') await run(['ip', 'netns', 'add', step.netns]);
    else if (step.kind === 'batch') await ipBatch(step.lines, step.netns);
    else await run(inNetns(step.netns, ['sysctl', '-q', '-w', `${step.key}=${step.value}`]));
  }
}

import * as fs from 'fs';
import { parseArgs } from 'util';
import { formatVerification, parsePolicyMatrix, readPolicyManifests, verifyPolicies } from './policy-harness';
import { PolicyLabStack } from './policy-lab';

export const POLICY_USAGE = 'npm run lab -- policy --matrix <matrix.yaml> --policies <file|dir> [--policies …] [--stack calico|flannel|both] [--nodes N] [--timeout-ms 800]';

/**
 * `lab policy`: builds the declared pods on real namespaces, applies the policies, probes every
 * pair and prints expected (reference evaluator) beside observed (kernel) truth tables. Exit 0
 * when the kernel agrees everywhere and every declared intent holds.
 */
export async function runPolicyCli(args: readonly string[], print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      matrix: { type: 'string' },
      policies: { type: 'string', multiple: true, default: [] },
      stack: { type: 'string', default: 'both' },
      'timeout-ms': { type: 'string', default: '800' },
      nodes: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    print(POLICY_USAGE);
    return 0;
  }
  if (!values.matrix) throw new Error(`--matrix: missing; ${POLICY_USAGE}`);
  if (!['calico', 'flannel', 'both'].includes(values.stack as string)) throw new Error(`--stack: "${values.stack}" is not valid; expected calico, flannel or both`);
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 10_000) throw new Error(`--timeout-ms: "${values['timeout-ms']}" is not valid; expected 100 to 10000`);
  const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
  if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 1 || nodes > 10)) throw new Error(`--nodes: "${values.nodes}" is not valid; expected 1 to 10 (a real lab cluster)`);
  const matrix = parsePolicyMatrix(fs.readFileSync(values.matrix, 'utf8'), values.matrix);
  const objects = readPolicyManifests(values.policies as string[]);
  print(`${objects.policies.length} policies, ${objects.networkSets.length} network sets, ${matrix.pods.length} pods, ${matrix.probes.length} probe kinds`);
  const stacks: PolicyLabStack[] = values.stack === 'both' ? ['calico', 'flannel'] : [values.stack as PolicyLabStack];
  let ok = true;
  for (const stack of stacks) {
    const v = await verifyPolicies(matrix, objects, stack, { timeoutMs, nodes });
    print(formatVerification(v));
    ok = ok && v.mismatches === 0 && v.unmetIntents.length === 0;
  }
  return ok ? 0 : 1;
}

// One Pulumi operation on one stack, run by the real engine through the SDK's Automation API with the
// bundled program inline (the SDK serves as the language host). LabStack (lab-stack.ts) starts it
// inside the cluster lab's gateway namespace, where the API server is, with a StackRequest as JSON on
// stdin; it writes one StackResult as JSON on stdout and the engine's own output on stderr.
import { EngineEvent, LocalWorkspace, OpMap, PulumiCommand } from '@pulumi/pulumi/automation';
import * as pulumi from '@pulumi/pulumi';
import { deployEnvironment } from './program';
import { engineEnv, PulumiEngine } from '../../lib/lab/cluster/pulumi-engine';

export type StackOperation = 'preview' | 'up' | 'destroy';

/** An inline program: a module's export called with the stack's configuration and the repository root. */
export interface InlineProgram {
  /** Absolute path of the module. */
  readonly module: string;
  readonly export: string;
}

export interface StackRequest {
  readonly operation: StackOperation;
  /** The project's name (its Pulumi.yaml's). */
  readonly project: string;
  /** @default the bundled program (deployEnvironment) */
  readonly program?: InlineProgram;
  readonly engine: PulumiEngine;
  /** Holds Pulumi.yaml and Pulumi.<stack>.yaml (the stack's configuration). */
  readonly workDir: string;
  readonly stack: string;
  /** `file://…`: the state backend. */
  readonly backend: string;
  readonly kubeconfig: string;
  /** Where the program finds `dist/images/digests.json`, as `pulumi up` in the repository does. */
  readonly repoRoot: string;
}

/** A step the engine planned or took on one resource, other than leaving it as it is. */
export interface ResourceChange {
  readonly urn: string;
  readonly type: string;
  readonly op: string;
  /** Property paths that differ (the provider's detailed diff). */
  readonly paths: readonly string[];
}

export interface StackResult {
  readonly operation: StackOperation;
  readonly ok: boolean;
  /** The engine's error, when not ok. */
  readonly error?: string;
  readonly seconds: number;
  /** Resources per operation kind, as the engine counted them (`same`, `create`, `update`, …). */
  readonly summary: OpMap;
  readonly changes: readonly ResourceChange[];
  readonly outputs: Record<string, unknown>;
}

export async function runStackOperation(request: StackRequest, log: (line: string) => void): Promise<StackResult> {
  const started = Date.now();
  const changes: ResourceChange[] = [];
  const onEvent = (event: EngineEvent): void => {
    const step = event.resourcePreEvent?.metadata;
    if (step === undefined || step.op === 'same' || step.op === 'read') return;
    changes.push({ urn: step.urn, type: step.type, op: step.op, paths: Object.keys(step.detailedDiff ?? {}) });
  };
  const onOutput = (text: string): void => text.split('\n').filter(Boolean).forEach(log);
  const result = (fields: Partial<StackResult>): StackResult => ({
    operation: request.operation, ok: true, seconds: (Date.now() - started) / 1000, summary: {}, changes, outputs: {}, ...fields,
  });
  try {
    const stack = await LocalWorkspace.createOrSelectStack(
      {
        stackName: request.stack,
        projectName: request.project,
        program: async () => (await programOf(request))(pulumi.runtime.allConfig(), request.repoRoot),
      },
      {
        workDir: request.workDir,
        pulumiHome: request.engine.home,
        pulumiCommand: await PulumiCommand.get({ root: request.engine.root, skipVersionCheck: true }),
        secretsProvider: 'passphrase',
        envVars: {
          ...engineEnv(request.engine),
          PULUMI_BACKEND_URL: request.backend,
          PULUMI_CONFIG_PASSPHRASE: 'cnikit-lab',
          KUBECONFIG: request.kubeconfig,
        },
      },
    );
    switch (request.operation) {
      case 'preview': {
        const preview = await stack.preview({ onEvent, onOutput, diff: true });
        return result({ summary: preview.changeSummary, outputs: {} });
      }
      case 'up': {
        const up = await stack.up({ onEvent, onOutput });
        const outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value as unknown]));
        return result({ summary: up.summary.resourceChanges ?? {}, outputs });
      }
      case 'destroy': {
        const destroy = await stack.destroy({ onEvent, onOutput });
        return result({ summary: destroy.summary.resourceChanges ?? {} });
      }
    }
  } catch (error) {
    return result({ ok: false, error: error instanceof Error ? error.message.split('\n').filter(Boolean).slice(-12).join(' | ') : String(error) });
  }
}

type ProgramFunction = (config: Record<string, string>, repoRoot: string) => object;

async function programOf(request: StackRequest): Promise<ProgramFunction> {
  if (request.program === undefined) return deployEnvironment;
  const loaded = ((await import(request.program.module)) as Record<string, unknown>)[request.program.export];
  if (typeof loaded !== 'function') throw new Error(`${request.program.module}: exports no function ${request.program.export}`);
  return loaded as ProgramFunction;
}

if (require.main === module) {
  let input = '';
  process.stdin.setEncoding('utf8').on('data', (chunk: string) => (input += chunk)).on('end', () => {
    const request = JSON.parse(input) as StackRequest;
    runStackOperation(request, (line) => process.stderr.write(`${line}\n`)).then(
      (result) => {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  });
}

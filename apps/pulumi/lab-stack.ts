import { spawn } from 'child_process';
import * as fs from 'fs';
import { createInterface } from 'readline';
import * as path from 'path';
import { parse, stringify } from 'yaml';
import { ClusterLab } from '../../lib/lab/cluster/cluster-lab';
import { PulumiEngine } from '../../lib/lab/cluster/pulumi-engine';
import type { InlineProgram, StackOperation, StackRequest, StackResult } from './automation';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Which program a LabStack runs, and where its project lives. */
export interface LabStackOptions {
  /** The stack's name; the project's committed `Pulumi.<stack>.yaml`, if any, configures it. */
  readonly stack: string;
  /** Holds the project's Pulumi.yaml. @default the repository (the bundled program) */
  readonly projectDir?: string;
  /** @default the bundled program */
  readonly program?: InlineProgram;
}

/**
 * One stack of a program on a cluster lab, driven by the real engine: a copy of the project's
 * Pulumi.yaml and Pulumi.<stack>.yaml in the lab's run directory (so a configuration change never
 * touches the committed files), state in a file backend beside it. Each operation runs in its own
 * process (automation.ts) inside the lab's gateway namespace, where the API server is.
 */
export class LabStack {
  public readonly name: string;
  private readonly workDir: string;
  private readonly project: string;
  private readonly committedConfig: Record<string, unknown>;

  constructor(private readonly lab: ClusterLab, private readonly engine: PulumiEngine, private readonly options: LabStackOptions) {
    this.name = options.stack;
    const projectDir = options.projectDir ?? REPO_ROOT;
    this.workDir = path.join(lab.dir, 'pulumi', this.name);
    fs.mkdirSync(path.join(this.workDir, 'state'), { recursive: true });
    // The project file as committed, less `main`: the program runs inline, not from a path.
    const { main: _main, ...project } = parse(fs.readFileSync(path.join(projectDir, 'Pulumi.yaml'), 'utf8')) as Record<string, unknown>;
    this.project = String(project.name);
    fs.writeFileSync(path.join(this.workDir, 'Pulumi.yaml'), stringify(project));
    const committed = path.join(projectDir, `Pulumi.${this.name}.yaml`);
    this.committedConfig = fs.existsSync(committed) ? (parse(fs.readFileSync(committed, 'utf8')) as { config?: Record<string, unknown> }).config ?? {} : {};
  }

  /**
   * Runs `operation` with the committed stack configuration plus `config` (e.g.
   * `{ 'cnikit:imageRegistry': '…' }`); the stack file is rewritten each time, so a key given once
   * is gone the next time it is not given.
   */
  public async run(operation: StackOperation, config: Readonly<Record<string, string>> = {}, log: (line: string) => void = () => undefined): Promise<StackResult> {
    const file = path.join(this.workDir, `Pulumi.${this.name}.yaml`);
    // The passphrase provider's salt, written into the stack file when the stack was created.
    const salt = fs.existsSync(file) ? (parse(fs.readFileSync(file, 'utf8')) as { encryptionsalt?: string }).encryptionsalt : undefined;
    fs.writeFileSync(file, stringify({ ...(salt ? { encryptionsalt: salt } : {}), config: { ...this.committedConfig, ...config } }));
    const request: StackRequest = {
      operation,
      project: this.project,
      ...(this.options.program ? { program: this.options.program } : {}),
      engine: this.engine,
      workDir: this.workDir,
      stack: this.name,
      backend: `file://${path.join(this.workDir, 'state')}`,
      kubeconfig: this.lab.kubeconfig,
      repoRoot: REPO_ROOT,
    };
    const script = path.join(__dirname, `automation${path.extname(__filename)}`);
    const node = [process.execPath, ...(script.endsWith('.ts') ? ['-r', require.resolve('ts-node/register/transpile-only')] : []), script];
    const outcome = await runStreaming(['ip', 'netns', 'exec', this.lab.plan.gwNetns, ...node], JSON.stringify(request), log);
    const last = outcome.stdout.trim().split('\n').pop() ?? '';
    if (outcome.code !== 0 || !last.startsWith('{')) {
      throw new Error(`pulumi ${operation} --stack ${this.name}: the runner exited ${outcome.code}: ${outcome.tail.join(' | ')}`);
    }
    return JSON.parse(last) as StackResult;
  }
}

/** Runs `argv` with `input` on stdin, passing each stderr line on as it comes (an `up` awaits for minutes). */
function runStreaming(argv: readonly string[], input: string, log: (line: string) => void): Promise<{ code: number; stdout: string; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    const tail: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    createInterface({ input: child.stderr }).on('line', (line) => {
      log(line);
      tail.push(line);
      if (tail.length > 5) tail.shift();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, tail }));
    child.stdin.end(input);
  });
}

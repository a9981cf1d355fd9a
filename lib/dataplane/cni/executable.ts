import { readFileSync } from 'node:fs';
import { SUPPORTED_VERSIONS } from './types';

/** What a plugin run produced: the JSON for stdout (if any) and the exit code. */
export interface CniRun {
  readonly stdout?: string;
  readonly exitCode: number;
}

/**
 * The shared shell of the plugin executables: read stdin, answer VERSION before anything else is
 * loaded (start-up is most of a per-pod executable's cost), otherwise hand over to `run`, which
 * should load the plugin lazily.
 */
export function runCniExecutable(run: (stdin: string) => Promise<CniRun>): void {
  const stdin = readStdin();
  const done = process.env.CNI_COMMAND === 'VERSION'
    ? Promise.resolve({ stdout: JSON.stringify({ cniVersion: requestedVersion(stdin), supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 })
    : run(stdin);
  done.then((outcome) => {
    if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`);
    process.exitCode = outcome.exitCode;
  }, (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function requestedVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

import { readSync } from 'node:fs';
import { CNI_ERROR, CniError, MAX_CONF_BYTES, oversizeConf } from './errors';
import { SUPPORTED_VERSIONS } from './types';

/** What a plugin run produced: the JSON for stdout (if any) and the exit code. */
export interface CniRun {
  readonly stdout?: string;
  readonly exitCode: number;
}

/**
 * The shared shell of the plugin executables: read stdin (at most MAX_CONF_BYTES), answer VERSION
 * before anything else is loaded (start-up is most of a per-pod executable's cost), otherwise hand
 * over to `run`, which should load the plugin lazily. The process exits once the answer is written:
 * a datastore call abandoned at its deadline must not keep the runtime waiting for the exit.
 */
export function runCniExecutable(run: (stdin: string) => Promise<CniRun>): void {
  const stdin = readStdin();
  const done: Promise<CniRun> = stdin === undefined
    ? Promise.resolve({ stdout: JSON.stringify(oversizeConf().toJSON('1.1.0')), exitCode: 1 })
    : process.env.CNI_COMMAND === 'VERSION'
      ? Promise.resolve({ stdout: JSON.stringify({ cniVersion: requestedVersion(stdin), supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 })
      : run(stdin);
  done.then((outcome) => {
    const exit = () => process.exit(outcome.exitCode);
    if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`, exit);
    else exit();
  }, (error: unknown) => {
    process.stdout.write(`${JSON.stringify(new CniError(CNI_ERROR.internal, String(error)).toJSON('1.1.0'))}\n`, () => process.exit(1));
  });
}

/** stdin, or undefined when it holds more than MAX_CONF_BYTES (the rest is not read). */
function readStdin(): string | undefined {
  const chunks: Buffer[] = [];
  let size = 0;
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buffer, 0, buffer.length, null);
    } catch {
      break; // no readable stdin (closed, or non-blocking and empty): what was read is the configuration
    }
    if (n === 0) break;
    size += n;
    if (size > MAX_CONF_BYTES) return undefined;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function requestedVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

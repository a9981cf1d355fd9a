import { execFile } from 'node:child_process';

/** Runs a program without a shell and returns its stdout; the error names the command and its stderr. */
export function run(file: string, args: readonly string[], options: { cwd?: string } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd, encoding: 'buffer', maxBuffer: 1 << 30 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${stderr.toString().trim() || error.message}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

import * as fs from 'fs';
import * as path from 'path';
import { ValidationError } from '../lib/model/errors';
import { ENVIRONMENTS, Environment, buildEnvironment } from './environments';
import { readImageDigests } from './image-digests';

/**
 * Synthesizes environments into `<outDir>/<environment>/`. Everything is built in memory first, so
 * bad input fails before any file is touched; the manifests are then written to a temporary
 * directory beside `outDir` and each environment's directory is swapped in by rename. Other content
 * of `outDir` (e.g. dist/images) is left alone.
 */
export function synthEnvironments(environments: readonly Environment[], outDir: string, imageDigests: Readonly<Record<string, string>> = {}): string[] {
  const target = path.resolve(outDir);
  const parent = path.dirname(target);
  const staging = path.join(parent, `.${path.basename(target)}.synth-${process.pid}`);
  const built = environments.map((environment) => buildEnvironment(environment, { outdir: path.join(staging, environment.name), imageDigests }));

  fs.mkdirSync(staging, { recursive: true });
  try {
    for (const { app } of built) app.synth();
    fs.mkdirSync(target, { recursive: true });
    for (const { environment } of built) {
      const final = path.join(target, environment.name);
      const previous = path.join(staging, `.previous-${environment.name}`);
      if (fs.existsSync(final)) fs.renameSync(final, previous);
      fs.renameSync(path.join(staging, environment.name), final);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return built.map(({ environment }) => path.join(target, environment.name));
}

interface Options {
  outDir: string;
  environmentsModule?: string;
}

function parseArgs(argv: readonly string[]): Options {
  // cdk8s synth runs this app with CDK8S_OUTDIR set to its (freshly emptied) output directory.
  const options: Options = { outDir: process.env.CDK8S_OUTDIR ?? 'dist' };
  for (const arg of argv) {
    const [flag, value] = arg.split(/=(.*)/s, 2);
    if (flag === '--out' && value) options.outDir = value;
    else if (flag === '--environments' && value) options.environmentsModule = value;
    else throw new ValidationError('synth', arg, '--out=<dir> or --environments=<module exporting ENVIRONMENTS>');
  }
  return options;
}

function loadEnvironments(module: string | undefined): readonly Environment[] {
  if (module === undefined) return ENVIRONMENTS;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(path.resolve(module)) as { ENVIRONMENTS?: readonly Environment[] };
  if (!Array.isArray(loaded.ENVIRONMENTS)) throw new ValidationError('--environments', module, 'a module exporting ENVIRONMENTS');
  return loaded.ENVIRONMENTS;
}

function main(): void {
  try {
    const options = parseArgs(process.argv.slice(2));
    const written = synthEnvironments(loadEnvironments(options.environmentsModule), options.outDir,
      readImageDigests(path.resolve(__dirname, '..')));
    for (const dir of written) console.log(`synthesized ${path.relative(process.cwd(), dir) || dir}`);
  } catch (error) {
    // Bad input is one line naming the field, the value and what is expected; anything else is a bug.
    console.error(error instanceof ValidationError ? `cnikit synth: ${error.message}` : error);
    process.exitCode = 1;
  }
}

if (require.main === module) main();

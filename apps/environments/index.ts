import { dev } from './dev';
import { Environment } from './environment';
import { prod } from './prod';
import { staging } from './staging';

export * from './environment';
export * from './build';

/** The bundled environments, in the order they are synthesized. */
export const ENVIRONMENTS: readonly Environment[] = [dev, staging, prod];

/** The bundled environment called `name`. */
export function environment(name: string): Environment {
  const found = ENVIRONMENTS.find((env) => env.name === name);
  if (!found) throw new Error(`no environment "${name}"; expected one of ${ENVIRONMENTS.map((env) => env.name).join(', ')}`);
  return found;
}

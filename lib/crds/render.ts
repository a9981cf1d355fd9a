import { stringify } from 'yaml';
import { calicoCrdManifests } from './calico';

export const CALICO_CRD_YAML_PATH = 'lib/crds/calico.crds.yaml';

/**
 * The Calico CRDs as one multi-document YAML file: the input of `cdk8s import` that generates
 * `lib/imports/crd.projectcalico.org.ts`. Deterministic, so a test can tell when it is stale.
 */
export function calicoCrdYaml(): string {
  const header = '# Generated from lib/crds/calico.ts by `npm run gen:calico-imports`. Do not edit.\n';
  return header + calicoCrdManifests().map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}

// Regenerates lib/crds/calico.crds.yaml from the schemas in lib/crds/calico.ts, then the typed
// instance classes in lib/imports with `cdk8s import` (offline). Usage: npm run gen:calico-imports
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CALICO_CRD_YAML_PATH, calicoCrdYaml } from '../lib/crds/render';

export function importCalicoCrds(root: string, crdFile: string, outputDir: string): void {
  execFileSync(join(root, 'node_modules/.bin/cdk8s'),
    ['import', crdFile, '--language', 'typescript', '--output', outputDir, '--no-check-upgrade'],
    { cwd: root, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, stdio: ['ignore', 'pipe', 'inherit'] });
}

if (require.main === module) {
  const root = join(__dirname, '..');
  writeFileSync(join(root, CALICO_CRD_YAML_PATH), calicoCrdYaml());
  importCalicoCrds(root, CALICO_CRD_YAML_PATH, 'lib/imports');
  console.log(`wrote ${CALICO_CRD_YAML_PATH} and lib/imports/crd.projectcalico.org.ts`);
}

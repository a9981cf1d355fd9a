// Regenerates lib/crds/calico.crds.yaml from the schemas in lib/crds/calico.ts, then the typed
// instance classes in lib/imports with `cdk8s import` (offline). Usage: npm run gen:calico-imports
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CALICO_CRD_YAML_PATH, calicoCrdYaml } from '../lib/crds/render';

export function importCalicoCrds(root: string, crdFile: string, outputDir: string): void {
  // `cdk8s import` records what it imported in the cdk8s.yaml of its working directory; run it in a
  // scratch directory so the repository's cdk8s.yaml never picks up machine-specific paths.
  const scratch = mkdtempSync(join(tmpdir(), 'cnikit-cdk8s-import-'));
  try {
    execFileSync(join(root, 'node_modules/.bin/cdk8s'),
      ['import', resolve(root, crdFile), '--language', 'typescript', '--output', resolve(root, outputDir), '--no-check-upgrade'],
      { cwd: scratch, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, stdio: ['ignore', 'pipe', 'inherit'] });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const root = join(__dirname, '..');
  writeFileSync(join(root, CALICO_CRD_YAML_PATH), calicoCrdYaml());
  importCalicoCrds(root, CALICO_CRD_YAML_PATH, 'lib/imports');
  console.log(`wrote ${CALICO_CRD_YAML_PATH} and lib/imports/crd.projectcalico.org.ts`);
}

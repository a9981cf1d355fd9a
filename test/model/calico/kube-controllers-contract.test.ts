import { ENVIRONMENTS, buildEnvironment, environment, environmentObjects } from '../../../apps/environments';
import { parseGoDuration } from '../../../lib/dataplane/calico/felix-config';
import {
  CONTROLLERS_PROCESS_ENV, KUBE_CONTROLLERS_ENV, effectiveKubeControllersSettings,
} from '../../../lib/dataplane/calico/kube-controllers-config';

// A rendered setting is a promise: what the manifests ship in KubeControllersConfiguration `default`
// and in the calico-kube-controllers Deployment's env must be what the controllers obey. The parser
// the controllers run (kube-controllers-config.ts, apps/calico-controllers.ts) reads the rendered
// objects, and every rendered field is compared with the setting it produced.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const calicoEnvironments = ENVIRONMENTS.filter((e) => e.stack.kind === 'calico').map((e) => e.name);

test('the bundled Calico-style environments are staging and prod', () => {
  expect(calicoEnvironments).toEqual(['staging', 'prod']);
});

test.each(calicoEnvironments)('the %s environment: the controllers obey every rendered KubeControllersConfiguration field and env var', (name) => {
  const objects = environmentObjects(buildEnvironment(environment(name))) as Obj[];
  const configs = objects.filter((o) => o.kind === 'KubeControllersConfiguration');
  expect(configs.map((o) => o.metadata.name)).toEqual(['default']);
  const spec = configs[0].spec as Obj;
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'calico-kube-controllers') as Obj;
  const containers = deployment.spec.template.spec.containers as Obj[];
  expect(containers).toHaveLength(1);
  const envVars = containers[0].env as { name: string; value?: string }[];
  const env: NodeJS.ProcessEnv = Object.fromEntries(envVars.map((e) => [e.name, e.value]));

  // Every variable is read: by the process itself or by the settings parser; none comes from elsewhere.
  for (const e of envVars) {
    expect({ name: e.name, literal: e.value !== undefined }).toEqual({ name: e.name, literal: true });
    expect([...CONTROLLERS_PROCESS_ENV, ...KUBE_CONTROLLERS_ENV]).toContain(e.name);
  }

  const r = effectiveKubeControllersSettings({ spec, env });
  // Nothing refused, nothing present that the controllers leave unobeyed.
  expect(r.errors.map((e) => e.message)).toEqual([]);
  expect(r.ignored).toEqual([]);

  // Field by field.
  const s = r.settings;
  expect(Object.keys(spec).sort()).toEqual(['controllers', 'healthChecks']);
  expect(s.healthChecks).toBe(spec.healthChecks === 'Enabled');
  expect(Object.keys(spec.controllers)).toEqual(['node']);
  expect(Object.keys(spec.controllers.node).sort()).toEqual(['leakGracePeriod', 'reconcilerPeriod']);
  expect(s.leakGracePeriodSeconds).toBe(parseGoDuration(spec.controllers.node.leakGracePeriod));
  expect(s.reconcilerPeriodSeconds).toBe(parseGoDuration(spec.controllers.node.reconcilerPeriod));
  expect(env.ENABLED_CONTROLLERS).toBe('node');
  expect(s.nodeController).toBe(true);
  // The values, as promised in docs/calico-parity.md.
  expect(s).toEqual({ healthChecks: true, nodeController: true, leakGracePeriodSeconds: 900, reconcilerPeriodSeconds: 60, logLevel: 'info' });

  // Health: the probes hit the port the process serves its checks on.
  const port = Number(env.HEALTH_PORT);
  expect(containers[0].livenessProbe.httpGet).toMatchObject({ path: '/liveness', port });
  expect(containers[0].readinessProbe.httpGet).toMatchObject({ path: '/readiness', port });
});

import { buildAndSynth, prepareCluster, startCluster } from '../../apps/cluster';
import { Environment } from '../../apps/environments';
import { dev } from '../../apps/environments/dev';
import { staging } from '../../apps/environments/staging';
import { configChanges, pulumiExampleChecks, pulumiLabChecks } from '../../apps/pulumi-lab';
import { CheckResult, formatChecks } from '../../lib/lab/cluster/checks';
import { ClusterLab } from '../../lib/lab/cluster/cluster-lab';
import { ensurePulumiEngine } from '../../lib/lab/cluster/pulumi-engine';
import { labLeftovers } from '../../lib/lab/host-state';
import { describeLab } from '../lab/describe-lab';

const log = (line: string) => process.stdout.write(`    ${line}\n`);

/**
 * The bundled program deployed by the real Pulumi engine (the CLI and the Kubernetes provider built
 * from their Go modules, `npm run pulumi-engine`) onto a real 3-node cluster: one environment per stack.
 */
function pulumiSuite(environment: Environment): void {
  describeLab(`pulumi up for real: ${environment.name} (${environment.stack.kind}-style) on the cluster lab`, () => {
    let lab: ClusterLab | undefined;
    let labId = '';
    let results: CheckResult[] = [];
    const result = (name: string) => results.find((r) => r.name === name);
    const failed = (list: readonly CheckResult[]) => list.filter((r) => !r.ok && !r.skipped).map((r) => `${r.name}: ${r.detail}`);

    beforeAll(async () => {
      const engine = await ensurePulumiEngine({ log });
      const files = await buildAndSynth(environment, log);
      lab = await startCluster(environment, { nodes: 3, log });
      labId = lab.id;
      results = [...(await prepareCluster(lab, environment, files)), ...(await pulumiLabChecks(lab, environment, files, engine, log))];
      log(formatChecks(`pulumi lab: ${environment.name} on 3 nodes (${labId})`, results));
    }, 1_800_000);

    afterAll(async () => {
      await lab?.destroy();
    });

    test('preview plans every object of dist/<env>; up creates them and its readiness awaits pass', () => {
      expect(result('pulumi preview (new stack)')).toMatchObject({ ok: true });
      expect(result('pulumi up')).toMatchObject({ ok: true });
      expect(result('nodes Ready')).toMatchObject({ ok: true, detail: '3 nodes Ready' });
    });

    test('the stack outputs are as documented and every live object equals dist/<env>', () => {
      expect(result('stack outputs as documented')).toMatchObject({ ok: true });
      expect(result('live objects equal dist/<env>')).toMatchObject({ ok: true });
      expect(result('live comparison sees a value changed behind Pulumi (negative control)')).toMatchObject({ ok: true });
    });

    test('pods on every node reach each other, the kubernetes Service and the outside', () => {
      const pairs = results.filter((r) => /^(icmp4|tcp4) /.test(r.name));
      expect(pairs.length).toBeGreaterThanOrEqual(3 * 2 * 2);
      expect(failed(pairs)).toEqual([]);
    });

    test('a second up changes nothing; configuration changes plan exactly what synth changes; a bad value is refused', () => {
      expect(result('pulumi up again: no changes')).toMatchObject({ ok: true });
      const previews = results.filter((r) => r.name.startsWith('pulumi preview with cnikit:') && !r.name.includes('=ten'));
      expect(previews).toHaveLength(configChanges(environment).length);
      expect(failed(previews)).toEqual([]);
      expect(result('pulumi preview with cnikit:expectedNodes=ten is refused, naming the key')).toMatchObject({ ok: true });
    });

    test('the registry change applied rolls the workloads to the mirror and back, live objects equal to synth each time', () => {
      const setting = Object.entries(configChanges(environment)[0]).map(([k, v]) => `${k}=${v}`).join(' ');
      expect(result(`pulumi up with ${setting}`)).toMatchObject({ ok: true });
      expect(result(`live objects equal synth with ${setting}`)).toMatchObject({ ok: true });
      expect(result('pulumi up with the committed configuration again')).toMatchObject({ ok: true });
      expect(result('live objects equal dist/<env> again')).toMatchObject({ ok: true });
    });

    test('destroy removes every object of the stack; no check failed', () => {
      expect(result('pulumi destroy')).toMatchObject({ ok: true });
      expect(result('nothing of the stack left after destroy')).toMatchObject({ ok: true });
      expect(failed(results)).toEqual([]);
    });

    test('the lab leaves nothing behind', async () => {
      await lab?.destroy();
      expect(labLeftovers(labId)).toEqual([]);
    });
  });
}

pulumiSuite(dev);
pulumiSuite(staging);

describeLab('pulumi up for real: examples/pulumi-program (own provider, an Input from another resource, dependsOn)', () => {
  let lab: ClusterLab | undefined;
  let labId = '';
  let results: CheckResult[] = [];
  const result = (name: string) => results.find((r) => r.name === name);

  beforeAll(async () => {
    const engine = await ensurePulumiEngine({ log });
    await buildAndSynth(staging, log);
    // The example's Calico-style network uses staging's pool: a lab planned like staging's.
    lab = await startCluster(staging, { nodes: 3, log });
    labId = lab.id;
    results = await pulumiExampleChecks(lab, engine, log);
    log(formatChecks(`pulumi lab: examples/pulumi-program on 3 nodes (${labId})`, results));
  }, 1_800_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  test('up deploys the network and the policies that wait for it; the registry Input reaches the live DaemonSet', () => {
    expect(result('example: pulumi up')).toMatchObject({ ok: true });
    expect(result('example: the registry Input reached the DaemonSet')).toMatchObject({ ok: true });
    expect(result('DaemonSet kube-system/calico-node ready')).toMatchObject({ ok: true, detail: '3/3 pods ready' });
  });

  test('pods talk; a second up changes nothing; destroy leaves nothing; no check failed', () => {
    expect(results.filter((r) => /^(icmp4|tcp4) /.test(r.name)).length).toBeGreaterThanOrEqual(3 * 2 * 2);
    expect(result('example: pulumi up again: no changes')).toMatchObject({ ok: true });
    expect(result('example: pulumi destroy leaves nothing')).toMatchObject({ ok: true });
    expect(results.filter((r) => !r.ok && !r.skipped).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
  });

  test('the lab leaves nothing behind', async () => {
    await lab?.destroy();
    expect(labLeftovers(labId)).toEqual([]);
  });
});

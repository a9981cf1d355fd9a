import { describeKubeControllersSettings, effectiveKubeControllersSettings } from '../../dataplane/calico/kube-controllers-config';
import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const KCC = 'kubecontrollersconfigurations.crd.projectcalico.org';

interface LogLine {
  readonly msg?: string;
  readonly [field: string]: unknown;
}

interface PodJson {
  readonly metadata: { readonly name: string };
  readonly spec: { readonly containers: readonly { readonly env?: readonly { readonly name: string; readonly value?: string }[] }[] };
  readonly status?: { readonly containerStatuses?: readonly { readonly restartCount: number }[] };
}

const same = (line: LogLine, expected: Record<string, unknown>) => Object.entries(expected).every(([k, v]) => line[k] === v);
const shown = (line: LogLine | undefined, keys: readonly string[]) => (line ? keys.map((k) => `${k}=${String(line[k])}`).join(' ') : 'no such line');

/**
 * calico-kube-controllers runs with what KubeControllersConfiguration `default` and its env say: its
 * start-up log line carries the settings the kit's parser computes from the objects in the cluster;
 * then a `kubectl patch` of `controllers.node.leakGracePeriod` is followed without a restart (a
 * "settings changed" line, same pod, same restart count), and put back.
 */
export async function kubeControllersSettingsChecks(lab: ClusterLab, namespace = 'kube-system', withinMs = 30_000): Promise<CheckResult[]> {
  const pods = JSON.parse((await lab.kubectl(['get', 'pods', '-n', namespace, '-l', 'k8s-app=calico-kube-controllers', '-o', 'json'])).stdout) as { items: PodJson[] };
  const pod = pods.items[0];
  if (!pod) return [{ name: 'calico-kube-controllers runs with KubeControllersConfiguration default', ok: false, detail: `no calico-kube-controllers pod in ${namespace}` }];
  const restarts = (p: PodJson) => p.status?.containerStatuses?.[0]?.restartCount ?? 0;
  const env = Object.fromEntries((pod.spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
  const kcc = async () => (JSON.parse((await lab.kubectl(['get', KCC, 'default', '-o', 'json'])).stdout) as { spec: { controllers?: { node?: { leakGracePeriod?: string } } } }).spec;
  const logLines = async (): Promise<LogLine[]> => (await lab.kubectl(['logs', '-n', namespace, pod.metadata.name], { allowFailure: true })).stdout
    .split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as LogLine; } catch { return {}; } });

  const spec = await kcc();
  const expected = describeKubeControllersSettings(effectiveKubeControllersSettings({ spec, env }).settings);
  const keys = Object.keys(expected);
  const start = (await logLines()).find((l) => l.msg === 'starting');
  const results: CheckResult[] = [{
    name: 'calico-kube-controllers started with the settings of KubeControllersConfiguration default + env',
    ok: start !== undefined && same(start, expected),
    detail: `log: ${shown(start, keys)}; parsed from the cluster's objects: ${shown(expected, keys)} (kubectl logs -n ${namespace} ${pod.metadata.name})`,
  }];

  // A live change: leakGracePeriod 15m → 10m, followed without restart, then put back.
  const original = spec.controllers?.node?.leakGracePeriod;
  const patch = (value: string | null) => lab.kubectl(['patch', KCC, 'default', '--type=merge', '-p', JSON.stringify({ spec: { controllers: { node: { leakGracePeriod: value } } } })]);
  const changed = async (seconds: number) => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const line = (await logLines()).filter((l) => l.msg === 'settings changed').at(-1);
      if (line?.leakGracePeriodSeconds === seconds || Date.now() > deadline) return line;
      await sleep(1000);
    }
  };
  await patch('10m');
  const seen = await changed(600);
  await patch(original ?? null);
  const back = await changed(effectiveKubeControllersSettings({ spec: await kcc(), env }).settings.leakGracePeriodSeconds);
  const after = (JSON.parse((await lab.kubectl(['get', 'pods', '-n', namespace, '-l', 'k8s-app=calico-kube-controllers', '-o', 'json'])).stdout) as { items: PodJson[] }).items;
  const samePod = after.length === 1 && after[0].metadata.name === pod.metadata.name && restarts(after[0]) === restarts(pod);
  results.push({
    name: 'kubectl patch kubecontrollersconfiguration default leakGracePeriod=10m is followed without restart',
    ok: seen?.leakGracePeriodSeconds === 600 && back?.leakGracePeriodSeconds === expected.leakGracePeriodSeconds && samePod,
    detail: `after the patch: ${shown(seen, ['leakGracePeriodSeconds'])}; put back to ${original ?? 'unset'}: ${shown(back, ['leakGracePeriodSeconds'])}; `
      + `pod ${pod.metadata.name} restarts ${restarts(pod)} → ${after.map((p) => `${p.metadata.name} restarts ${restarts(p)}`).join(', ')}`,
  });
  return results;
}

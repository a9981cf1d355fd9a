import { workloadVethName } from '../../../lib/dataplane/calico/workload-endpoint';
import { hostVethName } from '../../../lib/dataplane/cni/plugin';
import {
  calicoLeaks, churnPodsManifest, newSince, NodeNetworkState, nodeLeaks, nodeStateScript, parseNodeState, podAllocations, probesSeePods, sandboxLatency, wavePlan,
} from '../../../lib/lab/cluster/pod-churn';
import { REFERENCE_NETWORK, referenceConflist } from '../../../lib/lab/cluster/reference-network';
import { findHistogram, Histogram, histogramDelta, histogramQuantile, parseHistogram, sumHistograms } from '../../../lib/lab/cluster/prometheus-histogram';
import { NETCHECK_IMAGE } from '../../../lib/lab/cluster/images';

const METRIC = 'kubelet_runtime_operations_duration_seconds';

/** What a 1.28 kubelet exposes (ExponentialBuckets(.005, 2.5, 14), first buckets) for two operations. */
function exposition(counts: { run: number[]; stop: number[] }): string {
  const les = ['0.005', '0.0125', '0.03125', '0.078125', '0.1953125', '0.48828125', '+Inf'];
  const series = (op: string, values: number[]) => [
    ...les.map((le, i) => `${METRIC}_bucket{operation_type="${op}",le="${le}"} ${values[i]}`),
    `${METRIC}_sum{operation_type="${op}"} 1.5`,
    `${METRIC}_count{operation_type="${op}"} ${values.at(-1)}`,
  ];
  return [
    `# HELP ${METRIC} [ALPHA] Duration in seconds of runtime operations. Broken down by operation type.`,
    `# TYPE ${METRIC} histogram`,
    ...series('run_podsandbox', counts.run),
    ...series('stop_podsandbox', counts.stop),
    `${METRIC}_total 99`,
    'kubelet_runtime_operations_errors_total{operation_type="run_podsandbox"} 0',
  ].join('\n');
}

describe('kubelet histograms: p50/p99 from buckets by linear interpolation', () => {
  test('the series of one operation is read, cumulative buckets in order, +Inf last', () => {
    const h = parseHistogram(exposition({ run: [0, 0, 1, 3, 10, 12, 12], stop: [5, 5, 5, 5, 5, 5, 5] }), METRIC, { operation_type: 'run_podsandbox' });
    expect(h.count).toBe(12);
    expect(h.sum).toBe(1.5);
    expect(h.buckets.map((b) => b.le)).toEqual([0.005, 0.0125, 0.03125, 0.078125, 0.1953125, 0.48828125, Infinity]);
    expect(h.buckets.map((b) => b.count)).toEqual([0, 0, 1, 3, 10, 12, 12]);
  });

  test('labels in any order and a metric not yet exposed (an empty histogram)', () => {
    const text = `${METRIC}_bucket{le="1",operation_type="run_podsandbox"} 4\n${METRIC}_bucket{le="+Inf",operation_type="run_podsandbox"} 4\n${METRIC}_count{operation_type="run_podsandbox"} 4`;
    expect(parseHistogram(text, METRIC, { operation_type: 'run_podsandbox' }).buckets).toEqual([{ le: 1, count: 4 }, { le: Infinity, count: 4 }]);
    expect(parseHistogram('', METRIC, { operation_type: 'run_podsandbox' })).toEqual({ buckets: [], count: 0, sum: 0 });
  });

  test('the quantile interpolates inside the bucket its rank falls in, and names that bucket', () => {
    // 100 observations: 40 in (0, 0.1], 50 in (0.1, 0.2], 10 in (0.2, 0.4].
    const h: Histogram = { buckets: [{ le: 0.1, count: 40 }, { le: 0.2, count: 90 }, { le: 0.4, count: 100 }, { le: Infinity, count: 100 }], count: 100, sum: 15 };
    // rank 50: 10 of the 50 in (0.1, 0.2] → 0.1 + 0.1 × 10/50
    expect(histogramQuantile(h, 0.5)).toEqual({ value: expect.closeTo(0.12, 10), lower: 0.1, upper: 0.2 });
    // rank 99: 9 of the 10 in (0.2, 0.4] → 0.2 + 0.2 × 9/10
    expect(histogramQuantile(h, 0.99)).toEqual({ value: expect.closeTo(0.38, 10), lower: 0.2, upper: 0.4 });
    // rank 20 in the first bucket: from 0
    expect(histogramQuantile(h, 0.2)?.value).toBeCloseTo(0.05, 10);
  });

  test('a rank in +Inf is the highest finite bound; no observations is no estimate; a bad quantile is refused', () => {
    const h: Histogram = { buckets: [{ le: 1, count: 1 }, { le: Infinity, count: 10 }], count: 10, sum: 50 };
    expect(histogramQuantile(h, 0.99)).toEqual({ value: 1, lower: 1, upper: Infinity });
    expect(histogramQuantile({ buckets: [], count: 0, sum: 0 }, 0.5)).toBeUndefined();
    expect(() => histogramQuantile(h, 1)).toThrow('quantile: 1 is not valid; expected a number between 0 and 1 (exclusive)');
  });

  test('before/after difference per kubelet, summed over kubelets', () => {
    const before = parseHistogram(exposition({ run: [0, 0, 1, 3, 10, 12, 12], stop: [0, 0, 0, 0, 0, 0, 0] }), METRIC, { operation_type: 'run_podsandbox' });
    const after = parseHistogram(exposition({ run: [0, 0, 1, 5, 30, 40, 41], stop: [0, 0, 0, 0, 0, 0, 0] }), METRIC, { operation_type: 'run_podsandbox' });
    const delta = histogramDelta(before, after);
    expect(delta.buckets.map((b) => b.count)).toEqual([0, 0, 0, 2, 20, 28, 29]);
    expect(delta.count).toBe(29);
    const both = sumHistograms([delta, delta]);
    expect(both.buckets.map((b) => b.count)).toEqual([0, 0, 0, 4, 40, 56, 58]);
    expect(both.count).toBe(58);
    // A kubelet restarted in between: its counters went back, the difference means nothing.
    expect(() => histogramDelta(after, before)).toThrow(/expected a counter that only grows/);
  });

  test('a histogram found by the start of its name (containerd\'s timers carry a unit suffix)', () => {
    const text = ['# TYPE containerd_cri_sandbox_create_network_total counter', '# TYPE containerd_cri_sandbox_create_network_seconds histogram', 'containerd_cri_sandbox_create_network_seconds_bucket{le="+Inf"} 3'].join('\n');
    expect(findHistogram(text, 'containerd_cri_sandbox_create_network')).toBe('containerd_cri_sandbox_create_network_seconds');
    expect(findHistogram(exposition({ run: [0, 0, 0, 0, 0, 0, 0], stop: [0, 0, 0, 0, 0, 0, 0] }), 'containerd_')).toBeUndefined();
  });

  test('the latency report in milliseconds with its buckets', () => {
    const h: Histogram = { buckets: [{ le: 0.1, count: 40 }, { le: 0.2, count: 90 }, { le: 0.4, count: 100 }, { le: Infinity, count: 100 }], count: 100, sum: 15 };
    expect(sandboxLatency(h, 'm')).toEqual({ count: 100, p50Ms: 120, p99Ms: 380, metric: 'm', p50BucketMs: [100, 200], p99BucketMs: [200, 400] });
    expect(sandboxLatency({ buckets: [], count: 0, sum: 0 }, 'm').p50Ms).toBeNaN();
  });
});

describe('pod churn waves', () => {
  test('waves fit every node\'s free pod slots and add up to the pods per node', () => {
    const waves = wavePlan(500, { n1: 104, n2: 100 });
    expect(waves.map((w) => w.n1)).toEqual([104, 104, 104, 104, 84]);
    expect(waves.map((w) => w.n2)).toEqual([100, 100, 100, 100, 100]);
    expect(wavePlan(20, { n1: 104 })).toEqual([{ n1: 20 }]);
    // A node that finishes early is left out of the later waves.
    expect(wavePlan(3, { n1: 3, n2: 2 })).toEqual([{ n1: 3, n2: 2 }, { n2: 1 }]);
  });

  test('a wave gives no node more than podsPerWave', () => {
    const waves = wavePlan(500, { n1: 104, n2: 30 }, 50);
    expect(waves.map((w) => w.n1)).toEqual([50, 50, 50, 50, 50, 50, 50, 50, 50, 50, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(waves.map((w) => w.n2)).toEqual([...Array(16).fill(30), 20]);
    expect(() => wavePlan(10, { n1: 10 }, 0)).toThrow('podsPerWave: 0 is not valid; expected a positive integer');
  });

  test('bad counts are refused naming the field', () => {
    expect(() => wavePlan(0, { n1: 10 })).toThrow('podsPerNode: 0 is not valid; expected a positive integer');
    expect(() => wavePlan(2.5, { n1: 10 })).toThrow('podsPerNode: 2.5 is not valid');
    expect(() => wavePlan(10, { n1: 0 })).toThrow('capacity of n1: 0 free pod slots is not valid');
  });

  test('the pods of a wave are pinned to their node, sleep in the test image and go without grace', () => {
    const list = JSON.parse(churnPodsManifest('churn', 2, { n1: 2, n2: 1 })) as { items: { metadata: { name: string; labels: Record<string, string> }; spec: Record<string, unknown> & { containers: { image: string; command: string[] }[] } }[] };
    expect(list.items.map((p) => [p.metadata.name, p.spec.nodeName])).toEqual([['churn-n1-w2-0', 'n1'], ['churn-n1-w2-1', 'n1'], ['churn-n2-w2-0', 'n2']]);
    expect(list.items[0].metadata.labels).toEqual({ 'cnikit.lab/churn-wave': '2' });
    expect(list.items[0].spec.terminationGracePeriodSeconds).toBe(0);
    expect(list.items[0].spec.containers[0].image).toBe(NETCHECK_IMAGE);
    expect(list.items[0].spec.containers[0].command).toEqual(['/bin/sleep', '3600']);
  });
});

const SANDBOX_A = 'a'.repeat(64);
const SANDBOX_B = 'b'.repeat(64);
const SANDBOX_GONE = 'c'.repeat(64);

/** What nodeStateScript prints on a node with sandboxes A (running), B (running) and a deleted pod's leftovers. */
const OUTPUT = [
  '#veth',
  `7: ${hostVethName(SANDBOX_A, 'eth0')}@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP mode DEFAULT group default`,
  `8: ${hostVethName(SANDBOX_GONE, 'eth0')}@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP mode DEFAULT group default`,
  `9: ${workloadVethName('cnikit-lab', 'netcheck-x')}@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450`,
  '#netns',
  'cni-1111 1',
  'cni-2222 0',
  '#reservations',
  `10.244.1.2 ${SANDBOX_A}`,
  `10.244.1.3 ${SANDBOX_GONE}`,
  'last_reserved_ip.0 10.244.1.3',
  '#owners',
  `${SANDBOX_A}@eth0`,
  `${SANDBOX_GONE}@eth0`,
  '#results',
  `cnikit-flannel-${SANDBOX_GONE}-eth0`,
  '#sandboxes',
  SANDBOX_A,
  SANDBOX_B,
  SANDBOX_GONE,
  '#churn',
  SANDBOX_B,
  '#tasks',
  'TASK    PID    STATUS',
  `${SANDBOX_A}    100    RUNNING`,
  `${SANDBOX_B}    101    RUNNING`,
  `${SANDBOX_GONE}    0    STOPPED`,
  `${'d'.repeat(64)}    102    RUNNING`,
].join('\n');

const EMPTY: NodeNetworkState = { veths: [], netns: [], reservations: [], attachmentFiles: [], liveSandboxes: [], churnSandboxes: [] };

describe('pod churn leak checks', () => {
  test('the node script reads the plugin\'s IPAM store, containerd\'s namespaces and its sandboxes', () => {
    const script = nodeStateScript('/tmp/lab/n1/containerd.sock', '/var/lib/cni/cnikit-flannel/ipam', 'cnikit-churn');
    expect(script).toContain('ip -o link show type veth');
    expect(script).toContain('/var/run/netns');
    expect(script).toContain('/var/lib/cni/cnikit-flannel/ipam/*');
    expect(script).toContain('/var/lib/cni/cnikit-flannel/ipam/owners');
    expect(script).toContain("ctr --address '/tmp/lab/n1/containerd.sock' -n k8s.io tasks ls");
    expect(script).toContain('labels."io.kubernetes.pod.namespace"==cnikit-churn');
  });

  test('the node state: veth names, namespaces with processes, reservations (not host-local\'s bookkeeping), running sandboxes only', () => {
    const state = parseNodeState(OUTPUT);
    expect(state.veths).toEqual([hostVethName(SANDBOX_A, 'eth0'), hostVethName(SANDBOX_GONE, 'eth0'), workloadVethName('cnikit-lab', 'netcheck-x')]);
    expect(state.netns).toEqual([{ name: 'cni-1111', processes: 1 }, { name: 'cni-2222', processes: 0 }]);
    expect(state.reservations).toEqual([{ ip: '10.244.1.2', containerId: SANDBOX_A }, { ip: '10.244.1.3', containerId: SANDBOX_GONE }]);
    expect(state.attachmentFiles).toEqual([`owners/${SANDBOX_A}@eth0`, `owners/${SANDBOX_GONE}@eth0`, `results/cnikit-flannel-${SANDBOX_GONE}-eth0`]);
    // The running app container (d…) is not a sandbox; the stopped sandbox is not live; a deleted churn pod's owns nothing.
    expect(state.liveSandboxes).toEqual([SANDBOX_A]);
    expect(state.churnSandboxes).toEqual([SANDBOX_B]);
    expect(() => parseNodeState('#veth\n')).toThrow('node state: section #netns missing from the output');
  });

  test('a deleted pod\'s address, veth, namespace and CNI files are leaks; a running sandbox\'s and a live pod\'s are not', () => {
    const leaks = nodeLeaks(EMPTY, parseNodeState(OUTPUT), [{ namespace: 'cnikit-lab', name: 'netcheck-x' }]);
    expect(Object.fromEntries(leaks.map((l) => [l.kind, l.items]))).toEqual({
      'addresses': [`10.244.1.3 (container ${SANDBOX_GONE.slice(0, 12)})`],
      'veths': [hostVethName(SANDBOX_GONE, 'eth0')],
      'netns': ['cni-2222'],
      'cni-state': [`owners/${SANDBOX_GONE}@eth0`, `results/cnikit-flannel-${SANDBOX_GONE}-eth0`],
    });
  });

  test('what was there before the churn is not the churn\'s leak', () => {
    const state = parseNodeState(OUTPUT);
    expect(nodeLeaks(state, state, []).every((l) => l.items.length === 0)).toBe(true);
    // A Calico veth (named by its pod) new since before, whose pod is gone, is a leak.
    expect(nodeLeaks(EMPTY, state, []).find((l) => l.kind === 'veths')!.items).toContain(workloadVethName('cnikit-lab', 'netcheck-x'));
  });

  test('the probes must see the running pods: a path that finds nothing does not pass as "0 before, 0 after"', () => {
    const gained = newSince(EMPTY, parseNodeState(OUTPUT));
    expect(gained).toEqual({ 'addresses': 2, 'veths': 3, 'netns': 2, 'cni-state': 3 });
    expect(probesSeePods(gained, 2)).toEqual([]);
    expect(probesSeePods(gained, 3)).toEqual(['addresses: 2 new with 3 pods running', 'netns: 2 new with 3 pods running']);
    expect(probesSeePods(newSince(EMPTY, EMPTY), 1)).toHaveLength(3);
  });

  const block = (cidr: string, allocations: (number | null)[], attributes: { handle_id?: string | null; secondary?: Record<string, string> | null }[]) => ({ spec: { cidr, allocations, attributes } });
  const blocks = [
    block('10.48.0.0/26', [0, null, 1, 2], [
      { handle_id: 'vxlan-tunnel-addr-n1', secondary: { node: 'n1', type: 'vxlanTunnelAddress' } },
      { handle_id: `k8s-pod-network.${SANDBOX_A}`, secondary: { node: 'n1', namespace: 'cnikit-lab', pod: 'netcheck-x' } },
      { handle_id: `k8s-pod-network.${SANDBOX_GONE}`, secondary: { node: 'n1', namespace: 'cnikit-churn', pod: 'churn-n1-w0-3' } },
    ]),
    block('fd00:10:48::/122', [null, 0], [{ handle_id: `k8s-pod-network.${SANDBOX_GONE}`, secondary: { node: 'n1', namespace: 'cnikit-churn', pod: 'churn-n1-w0-3' } }]),
  ];

  test('Calico pod allocations: the address of each ordinal, its handle, node and pod; tunnel addresses are not pods\'', () => {
    expect(podAllocations(blocks, 'k8s-pod-network')).toEqual([
      { ip: '10.48.0.2', handle: `k8s-pod-network.${SANDBOX_A}`, node: 'n1', pod: 'cnikit-lab/netcheck-x' },
      { ip: '10.48.0.3', handle: `k8s-pod-network.${SANDBOX_GONE}`, node: 'n1', pod: 'cnikit-churn/churn-n1-w0-3' },
      { ip: 'fd00:10:48::1', handle: `k8s-pod-network.${SANDBOX_GONE}`, node: 'n1', pod: 'cnikit-churn/churn-n1-w0-3' },
    ]);
  });

  test('Calico leaks: new allocations and handles whose container runs no sandbox', () => {
    const after = { allocations: podAllocations(blocks, 'k8s-pod-network'), handles: [`k8s-pod-network.${SANDBOX_A}`, `k8s-pod-network.${SANDBOX_GONE}`, 'vxlan-tunnel-addr-n1'] };
    const leaks = calicoLeaks({ allocations: [], handles: [] }, after, 'k8s-pod-network', new Set([SANDBOX_A]));
    expect(leaks.allocations.map((a) => a.ip)).toEqual(['10.48.0.3', 'fd00:10:48::1']);
    expect(leaks.handles).toEqual([`k8s-pod-network.${SANDBOX_GONE}`]);
    expect(calicoLeaks(after, after, 'k8s-pod-network', new Set())).toEqual({ allocations: [], handles: [] });
  });
});

describe('the churn\'s reference network', () => {
  test('bridge + host-local over the node\'s pod CIDRs, one range per family, portmap chained', () => {
    const conf = JSON.parse(referenceConflist(['10.244.1.0/24', 'fd00:10:244:1::/64'])) as { name: string; plugins: { type: string; ipam?: unknown }[] };
    expect(conf.name).toBe(REFERENCE_NETWORK);
    expect(conf.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(conf.plugins[0].ipam).toEqual({ type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] });
  });

  test('a node without a pod CIDR is refused naming the field', () => {
    expect(() => referenceConflist([])).toThrow('podCIDRs: [] is not valid; expected the node\'s pod CIDR');
  });
});

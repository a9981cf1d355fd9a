import * as fs from 'fs';
import * as path from 'path';
import { workloadVethName } from '../dataplane/calico/workload-endpoint';
import { PolicyEngine } from '../dataplane/policy/engine';
import { PolicyIndex } from '../dataplane/policy/selection';
import { NamedPort, Policy, PolicyEndpoint, PolicyNamespace, PolicyNetworkSet, PolicyTier, PolicyWorld } from '../dataplane/policy/types';
import { run } from './exec';
import { Lab, LabPod } from './lab';
import {
  bundlePolicyPod, expectedVerdict, NamedPortSpec, PodAgent, podProgramSpec, PolicyLabStack, ProbeCase, ProbeTarget, probeTruthTables, TruthTable,
} from './policy-lab';

/** A lab pod given the Kubernetes identity policies select it by. */
export interface ClusterPodIdentity {
  readonly pod: LabPod;
  readonly namespace: string;
  readonly name: string;
  /** @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** @default 'default' */
  readonly serviceAccount?: string;
  /** @default - none */
  readonly ports?: readonly NamedPortSpec[];
}

/**
 * Policy on a running multi-node lab (the flannel stack's `Lab`, or `CalicoLab.lab`): one engine
 * per node in the node's namespace, enforcing that node's pods (address dispatch on the flannel
 * bridge, interface dispatch on the Calico-style `cali*` veths the kit's CNI plugin made), and the
 * policy lab's pod program in every pod for probing. Traffic between nodes is policed twice: the
 * sender's egress on its node, the receiver's ingress on its node.
 */
export class ClusterPolicy {
  public static async attach(lab: Lab, stack: PolicyLabStack, namespaces: readonly PolicyNamespace[], pods: readonly ClusterPodIdentity[]): Promise<ClusterPolicy> {
    const dir = path.join(lab.dir, 'policy');
    fs.mkdirSync(dir, { recursive: true });
    const bundle = await bundlePolicyPod(dir);
    const cluster = new ClusterPolicy(lab, stack, namespaces, pods);
    for (const pod of pods) {
      const agent = new PodAgent(pod.pod.netns, bundle, podProgramSpec(pod.ports ?? []), path.join(dir, `${pod.pod.name}.log`));
      cluster.agents.set(`${pod.namespace}/${pod.name}`, agent);
    }
    await Promise.all([...cluster.agents.values()].map((a) => a.ready));
    if (stack === 'flannel') {
      // Same-node pod traffic is bridged on cni0: br_netfilter hands it to the forward hook.
      await Promise.all(lab.nodes.map((n) => run(['ip', 'netns', 'exec', n.netns, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'])));
    }
    return cluster;
  }

  public readonly engines = new Map<string, PolicyEngine>();
  private readonly agents = new Map<string, PodAgent>();
  private policies: Policy[] = [];
  private networkSets: PolicyNetworkSet[] = [];
  private tiers: PolicyTier[] = [];

  private constructor(public readonly lab: Lab, private readonly stack: PolicyLabStack, private readonly namespaces: readonly PolicyNamespace[],
    private readonly pods: readonly ClusterPodIdentity[]) {
    for (const node of lab.nodes) {
      const local = pods.filter((p) => p.pod.node.name === node.name).map((p) => `${p.namespace}/${p.name}`);
      this.engines.set(node.name, new PolicyEngine({ mode: stack === 'calico' ? 'interface' : 'address', netns: node.netns, localEndpoints: local }));
    }
  }

  public world(): PolicyWorld {
    const endpoints: PolicyEndpoint[] = this.pods.map((p) => ({
      namespace: p.namespace, name: p.name, labels: p.labels ?? {}, serviceAccount: p.serviceAccount,
      addresses: [p.pod.ip, ...(p.pod.ip6 ? [p.pod.ip6] : [])],
      // The lab's CNI calls carry no K8S_POD_* args: the plugin names the veth after namespace "default" and the container id.
      interfaceName: this.stack === 'calico' ? workloadVethName('default', p.pod.containerId) : undefined,
      ports: (p.ports ?? []).filter((x) => x.name).map((x): NamedPort => ({ name: x.name as string, port: x.port, protocol: x.protocol })),
    }));
    return { namespaces: this.namespaces, endpoints, policies: this.policies, networkSets: this.networkSets, tiers: this.tiers };
  }

  /** Enforces the policies on every node (each node's engine syncs its own table). */
  public async setPolicies(policies: readonly Policy[], networkSets: readonly PolicyNetworkSet[] = [], tiers: readonly PolicyTier[] = []): Promise<void> {
    this.policies = [...policies];
    this.networkSets = [...networkSets];
    this.tiers = [...tiers];
    const world = this.world();
    await Promise.all([...this.engines.values()].map((e) => e.sync(world)));
  }

  public probe(from: string, targets: readonly ProbeTarget[], timeoutMs = 800): Promise<boolean[]> {
    const agent = this.agents.get(from);
    if (!agent) throw new Error(`cluster policy: no pod ${from}`);
    return agent.probe(targets.map((t) => ({ ip: this.identity(t.to).pod.ip, protocol: t.protocol, port: t.port })), timeoutMs);
  }

  public truthTables(cases: readonly ProbeCase[], timeoutMs = 800, retries = 2): Promise<TruthTable[]> {
    const index = new PolicyIndex(this.world());
    return probeTruthTables(this.pods.map((p) => `${p.namespace}/${p.name}`), (from, targets, t) => this.probe(from, targets, t),
      (from, to, c) => this.expected(from, to, c, index), cases, timeoutMs, retries);
  }

  /** What the reference evaluator says about `from` → `to` (false for a port the target does not serve). */
  public expected(from: string, to: string, c: ProbeCase, index = new PolicyIndex(this.world())): boolean {
    return expectedVerdict(index, this.identity(from).pod.ip, { ip: this.identity(to).pod.ip, ports: this.identity(to).ports }, c);
  }

  /** Stops the pod programs and removes the policy tables (the lab itself stays). */
  public async detach(): Promise<void> {
    for (const a of this.agents.values()) a.stop();
    this.agents.clear();
    await Promise.all([...this.engines.values()].map((e) => e.remove().catch(() => undefined)));
  }

  private identity(key: string): ClusterPodIdentity {
    const p = this.pods.find((x) => `${x.namespace}/${x.name}` === key);
    if (!p) throw new Error(`cluster policy: no pod ${key}`);
    return p;
  }
}

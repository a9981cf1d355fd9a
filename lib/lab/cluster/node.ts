import * as fs from 'fs';
import * as path from 'path';
import { runSync } from '../exec';
import { LabProcess } from '../process';
import { LabNodePlan } from '../topology';
import { CertFiles } from './pki';
import { KubernetesBinaries } from './kubernetes';
import { CGROUP_HIERARCHIES, cgroupHierarchies, cgroupPids, removeCgroups } from '../cgroups';
import { killAllSync, netnsPids, processAlive } from '../resources';

/**
 * One Kubernetes node on this machine: the lab's network namespace for the node plus a private
 * mount and UTS namespace held open by a small holder process. Inside it `/etc`, `/opt` and `/var`
 * are overlays whose upper layers live in the node's directory and `/run` is a fresh tmpfs, so a
 * DaemonSet's hostPath (`/etc/cni/net.d`, `/opt/cni/bin`, `/run/...`) resolves to this node's view
 * and nothing is written to the machine's own. containerd, the kubelet and kube-proxy run in there
 * (see docs/cluster-lab.md and ../shared/reference/cluster-lab.md for why each setting is needed).
 */
export interface ClusterNodeSettings {
  readonly plan: LabNodePlan;
  /** The node's directory (overlay upper layers, containerd root, kubelet root, configs, logs). */
  readonly dir: string;
  /** cgroup path under every hierarchy, `/<lab id>-<node>`: the kubelet's cgroupRoot. */
  readonly cgroupRoot: string;
  readonly kubernetes: KubernetesBinaries;
  readonly caFile: string;
  readonly kubeletClient: CertFiles;
  readonly kubeletServing: CertFiles;
  readonly kubeProxyClient: CertFiles;
  /** The API server as nodes reach it, e.g. `https://10.99.0.1:6443`. */
  readonly apiServer: string;
  /** Pod networks kube-proxy treats as in-cluster (`clusterCIDR`). */
  readonly clusterCidrs: readonly string[];
  /** Register the node with both address families. */
  readonly dualStack: boolean;
  readonly sandboxImage: string;
  /** Labels the kubelet registers the Node with (`--node-labels`). @default none */
  readonly labels?: Readonly<Record<string, string>>;
  readonly kubeconfig: (user: string, client: CertFiles) => string;
}

/**
 * Values the kubelet wants for machine-wide sysctls; bind-mounted over /proc/sys inside the node so it
 * reads "already set" and writes nothing to the machine.
 */
const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

const REFERENCE_PLUGINS = '/usr/lib/cni';
/** containerd's Prometheus endpoint (`/v1/metrics`) on each node's loopback. */
export const CONTAINERD_METRICS_PORT = 1338;

export class ClusterNode {
  public readonly name: string;
  public readonly containerdSocket: string;
  public readonly logDir: string;
  private holder?: LabProcess;
  private readonly processes: LabProcess[] = [];

  constructor(private readonly settings: ClusterNodeSettings) {
    this.name = settings.plan.name;
    this.containerdSocket = path.join(settings.dir, 'containerd.sock');
    this.logDir = path.join(settings.dir, 'logs');
  }

  public get plan(): LabNodePlan {
    return this.settings.plan;
  }

  public get dir(): string {
    return this.settings.dir;
  }

  /** Host PIDs of the node's daemons, for diagnostics. */
  public daemons(): readonly LabProcess[] {
    return this.processes;
  }

  /** Creates the mount namespace and starts containerd; the kubelet waits for `startKubelet`. */
  public async start(): Promise<void> {
    const { dir } = this.settings;
    for (const sub of ['upper/etc', 'upper/opt', 'upper/var', 'work/etc', 'work/opt', 'work/var', 'kubelet', 'containerd', 'sysctl', 'logs']) {
      fs.mkdirSync(path.join(dir, sub), { recursive: true });
    }
    this.writeConfigs();
    this.installReferencePlugins();
    this.createCgroups();
    this.holder = new LabProcess(`${this.name}-namespace`, [
      'nsenter', `--net=/run/netns/${this.plan.netns}`,
      'unshare', '--mount', '--propagation', 'slave', '--uts',
      'sh', '-c', this.setupScript(),
    ], { logFile: path.join(this.logDir, 'namespace.log') });
    await this.holder.waitForLine(/^ready$/, 15_000);
    const containerd = this.spawn('containerd', ['containerd', '--config', path.join(dir, 'containerd.toml')]);
    await waitFor(() => fs.existsSync(this.containerdSocket), 20_000, () => `${this.name}: containerd did not open ${this.containerdSocket}: ${containerd.output().slice(-3).join(' | ')}`, () => containerd.running);
  }

  public startKubelet(): void {
    const { kubernetes, plan, dir } = this.settings;
    const nodeIps = this.settings.dualStack ? `${plan.address},${plan.address6}` : plan.address;
    this.spawn('kubelet', [
      kubernetes.path('kubelet'),
      `--config=${path.join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${path.join(dir, 'kubelet.kubeconfig')}`,
      `--hostname-override=${this.name}`,
      `--node-ip=${nodeIps}`,
      `--pod-infra-container-image=${this.settings.sandboxImage}`,
      ...(this.settings.labels && Object.keys(this.settings.labels).length
        ? [`--node-labels=${Object.entries(this.settings.labels).map(([k, v]) => `${k}=${v}`).join(',')}`] : []),
      '--v=1',
    ]);
  }

  public startKubeProxy(): void {
    this.spawn('kube-proxy', [this.settings.kubernetes.path('kube-proxy'), `--config=${path.join(this.settings.dir, 'kube-proxy.yaml')}`, '--v=1']);
  }

  /** argv that runs `argv` inside this node (its network, mount and UTS namespaces). */
  public enter(argv: readonly string[]): string[] {
    if (!this.holder?.pid) throw new Error(`${this.name}: not started`);
    return ['nsenter', '-t', String(this.holder.pid), '--mount', '--uts', '--net', '--', ...argv];
  }

  /** A daemon that exited: its name, exit code and last lines; undefined while all run. */
  public failedDaemon(): string | undefined {
    const dead = this.processes.find((p) => !p.running);
    return dead ? `${this.name}: ${dead.name} exited; last lines: ${dead.output().slice(-3).join(' | ')} (log ${dead.options.logFile})` : undefined;
  }

  /** Kills everything the node runs (daemons, shims, containers) and removes its cgroups; the caller removes the netns and files. */
  public destroySync(): void {
    for (const proc of this.processes) proc.killSync();
    killAllSync(() => [...cgroupPids(this.settings.cgroupRoot), ...netnsPids(this.plan.netns)].filter((pid) => pid !== this.holder?.pid), 40);
    this.holder?.killSync();
    // The holder's exit ends the mount namespace, and with it every mount made inside (overlays, pod netns).
    for (let attempt = 0; attempt < 20 && this.holder?.pid && processAlive(this.holder.pid); attempt++) runSync(['sleep', '0.05']);
    removeCgroups(this.settings.cgroupRoot);
  }

  private spawn(name: string, argv: readonly string[]): LabProcess {
    const proc = new LabProcess(`${this.name}-${name}`, this.enter(argv), { logFile: path.join(this.logDir, `${name}.log`) });
    this.processes.push(proc);
    return proc;
  }

  /** The holder's script: the node's mounts, its hostname, then wait forever. */
  private setupScript(): string {
    const d = this.settings.dir;
    const lines = ['set -e', `hostname ${this.name}`];
    for (const top of ['etc', 'opt', 'var']) {
      lines.push(`mount -t overlay overlay -o lowerdir=/${top},upperdir=${d}/upper/${top},workdir=${d}/work/${top} /${top}`);
    }
    lines.push('mount -t tmpfs -o mode=755 tmpfs /run');
    // cAdvisor needs a real block device behind the kubelet's root directory: bind the ext4 directory.
    lines.push('mkdir -p /var/lib/kubelet', `mount --bind ${d}/kubelet /var/lib/kubelet`);
    for (const key of Object.keys(KUBELET_SYSCTLS)) lines.push(`mount --bind ${d}/sysctl/${key.replace(/\//g, '.')} /proc/sys/${key}`);
    // Mounts made in here (pod network namespaces) propagate to the agents' HostToContainer volumes;
    // nothing propagates out: the host's mounts are this namespace's masters, never its peers.
    lines.push('mount --make-rshared /', 'echo ready', 'exec sleep infinity');
    return lines.join('\n');
  }

  private writeConfigs(): void {
    const { dir, plan, caFile, cgroupRoot } = this.settings;
    for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) fs.writeFileSync(path.join(dir, 'sysctl', key.replace(/\//g, '.')), `${value}\n`);
    // No name servers: a lookup (an image pull that should never happen, say) fails at once on the
    // node's own loopback instead of leaving the lab. The kubelet hands pods the same file.
    fs.writeFileSync(path.join(dir, 'resolv.conf'), '# cnikit cluster lab: no DNS\noptions ndots:1\n');
    fs.mkdirSync(path.join(dir, 'upper', 'etc'), { recursive: true });
    fs.copyFileSync(path.join(dir, 'resolv.conf'), path.join(dir, 'upper', 'etc', 'resolv.conf'));
    fs.writeFileSync(path.join(dir, 'containerd.toml'), containerdConfig(dir, this.containerdSocket, this.settings.sandboxImage));
    fs.writeFileSync(path.join(dir, 'kubelet.kubeconfig'), this.settings.kubeconfig(`system:node:${this.name}`, this.settings.kubeletClient), { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'kube-proxy.kubeconfig'), this.settings.kubeconfig('system:kube-proxy', this.settings.kubeProxyClient), { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'kubelet.yaml'), [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      `address: ${plan.address}`,
      'port: 10250',
      'readOnlyPort: 0',
      'healthzBindAddress: 127.0.0.1',
      `tlsCertFile: ${this.settings.kubeletServing.cert}`,
      `tlsPrivateKeyFile: ${this.settings.kubeletServing.key}`,
      'authentication:',
      '  anonymous: {enabled: false}',
      '  webhook: {enabled: true}',
      `  x509: {clientCAFile: ${caFile}}`,
      'authorization: {mode: Webhook}',
      `containerRuntimeEndpoint: unix://${this.containerdSocket}`,
      'cgroupDriver: cgroupfs',
      `cgroupRoot: ${cgroupRoot}`,
      // Pods go under <cgroupRoot>/kubepods/{burstable,besteffort}: every container of this node, and
      // nothing of another's, is found (and removed) under the node's root.
      'cgroupsPerQOS: true',
      'enforceNodeAllocatable: [pods]',
      'failSwapOn: false',
      'protectKernelDefaults: false',
      'volumePluginDir: /var/lib/kubelet/volume-plugins',
      // Imported images cannot be pulled again: never collect them; only memory may evict (the disk is shared).
      'imageGCHighThresholdPercent: 100',
      'imageGCLowThresholdPercent: 99',
      'evictionHard: {memory.available: 100Mi}',
      `resolvConf: ${path.join(dir, 'resolv.conf')}`,
      'clusterDomain: cluster.local',
      'serializeImagePulls: false',
      'nodeStatusUpdateFrequency: 5s',
      'syncFrequency: 10s',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'kube-proxy.yaml'), [
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
      'kind: KubeProxyConfiguration',
      `clientConnection: {kubeconfig: ${path.join(dir, 'kube-proxy.kubeconfig')}}`,
      `hostnameOverride: ${this.name}`,
      `bindAddress: ${plan.address}`,
      'mode: iptables',
      `clusterCIDR: ${this.settings.clusterCidrs.join(',')}`,
      // Leave the machine-wide conntrack table size (and its hash size) alone.
      'conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}',
      'healthzBindAddress: 127.0.0.1:10256',
      'metricsBindAddress: 127.0.0.1:10249',
      'iptables: {syncPeriod: 10s, minSyncPeriod: 1s}',
      '',
    ].join('\n'));
  }

  /**
   * The node's OS image: the CNI reference plugins (Debian's containernetworking-plugins) in
   * /opt/cni/bin, as kubeadm's kubernetes-cni package or containerd's release bundle put them on a
   * real node. containerd's CRI needs `loopback` for every pod; conflists may chain `portmap`.
   */
  private installReferencePlugins(): void {
    const bin = path.join(this.settings.dir, 'upper', 'opt', 'cni', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    for (const plugin of fs.readdirSync(REFERENCE_PLUGINS)) fs.copyFileSync(path.join(REFERENCE_PLUGINS, plugin), path.join(bin, plugin));
  }

  private createCgroups(): void {
    for (const hierarchy of cgroupHierarchies()) {
      fs.mkdirSync(path.join(CGROUP_HIERARCHIES, hierarchy, this.settings.cgroupRoot), { recursive: true });
    }
    // A new cpuset cgroup starts with no CPUs and no memory nodes: give it its parent's.
    const cpuset = path.join(CGROUP_HIERARCHIES, 'cpuset');
    if (fs.existsSync(path.join(cpuset, 'cpuset.cpus'))) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        fs.writeFileSync(path.join(cpuset, this.settings.cgroupRoot, file), fs.readFileSync(path.join(cpuset, file)));
      }
    }
  }
}

/** containerd with its own root (the node's ext4 directory), state, sockets and CNI paths. */
function containerdConfig(dir: string, socket: string, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = "${path.join(dir, 'containerd')}"`,
    'state = "/run/containerd"',
    'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    // The CRI's own timing of the CNI ADD (sandbox_create_network), which the pod churn check reads;
    // on the node's loopback, in the node's network namespace.
    '[metrics]',
    `  address = "127.0.0.1:${CONTAINERD_METRICS_PORT}"`,
    `[plugins."io.containerd.internal.v1.opt"]`,
    `  path = "${path.join(dir, 'containerd', 'opt')}"`,
    `[${cri}]`,
    `  sandbox_image = "${sandboxImage}"`,
    '  disable_apparmor = true',
    '  enable_selinux = false',
    // No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below the daemon's own.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "native"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `[${cri}.cni]`,
    '  bin_dir = "/opt/cni/bin"',
    '  conf_dir = "/etc/cni/net.d"',
    '  max_conf_num = 1',
    '',
  ].join('\n');
}

async function waitFor(condition: () => boolean, timeoutMs: number, message: () => string, stillTrying: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline || !stillTrying()) throw new Error(message());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

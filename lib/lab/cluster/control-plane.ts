import * as fs from 'fs';
import * as path from 'path';
import { inNetns, run, RunResult } from '../exec';
import { LabProcess } from '../process';
import { ClusterPki, CertFiles, kubeconfig } from './pki';
import { KubernetesBinaries } from './kubernetes';
import { Cidr } from '../../model/cidr';

export interface ControlPlaneSettings {
  /** The gateway namespace it runs in. */
  readonly netns: string;
  /** Its address on the lab network (segment 0's gateway): nodes reach the API here. */
  readonly address: string;
  readonly dir: string;
  readonly kubernetes: KubernetesBinaries;
  /** Service networks, IPv4 first (`--service-cluster-ip-range`). */
  readonly serviceCidrs: readonly string[];
  /** Pod networks handed out to nodes as `spec.podCIDRs`; none: the CNI's IPAM does it (Calico-style). */
  readonly nodeCidrs?: { readonly clusterCidrs: readonly string[]; readonly maskSizeV4: number; readonly maskSizeV6?: number };
  readonly log: (line: string) => void;
}

export const API_PORT = 6443;

/**
 * The control plane of a real cluster, in the lab's gateway namespace: etcd, kube-apiserver (RBAC and
 * Node authorization, service-account token signing, the aggregation layer's front-proxy certificates),
 * kube-controller-manager (every default controller, service-account credentials per controller) and
 * kube-scheduler. Nodes reach the API at `https://<address>:6443`; the harness runs kubectl inside
 * the namespace, never through the machine's own.
 */
export class ControlPlane {
  public readonly server: string;
  public readonly adminKubeconfig: string;
  private readonly processes: LabProcess[] = [];

  private constructor(private readonly settings: ControlPlaneSettings, public readonly pki: ClusterPki) {
    this.server = `https://${settings.address}:${API_PORT}`;
    this.adminKubeconfig = path.join(settings.dir, 'admin.kubeconfig');
  }

  public static async start(settings: ControlPlaneSettings): Promise<ControlPlane> {
    const pki = await ClusterPki.create(path.join(settings.dir, 'pki'));
    const plane = new ControlPlane(settings, pki);
    await plane.startAll();
    return plane;
  }

  /** The first address of each service network: `kubernetes.default`'s ClusterIP. */
  public get kubernetesServiceIps(): string[] {
    return this.settings.serviceCidrs.map(firstAddress);
  }

  public kubeconfigFor(user: string, client: CertFiles): string {
    return kubeconfig(this.server, this.pki.ca.cert, user, client);
  }

  /** Runs kubectl as cluster admin inside the gateway namespace. */
  public kubectl(args: readonly string[], options: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(inNetns(this.settings.netns, [this.settings.kubernetes.path('kubectl'), `--kubeconfig=${this.adminKubeconfig}`, ...args]), {
      input: options.input,
      allowFailure: options.allowFailure,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  }

  public failedDaemon(): string | undefined {
    const dead = this.processes.find((p) => !p.running);
    return dead ? `control plane: ${dead.name} exited; last lines: ${dead.output().slice(-3).join(' | ')} (log ${dead.options.logFile})` : undefined;
  }

  public stopSync(): void {
    for (const proc of [...this.processes].reverse()) proc.killSync();
  }

  private async startAll(): Promise<void> {
    const { dir, address, kubernetes } = this.settings;
    const pki = this.pki;
    const logs = path.join(dir, 'logs');
    fs.mkdirSync(logs, { recursive: true });
    const apiserverCert = await pki.issue({
      name: 'apiserver',
      commonName: 'kube-apiserver',
      altNames: [address, ...this.kubernetesServiceIps, '127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      usage: 'server',
    });
    // The API server's identity towards kubelets (logs, exec): system:masters passes their webhook authorization.
    const kubeletClient = await pki.issue({ name: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' });
    const frontProxyClient = await pki.issue({ name: 'front-proxy-client', commonName: 'front-proxy-client', usage: 'client' }, pki.frontProxyCa);
    const admin = await pki.issue({ name: 'admin', commonName: 'kubernetes-admin', organizations: ['system:masters'], usage: 'client' });
    const controllerManager = await pki.issue({ name: 'controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' });
    const scheduler = await pki.issue({ name: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' });
    // Inside the gateway namespace the control plane's own clients use loopback, as kubeadm's static pods do.
    const local = (user: string, client: CertFiles) => kubeconfig(`https://127.0.0.1:${API_PORT}`, pki.ca.cert, user, client);
    fs.writeFileSync(this.adminKubeconfig, this.kubeconfigFor('kubernetes-admin', admin), { mode: 0o600 });
    const cmKubeconfig = path.join(dir, 'controller-manager.kubeconfig');
    const schedulerKubeconfig = path.join(dir, 'scheduler.kubeconfig');
    fs.writeFileSync(cmKubeconfig, local('system:kube-controller-manager', controllerManager), { mode: 0o600 });
    fs.writeFileSync(schedulerKubeconfig, local('system:kube-scheduler', scheduler), { mode: 0o600 });

    const etcdDir = path.join(dir, 'etcd');
    fs.mkdirSync(etcdDir, { recursive: true });
    const etcd = this.spawn('etcd', [
      'etcd', '--name', 'control-plane', '--data-dir', path.join(etcdDir, 'data'),
      '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'control-plane=http://127.0.0.1:2380',
    ], logs);
    await etcd.waitForLine(/ready to serve client requests/, 30_000);

    this.settings.log(`control plane: kube-apiserver ${kubernetes.version} at ${this.server}`);
    const apiserver = this.spawn('kube-apiserver', [
      kubernetes.path('kube-apiserver'),
      '--etcd-servers=http://127.0.0.1:2379',
      `--advertise-address=${address}`,
      '--bind-address=0.0.0.0',
      `--secure-port=${API_PORT}`,
      `--service-cluster-ip-range=${this.settings.serviceCidrs.join(',')}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      `--client-ca-file=${pki.ca.cert}`,
      `--tls-cert-file=${apiserverCert.cert}`,
      `--tls-private-key-file=${apiserverCert.key}`,
      `--kubelet-client-certificate=${kubeletClient.cert}`,
      `--kubelet-client-key=${kubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.ca.cert}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-username-headers=X-Remote-User',
      `--proxy-client-cert-file=${frontProxyClient.cert}`,
      `--proxy-client-key-file=${frontProxyClient.key}`,
      '--enable-aggregator-routing=true',
      '--profiling=false',
      `--audit-log-path=${path.join(logs, 'audit.log')}`,
      `--audit-policy-file=${this.writeAuditPolicy()}`,
      '--audit-log-maxsize=200',
      '--v=1',
    ], logs);
    await this.waitHealthy(apiserver);

    const nodeCidrs = this.settings.nodeCidrs;
    this.spawn('kube-controller-manager', [
      kubernetes.path('kube-controller-manager'),
      ...controllerFlags(cmKubeconfig),
      '--use-service-account-credentials=true',
      `--root-ca-file=${pki.ca.cert}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${this.settings.serviceCidrs.join(',')}`,
      ...(nodeCidrs
        ? ['--allocate-node-cidrs=true', `--cluster-cidr=${nodeCidrs.clusterCidrs.join(',')}`,
          ...(nodeCidrs.clusterCidrs.length > 1
            ? [`--node-cidr-mask-size-ipv4=${nodeCidrs.maskSizeV4}`, `--node-cidr-mask-size-ipv6=${nodeCidrs.maskSizeV6 ?? 64}`]
            : [`--node-cidr-mask-size=${nodeCidrs.maskSizeV4}`])]
        : ['--allocate-node-cidrs=false']),
      // A node that stops reporting is marked NotReady after 20 s (the default 40 s slows the lab's checks).
      '--node-monitor-grace-period=20s',
      '--v=1',
    ], logs);
    this.spawn('kube-scheduler', [
      kubernetes.path('kube-scheduler'),
      ...controllerFlags(schedulerKubeconfig),
      '--v=1',
    ], logs);
  }

  /** Records who called what (the least-privilege checks read it). */
  private writeAuditPolicy(): string {
    const file = path.join(this.settings.dir, 'audit-policy.yaml');
    fs.writeFileSync(file, [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [RequestReceived]',
      'rules:',
      '- level: None',
      '  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version"]',
      '- level: Metadata',
      '',
    ].join('\n'));
    return file;
  }

  private async waitHealthy(apiserver: LabProcess): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const result = await this.kubectl(['get', '--raw=/readyz'], { allowFailure: true, timeoutMs: 10_000 });
      if (result.code === 0 && result.stdout.trim() === 'ok') return;
      if (!apiserver.running) throw new Error(`control plane: kube-apiserver exited: ${apiserver.output().slice(-5).join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`control plane: kube-apiserver not ready within 90 s: ${result.stdout.trim().split('\n').filter((l) => l.includes('failed')).join('; ') || result.stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  private spawn(name: string, argv: readonly string[], logs: string): LabProcess {
    const proc = new LabProcess(name, argv, { netns: this.settings.netns, logFile: path.join(logs, `${name}.log`), cwd: this.settings.dir });
    this.processes.push(proc);
    return proc;
  }
}

/**
 * What the controller-manager and the scheduler share: one kubeconfig for the API and for checking
 * callers of their own secure port (kept on the gateway's loopback), and no leader election (one replica).
 */
function controllerFlags(kubeconfigFile: string): string[] {
  return [
    `--kubeconfig=${kubeconfigFile}`,
    `--authentication-kubeconfig=${kubeconfigFile}`,
    `--authorization-kubeconfig=${kubeconfigFile}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
  ];
}

/** The first host address of a CIDR (`10.96.0.0/12` → `10.96.0.1`): the `kubernetes` Service's ClusterIP. */
export function firstAddress(cidr: string): string {
  return Cidr.parse(cidr, 'serviceNetwork').address(1n);
}

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BirdRouter } from '../bird-router';
import { parseAllDocuments } from 'yaml';
import { defaultCacheDir } from '../../image/cache';
import { Cidr } from '../../model/cidr';
import { run, RunResult } from '../exec';
import { destroyNetnsSync, newLabId, sweepStaleLabs, track, untrack } from '../resources';
import { LabPlan, LabTopologyKind, planLab, wiringSteps } from '../topology';
import { applyWiring } from '../wiring';
import { ControlPlane } from './control-plane';
import { archiveLayout, buildLabImages, ImportableImage, importArchive, layoutDigest, PAUSE_IMAGE } from './images';
import { ensureKubernetes, KubernetesBinaries } from './kubernetes';
import { ClusterNode } from './node';

/** The cluster's address plan, taken from the environment being deployed. */
export interface ClusterNetwork {
  /** Service networks, IPv4 first. */
  readonly serviceCidrs: readonly string[];
  /** Pod networks (kube-proxy's in-cluster ranges). */
  readonly podCidrs: readonly string[];
  /** Have the controller-manager hand each node a `spec.podCIDR` of these sizes (Flannel-style). @default none */
  readonly nodeCidrMask?: { readonly v4: number; readonly v6?: number };
  /**
   * Where the environment expects its nodes' addresses (e.g. Calico's `cidr=` autodetection): the
   * lab's segments are placed inside it. A /16 or larger IPv4 network. @default the first free lab underlay
   */
  readonly nodeNetwork?: string;
}

export interface ClusterLabOptions {
  /** @default 3 */
  readonly nodes?: number;
  /** @default 'flat' */
  readonly topology?: LabTopologyKind;
  readonly network: ClusterNetwork;
  /** Keep the run directory (logs, kubeconfig) after destroy. @default false */
  readonly keepFiles?: boolean;
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
  /** @default `$CNIKIT_CACHE_DIR` or `~/.cache/cnikit` */
  readonly cacheDir?: string;
  /** Labels per node, in node order (`--node-labels`). @default none */
  readonly nodeLabels?: readonly (Readonly<Record<string, string>> | undefined)[];
  /** External BGP routers (BIRD 2) in the gateway namespace, e.g. an environment's rack routers. @default none */
  readonly routers?: readonly LabRouter[];
}

/** A router outside the cluster, at an address of its own in the gateway namespace (nodes reach it by their default route). */
export interface LabRouter {
  readonly name: string;
  readonly address: string;
  /** Its IPv6 address, for IPv6 sessions. @default none */
  readonly address6?: string;
  readonly asn: number;
  /** Sessions to nodes, by node index: over IPv4, or with `ipv6` over IPv6 to the node's IPv6 address. */
  readonly neighbours: readonly { readonly node: number; readonly asn: number; readonly ipv6?: boolean; readonly password?: string }[];
}


/**
 * A real Kubernetes cluster on this machine, built from the network lab's namespaces: the control
 * plane in the gateway namespace, a kubelet + containerd + kube-proxy per node (ClusterNode).
 * `create`, then `deploy` manifests exactly as written; always `destroy()` (exit and signal
 * handlers do it otherwise). See docs/cluster-lab.md.
 */
export class ClusterLab {
  public static async create(options: ClusterLabOptions): Promise<ClusterLab> {
    const log = options.log ?? (() => undefined);
    sweepStaleLabs();
    const kubernetes = await ensureKubernetes({ cacheDir: options.cacheDir, log });
    const id = newLabId();
    const plan = planLab({ id, nodes: options.nodes ?? 3, topology: options.topology, segmentBase: underlayFor(options.network) });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${id}-`));
    const lab = new ClusterLab(plan, dir, options, kubernetes, log);
    track(lab);
    try {
      await lab.start();
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  public readonly nodes: ClusterNode[] = [];
  public controlPlane!: ControlPlane;
  public readonly namespaces: string[];
  public readonly routers = new Map<string, BirdRouter>();
  private readonly imported = new Set<string>();
  private destroyed = false;

  private constructor(
    public readonly plan: LabPlan,
    public readonly dir: string,
    private readonly options: ClusterLabOptions,
    public readonly kubernetes: KubernetesBinaries,
    public readonly log: (line: string) => void,
  ) {
    this.namespaces = [plan.switchNetns, plan.gwNetns, ...plan.nodes.map((n) => n.netns)];
  }

  public get id(): string {
    return this.plan.id;
  }

  /** The kubeconfig of the cluster admin (its server is reachable from the gateway namespace). */
  public get kubeconfig(): string {
    return this.controlPlane.adminKubeconfig;
  }

  public node(name: string): ClusterNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`cluster lab: no node ${name}`);
    return node;
  }

  /** Runs kubectl as cluster admin. */
  public kubectl(args: readonly string[], options: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return this.controlPlane.kubectl(args, options);
  }

  /** Runs a command inside a node (its network and mount namespaces). */
  public execOnNode(node: ClusterNode, argv: readonly string[], options: { allowFailure?: boolean } = {}): Promise<RunResult> {
    return run(node.enter(argv), options);
  }

  /**
   * Imports into every node the images `manifests` reference that the kit builds (from `imagesDir`,
   * `npm run images`' layouts), under the exact references used; a reference whose digest differs
   * from the built layout's is an error naming both.
   */
  public async importImages(images: readonly ImportableImage[]): Promise<void> {
    const archives = path.join(this.dir, 'images');
    fs.mkdirSync(archives, { recursive: true });
    for (const image of images) {
      if (this.imported.has(image.reference)) continue;
      const archive = path.join(archives, `${path.basename(image.layoutDir)}.tar`);
      if (!fs.existsSync(archive)) await archiveLayout(image.layoutDir, archive);
      this.log(`images: importing ${image.reference} into ${this.nodes.length} nodes`);
      await Promise.all(this.nodes.map((node) => importArchive(node.containerdSocket, archive, image.repository)));
      this.imported.add(image.reference);
    }
  }

  /**
   * Applies each file in order with server-side apply, as written, as `kubectl apply -f dir/` does:
   * a file with a failing object still applies the others, and later files are applied too. After a
   * file that defines CustomResourceDefinitions, waits until they are established. Returns one line
   * per file that failed (kubectl's first errors).
   */
  public async apply(files: readonly string[]): Promise<string[]> {
    const failures: string[] = [];
    for (const file of files) {
      this.log(`apply: ${path.basename(file)}`);
      const result = await this.kubectl(['apply', '--server-side', '--field-manager=cnikit-cluster-lab', '-f', file], { allowFailure: true, timeoutMs: 120_000 });
      if (result.code !== 0) failures.push(`kubectl apply -f ${file} failed: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 5).join(' | ')}`);
      if (/^kind: CustomResourceDefinition$/m.test(fs.readFileSync(file, 'utf8'))) {
        await this.kubectl(['wait', '--for=condition=established', '--timeout=60s', '-f', file], { timeoutMs: 70_000, allowFailure: true });
      }
    }
    return failures;
  }

  /** Stops a node's kubelet, kube-proxy, containers and namespace (after a drain and delete, say). */
  public removeNode(node: ClusterNode): void {
    node.destroySync();
    destroyNetnsSync(node.plan.netns);
    this.namespaces.splice(this.namespaces.indexOf(node.plan.netns), 1);
    this.nodes.splice(this.nodes.indexOf(node), 1);
  }

  /** A daemon of the lab (control plane or node) that died, if any. */
  public failedDaemon(): string | undefined {
    return this.controlPlane?.failedDaemon() ?? this.nodes.map((n) => n.failedDaemon()).find((f) => f !== undefined);
  }

  public async destroy(): Promise<void> {
    this.destroySync();
  }

  /** Kills everything and removes every namespace, cgroup and file; safe in exit handlers. */
  public destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    untrack(this);
    for (const router of this.routers.values()) router.process.child.kill('SIGKILL');
    for (const node of this.nodes) node.destroySync();
    this.controlPlane?.stopSync();
    for (const netns of [...this.namespaces].reverse()) destroyNetnsSync(netns);
    if (!this.options.keepFiles) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async start(): Promise<void> {
    const { network } = this.options;
    this.log(`cluster lab ${this.id}: ${this.plan.nodes.length} nodes (${this.options.topology ?? 'flat'}), run directory ${this.dir}`);
    await applyWiring(wiringSteps(this.plan));
    const dualStack = network.podCidrs.length > 1;
    this.controlPlane = await ControlPlane.start({
      netns: this.plan.gwNetns,
      address: this.plan.segments[0].gateway,
      dir: path.join(this.dir, 'control-plane'),
      kubernetes: this.kubernetes,
      serviceCidrs: network.serviceCidrs,
      nodeCidrs: network.nodeCidrMask ? { clusterCidrs: network.podCidrs, maskSizeV4: network.nodeCidrMask.v4, maskSizeV6: network.nodeCidrMask.v6 } : undefined,
      log: this.log,
    });
    const pki = this.controlPlane.pki;
    for (const plan of this.plan.nodes) {
      const name = plan.name;
      this.nodes.push(new ClusterNode({
        plan,
        dir: path.join(this.dir, name),
        cgroupRoot: `/${plan.netns}`,
        kubernetes: this.kubernetes,
        caFile: pki.ca.cert,
        kubeletClient: await pki.issue({ name: `${name}-kubelet-client`, commonName: `system:node:${name}`, organizations: ['system:nodes'], usage: 'client' }),
        kubeletServing: await pki.issue({ name: `${name}-kubelet-serving`, commonName: `system:node:${name}`, organizations: ['system:nodes'], altNames: [name, plan.address, plan.address6], usage: 'server' }),
        kubeProxyClient: await pki.issue({ name: `${name}-kube-proxy`, commonName: 'system:kube-proxy', usage: 'client' }),
        apiServer: this.controlPlane.server,
        clusterCidrs: network.podCidrs,
        dualStack,
        sandboxImage: PAUSE_IMAGE,
        labels: this.options.nodeLabels?.[this.nodes.length],
        kubeconfig: (user, client) => this.controlPlane.kubeconfigFor(user, client),
      }));
    }
    this.log(`nodes: starting containerd on ${this.nodes.map((n) => n.name).join(', ')}`);
    await Promise.all(this.nodes.map((node) => node.start()));
    const labImages = await buildLabImages(path.join(this.dir, 'lab-images'), this.options.cacheDir ?? defaultCacheDir());
    await this.importImages(labImages);
    for (const node of this.nodes) node.startKubelet();
    await this.waitForNodesRegistered();
    // kube-proxy reads its node's addresses from the Node object: start it once that exists.
    for (const node of this.nodes) node.startKubeProxy();
    for (const router of this.options.routers ?? []) await this.startRouter(router);
  }

  private async startRouter(router: LabRouter): Promise<void> {
    await run(['ip', 'netns', 'exec', this.plan.gwNetns, 'ip', 'addr', 'add', `${router.address}/32`, 'dev', 'lo']);
    if (router.address6) await run(['ip', 'netns', 'exec', this.plan.gwNetns, 'ip', 'addr', 'add', `${router.address6}/128`, 'dev', 'lo', 'nodad']);
    const name = (n: LabRouter['neighbours'][number]) => `${this.plan.nodes[n.node].name}${n.ipv6 ? '_v6' : ''}`;
    this.log(`router ${router.name}: BIRD 2 at ${[router.address, router.address6].filter(Boolean).join(' and ')} AS ${router.asn}, peering with ${router.neighbours.map(name).join(', ')}`);
    this.routers.set(router.name, BirdRouter.start({
      netns: this.plan.gwNetns, dir: path.join(this.dir, 'routers', router.name), address: router.address, address6: router.address6, asn: router.asn,
      neighbours: router.neighbours.map((n) => ({ name: name(n), address: n.ipv6 ? this.plan.nodes[n.node].address6 : this.plan.nodes[n.node].address, asn: n.asn, password: n.password })),
    }));
  }

  private async waitForNodesRegistered(): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const failed = this.failedDaemon();
      if (failed) throw new Error(failed);
      const result = await this.kubectl(['get', 'nodes', '-o', 'name'], { allowFailure: true });
      const registered = result.stdout.split('\n').filter(Boolean).map((line) => line.replace('node/', ''));
      const missing = this.nodes.filter((n) => !registered.includes(n.name));
      if (missing.length === 0) {
        this.log(`nodes: ${registered.join(', ')} registered (NotReady until the network's DaemonSet installs its CNI)`);
        return;
      }
      if (Date.now() > deadline) throw new Error(`nodes ${missing.map((n) => n.name).join(', ')} did not register within 90 s; kubelet logs: ${missing.map((n) => path.join(n.logDir, 'kubelet.log')).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** Underlays the lab may use, first free one wins: `<base>.<segment>.0/24`. */
const UNDERLAYS = ['172.31', '10.99', '192.168', '10.250'];

/**
 * The segments' first two octets: inside the environment's node network when it names one, else the
 * first lab underlay whose /16 overlaps none of the cluster's service and pod networks.
 */
export function underlayFor(network: ClusterNetwork): string {
  const taken = [...network.serviceCidrs, ...network.podCidrs].map((c) => Cidr.parse(c, 'network')).filter((c) => c.family === 4);
  if (network.nodeNetwork !== undefined) {
    const wanted = Cidr.parse(network.nodeNetwork, 'nodeNetwork', 4);
    if (wanted.prefix > 16) throw new Error(`cluster lab: nodeNetwork ${network.nodeNetwork} is too small; expected a /16 or larger IPv4 network to place the lab's /24 segments in`);
    const clash = taken.find((c) => c.overlaps(wanted));
    if (clash) throw new Error(`cluster lab: nodeNetwork ${network.nodeNetwork} overlaps ${clash.toString()}; expected a node network apart from the service and pod networks`);
    return wanted.address().split('.').slice(0, 2).join('.');
  }
  const free = UNDERLAYS.find((base) => !taken.some((c) => c.overlaps(Cidr.parse(`${base}.0.0/16`, 'underlay'))));
  if (!free) throw new Error(`cluster lab: every lab underlay (${UNDERLAYS.map((b) => `${b}.0.0/16`).join(', ')}) overlaps the service or pod networks ${taken.join(', ')}`);
  return free;
}

/**
 * The images `files` reference (every `image:` of every container), resolved against the layouts in
 * `imagesDir` for the kit's own (`<registry>/<name>@sha256:…` or `:<tag>` with a layout `<name>`).
 * References to images the kit does not build are returned in `foreign`.
 */
export function referencedImages(files: readonly string[], imagesDir: string): { kit: ImportableImage[]; foreign: string[] } {
  const references = new Set<string>();
  const visit = (value: unknown, key?: string): void => {
    if (Array.isArray(value)) value.forEach((v) => visit(v));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, k);
    else if (key === 'image' && typeof value === 'string') references.add(value);
  };
  for (const file of files) for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) visit(doc.toJS());
  return kitImages([...references], imagesDir);
}

/**
 * Image references resolved against the layouts in `imagesDir`: the kit's own
 * (`<registry>/<name>@sha256:…`, or `:<tag>` with a layout `<name>`) as importable images, any other
 * in `foreign`.
 */
export function kitImages(references: readonly string[], imagesDir: string): { kit: ImportableImage[]; foreign: string[] } {
  const kit: ImportableImage[] = [];
  const foreign: string[] = [];
  for (const reference of [...new Set(references)].sort()) {
    const match = /^(.+\/([a-z0-9._-]+))(?:@(sha256:[0-9a-f]{64})|:([\w.-]+))$/.exec(reference);
    const layoutDir = match ? path.join(imagesDir, match[2]) : undefined;
    if (!match || !layoutDir || !fs.existsSync(path.join(layoutDir, 'index.json'))) {
      foreign.push(reference);
      continue;
    }
    const digest = match[3];
    if (digest !== undefined && digest !== layoutDigest(layoutDir)) {
      throw new Error(`image ${reference}: the manifests pin ${digest} but ${layoutDir} holds ${layoutDigest(layoutDir)}; run npm run images, then npm run synth`);
    }
    kit.push({ reference, repository: match[1], layoutDir });
  }
  return { kit, foreign };
}

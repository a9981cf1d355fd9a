import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderCniShim } from '../../dataplane/cni/shim';
import { podHandle } from '../../dataplane/cni/calico-ipam-plugin';
import { EtcdStore } from '../../dataplane/datastore/etcd';
import { KeyValueStore } from '../../dataplane/datastore/types';
import { IpamBlockSpec, blockAllocations } from '../../dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../../dataplane/ipam/calico-store';
import { CheckResult } from '../cluster/checks';
import { run, RunResult } from '../exec';
import { LabProcess } from '../process';
import { destroyNetnsSync, newLabId, sweepStaleLabs, track, untrack } from '../resources';
import { cniResultProblems, sandboxAddresses } from './cni-result-shape';
import { cnitoolContainerId, ensureCnitool } from './cnitool';

/**
 * The CNI plugin contract as the reference runtime sees it: upstream `cnitool` (libcni) drives
 * cnikit's plugins — Flannel-style and Calico-style, each as the executable and through the shim
 * and resident server — in a node network namespace of its own, against pod namespaces of its own,
 * chained with Debian's `portmap` and `bandwidth` (plugins 1.1.1, spec ≤ 1.0.0).
 *
 * What is checked, per set-up: ADD's result shape (SPEC.md), the address in the pod, portmap's DNAT
 * and bandwidth's qdiscs in the node, a TCP connection through the mapped host port, CHECK (0, and
 * an error object after the pod's address is removed), DEL (everything gone) and DEL again; with a
 * 1.1.0 conflist, STATUS (0, then 50 with the datastore not ready) and GC (an attachment libcni's
 * cache no longer lists is freed by the plugin's GC, another network's is kept).
 *
 * libcni keeps its result cache in /var/lib/cni: every cnitool runs in a mount namespace of its
 * own (`unshare --mount`) with a directory of the run bound over /var/lib, so the machine's
 * /var/lib/cni is neither read nor written.
 */
export type ContractPlugin = 'flannel' | 'calico';
export type ContractMode = 'executable' | 'server';
export interface ContractSetup {
  readonly plugin: ContractPlugin;
  readonly mode: ContractMode;
}

export const CONTRACT_SETUPS: readonly ContractSetup[] = [
  { plugin: 'flannel', mode: 'executable' },
  { plugin: 'flannel', mode: 'server' },
  { plugin: 'calico', mode: 'executable' },
  { plugin: 'calico', mode: 'server' },
];

/** `flannel executable`, `calico shim+server`: how the rows name a set-up. */
export function setupLabel(setup: ContractSetup): string {
  return `${setup.plugin} ${setup.mode === 'server' ? 'shim+server' : 'executable'}`;
}

export interface CniContractOptions {
  readonly log: (line: string) => void;
  /** Where cnitool is cached. @default defaultCacheDir() */
  readonly cacheDir?: string;
  /** @default CONTRACT_SETUPS */
  readonly setups?: readonly ContractSetup[];
  /**
   * What is done to the pod before the second CHECK: `pod-address` removes its address (CHECK must
   * fail); `nothing` leaves it intact, so the "CHECK after tampering" row must come out failed
   * (the negative control). @default 'pod-address'
   */
  readonly tamper?: 'pod-address' | 'nothing';
}

const DEBIAN_PLUGINS = '/usr/lib/cni';
const NODE_ADDRESS = '192.0.2.10';
/** The node's uplink, a veth pair inside the node (no dummy module needed): not an attachment's. */
const UPLINK = ['uplink', 'uplink-peer'];
const HOST_PORT = 30080;
const CONTAINER_PORT = 8080;
const SERVER_PORT = 7331;
const FLANNEL_NETWORK = '10.250.0.0/16';
const FLANNEL_SUBNET = '10.250.7.1/24';
const CALICO_POOL = '10.251.0.0/16';
const NETWORK = { contract: 'cnikit-contract', gc: 'cnikit-contract-gc', keep: 'cnikit-contract-keep' } as const;
const CAP_ARGS = {
  portMappings: [{ hostPort: HOST_PORT, containerPort: CONTAINER_PORT, protocol: 'tcp' }],
  // bits per second and bits, as the bandwidth plugin reads them
  bandwidth: { ingressRate: 8_000_000, ingressBurst: 1_000_000, egressRate: 8_000_000, egressBurst: 1_000_000 },
};

export async function cniContract(options: CniContractOptions): Promise<CheckResult[]> {
  const started = Date.now();
  const cnitool = await ensureCnitool({ log: options.log, cacheDir: options.cacheDir });
  sweepStaleLabs();
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), `${newLabId()}-cni-contract-`));
  const checks: CheckResult[] = [];
  try {
    const programs = await bundlePrograms(shared);
    for (const setup of options.setups ?? CONTRACT_SETUPS) {
      const name = setupLabel(setup);
      const run = new SetupRun(setup, cnitool.path, programs, options, (check) => checks.push({ ...check, name: `CNI contract (cnitool ${cnitool.version}), ${name}: ${check.name}` }));
      const t0 = Date.now();
      try {
        await run.all();
      } catch (error) {
        checks.push({ name: `CNI contract (cnitool ${cnitool.version}), ${name}: set-up`, ok: false, detail: oneLine((error as Error).message) });
      } finally {
        await run.destroy();
      }
      options.log(`cni contract: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    fs.rmSync(shared, { recursive: true, force: true });
  }
  options.log(`cni contract: ${checks.filter((c) => c.ok).length}/${checks.length} checks ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return checks;
}

interface Programs {
  /** The directory of executable bundles, named by plugin type (`cnikit-flannel`, `cnikit-calico`, `cnikit-calico-ipam`). */
  readonly executables: string;
  readonly server: string;
  readonly echoServer: string;
}

/** The plugin bundles as they are installed (calico's beside `../proto`), the CNI server and an echo server. */
async function bundlePrograms(dir: string): Promise<Programs> {
  const esbuild = await import('esbuild');
  const root = path.resolve(__dirname, '..', '..', '..');
  const executables = path.join(dir, 'bin');
  const bundle = async (entry: string, outfile: string, executable: boolean) => {
    await esbuild.build({
      entryPoints: [entry], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error',
      ...(executable ? { banner: { js: `#!${process.execPath}` } } : {}),
    });
    if (executable) fs.chmodSync(outfile, 0o755);
  };
  await Promise.all([
    bundle(path.join(root, 'apps', 'cni-plugin.ts'), path.join(executables, 'cnikit-flannel'), true),
    bundle(path.join(root, 'apps', 'cni-calico.ts'), path.join(executables, 'cnikit-calico'), true),
    bundle(path.join(root, 'apps', 'cni-server.ts'), path.join(dir, 'programs', 'cni-server.js'), false),
    bundle(path.join(__dirname, '..', 'programs', 'echo-server.ts'), path.join(dir, 'programs', 'echo-server.js'), false),
  ]);
  fs.copyFileSync(path.join(executables, 'cnikit-calico'), path.join(executables, 'cnikit-calico-ipam'));
  // etcd3 loads its .proto files from `${__dirname}/../proto`
  fs.cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(dir, 'proto'), { recursive: true });
  return { executables, server: path.join(dir, 'programs', 'cni-server.js'), echoServer: path.join(dir, 'programs', 'echo-server.js') };
}

/** One plugin invocation as the tap in front of each cnikit plugin logged it. */
interface TapEntry {
  readonly command: string;
  readonly code: number;
  readonly stdout: string;
}

/** What one set-up's cnitool call gave, and what the cnikit plugin answered libcni on the way. */
interface ToolRun extends RunResult {
  readonly plugin: readonly TapEntry[];
}

type Check = Omit<CheckResult, 'name'> & { readonly name: string };

/** One set-up: a node namespace with its datastore (and server), pods, conflists, and the checks. */
class SetupRun {
  private readonly id = newLabId();
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.id}-`));
  private readonly node = `${this.id}-node`;
  private readonly namespaces: string[] = [];
  private readonly processes: LabProcess[] = [];
  private readonly tapLog = path.join(this.dir, 'tap.log');
  private readonly varLib = path.join(this.dir, 'var-lib');
  private readonly netconf = path.join(this.dir, 'net.d');
  private readonly subnetFile = path.join(this.dir, 'subnet.env');
  private readonly dataDir = path.join(this.dir, 'flannel-data');
  private etcd?: LabProcess;
  private store?: KeyValueStore;
  private readonly tracked = { destroySync: () => this.destroySync() };

  constructor(
    private readonly setup: ContractSetup,
    private readonly cnitool: string,
    private readonly programs: Programs,
    private readonly options: CniContractOptions,
    private readonly report: (check: Check) => void,
  ) {
    track(this.tracked);
  }

  async all(): Promise<void> {
    await this.createNode();
    await (this.setup.plugin === 'flannel' ? this.startFlannelDatastore() : this.startEtcd());
    const plugins = this.setup.mode === 'server' ? await this.startServer() : this.programs.executables;
    this.writeTaps(plugins);
    this.hideIp6tables();
    this.writeConflists();
    await this.contract();
    await this.lifecycle();
  }

  // ---------- the 1.0.0 chain: cnikit plugin + portmap + bandwidth ----------

  private async contract(): Promise<void> {
    const pod = await this.pod('contract');
    const netnsPath = `/var/run/netns/${pod}`;
    const containerId = cnitoolContainerId(netnsPath);
    const env = { CAP_ARGS: JSON.stringify(CAP_ARGS), CNI_ARGS: this.cniArgs('contract') };
    const add = await this.tool('add', NETWORK.contract, pod, env);
    const result = parseJson(add.stdout);
    // libcni re-encodes what each plugin prints (dropping what it does not know): the cnikit plugin's own answer is checked too
    const own = add.plugin.find((e) => e.command === 'ADD')?.stdout;
    const shape = add.code !== 0 ? [] : [
      ...cniResultProblems(result, { cniVersion: '1.0.0', sandbox: netnsPath }),
      ...cniResultProblems(parseJson(own), { cniVersion: '1.0.0', sandbox: netnsPath }).map((p) => `the cnikit plugin's own result: ${p}`),
    ];
    this.check('ADD exits 0 with a result per SPEC (interfaces, ips on the sandbox interface, routes), the plugin\'s own and the chain\'s', add.code === 0 && shape.length === 0,
      add.code !== 0 ? `cnitool add exited ${add.code}: ${failure(add)}` : shape.length ? shape.join('; ') : `${(result as { ips: unknown[] }).ips.length} ip(s), result ${oneLine(add.stdout, 300)}`);
    if (add.code !== 0) throw new Error(`ADD failed, nothing further to check: ${failure(add)}`);
    const addresses = sandboxAddresses(result, netnsPath);
    const address = addresses[0] ?? '';
    const withPrefix = ((result as { ips: { address: string }[] }).ips.find((ip) => ip.address.startsWith(`${address}/`)))?.address ?? '';

    const inPod = await this.podAddresses(pod);
    this.check('ADD: the address is on eth0 inside the pod namespace', inPod.includes(withPrefix), `pod eth0 has ${inPod.join(', ') || 'no address'}; result says ${withPrefix}`);
    const hostVeth = await this.hostVeth(result);
    const nat = await this.nat();
    const dnat = nat.split('\n').filter((line) => line.includes(`--to-destination ${address}:${CONTAINER_PORT}`) && line.includes(`--dport ${HOST_PORT}`));
    this.check(`ADD: portmap's DNAT ${HOST_PORT} → ${address}:${CONTAINER_PORT} is in the node's nat table`, dnat.length > 0, dnat.length ? oneLine(dnat[0]) : `no such rule in: ${oneLine(nat, 300)}`);
    const tc = await this.shaping(hostVeth);
    this.check('ADD: bandwidth\'s tbf qdisc on the host veth and its ifb device are in the node', tc.tbf && tc.ifbs.length > 0,
      `host veth ${hostVeth ?? '(none in result)'}: ${tc.tbf ? 'tbf' : 'no tbf'}; ifb: ${tc.ifbs.join(', ') || 'none'}`);
    this.check(`ADD: a TCP connection to ${NODE_ADDRESS}:${HOST_PORT} reaches a listener in the pod`, ...await this.connect(pod));

    const check = await this.tool('check', NETWORK.contract, pod, env);
    this.check('CHECK exits 0 on the intact attachment', check.code === 0, check.code === 0 ? 'exit 0' : `exit ${check.code}: ${failure(check)}`);

    if ((this.options.tamper ?? 'pod-address') === 'pod-address') await run(['ip', '-n', pod, 'addr', 'del', withPrefix, 'dev', 'eth0']);
    const tampered = await this.tool('check', NETWORK.contract, pod, env);
    const error = errorObject(tampered.plugin.find((e) => e.command === 'CHECK' && e.code !== 0)?.stdout);
    this.check('CHECK after the pod\'s address is removed exits non-zero with the spec\'s error object', tampered.code !== 0 && error !== undefined,
      tampered.code === 0 ? 'cnitool check exited 0: the tampering went unnoticed' : error ? `exit ${tampered.code}, plugin error ${error.code}: ${oneLine(error.msg, 200)}` : `exit ${tampered.code} without an error object from the plugin: ${failure(tampered)}`);

    const del = await this.tool('del', NETWORK.contract, pod, env);
    const left = await this.leftovers({ containerId, pod, address, network: NETWORK.contract, hostVeth });
    this.check('DEL exits 0 and removes the veth, the address reservation, portmap\'s rules and the qdiscs', del.code === 0 && left.length === 0,
      del.code !== 0 ? `exit ${del.code}: ${failure(del)}` : left.length ? `left behind: ${left.join('; ')}` : 'nothing left');
    const again = await this.tool('del', NETWORK.contract, pod, env);
    this.check('DEL again exits 0', again.code === 0, again.code === 0 ? 'exit 0' : `exit ${again.code}: ${failure(again)}`);
  }

  // ---------- the 1.1.0 verbs: STATUS and GC ----------

  private async lifecycle(): Promise<void> {
    const anyPod = this.namespaces[0];
    const status = await this.tool('status', NETWORK.gc, anyPod);
    this.check('STATUS (1.1.0) exits 0 with the datastore up', status.code === 0, status.code === 0 ? 'exit 0' : `exit ${status.code}: ${failure(status)}`);

    const [a, b, keep] = [await this.pod('gc-a'), await this.pod('gc-b'), await this.pod('keep')];
    const added: Record<string, string> = {};
    for (const [pod, network] of [[a, NETWORK.gc], [b, NETWORK.gc], [keep, NETWORK.keep]] as const) {
      const out = await this.tool('add', network, pod, { CNI_ARGS: this.cniArgs(pod === a ? 'gc-a' : pod === b ? 'gc-b' : 'keep') });
      if (out.code !== 0) throw new Error(`ADD of ${pod} to ${network} for the GC check failed: ${failure(out)}`);
      added[pod] = sandboxAddresses(JSON.parse(out.stdout), `/var/run/netns/${pod}`)[0] ?? '';
    }
    const id = (pod: string) => cnitoolContainerId(`/var/run/netns/${pod}`);
    // b's sandbox is gone and the runtime lost its record: only the plugin's GC can free its address
    fs.rmSync(path.join(this.varLib, 'cni', 'results', `${NETWORK.gc}-${id(b)}-eth0`));
    this.destroyNetns(b);
    const gc = await this.tool('gc', NETWORK.gc, anyPod);
    const [reservedA, reservedB, reservedKeep] = await Promise.all([a, b, keep].map((pod) => this.reserved(id(pod), pod === keep ? NETWORK.keep : NETWORK.gc, added[pod])));
    const keepInPod = (await this.podAddresses(keep)).some((cidr) => cidr.startsWith(`${added[keep]}/`));
    const keepCached = fs.existsSync(path.join(this.varLib, 'cni', 'results', `${NETWORK.keep}-${id(keep)}-eth0`));
    this.check('GC (1.1.0): the attachment libcni no longer lists is freed by the plugin, another network\'s is kept',
      gc.code === 0 && !reservedB && !reservedA && reservedKeep && keepInPod && keepCached,
      `exit ${gc.code}${gc.code ? ` (${failure(gc)})` : ''}; uncached ${added[b]}: ${reservedB ? 'still reserved' : 'freed'}; cached ${added[a]} (libcni's DEL): ${reservedA ? 'still reserved' : 'freed'}; `
        + `${NETWORK.keep} ${added[keep]}: ${reservedKeep ? 'reserved' : 'FREED'}, ${keepInPod ? 'on its pod' : 'NOT on its pod'}, ${keepCached ? 'cached' : 'NOT cached'}`);
    await this.tool('del', NETWORK.keep, keep, { CNI_ARGS: this.cniArgs('keep') });

    await this.makeDatastoreUnready();
    const down = await this.tool('status', NETWORK.gc, anyPod);
    const error = errorObject(down.plugin.find((e) => e.command === 'STATUS' && e.code !== 0)?.stdout);
    const what = this.setup.plugin === 'flannel' ? 'the subnet file absent' : 'etcd stopped';
    this.check(`STATUS with ${what} exits non-zero with the spec's code 50`, down.code !== 0 && error?.code === 50,
      down.code === 0 ? 'cnitool status exited 0' : error ? `exit ${down.code}, plugin error ${error.code}: ${oneLine(error.msg, 200)}` : `exit ${down.code} without an error object: ${failure(down)}`);
  }

  // ---------- the node, datastores, server ----------

  private async createNode(): Promise<void> {
    await run(['ip', 'netns', 'add', this.node]);
    this.namespaces.push(this.node);
    // An uplink with a default route: Calico's proxy ARP answers for 169.254.1.1 only when the node routes to it.
    for (const argv of [['link', 'set', 'lo', 'up'], ['link', 'add', UPLINK[0], 'type', 'veth', 'peer', 'name', UPLINK[1]], ['link', 'set', UPLINK[1], 'up'], ['link', 'set', UPLINK[0], 'up'],
      ['addr', 'add', `${NODE_ADDRESS}/24`, 'dev', UPLINK[0]], ['route', 'add', 'default', 'via', '192.0.2.1']]) {
      await run(['ip', '-n', this.node, ...argv]);
    }
    fs.mkdirSync(path.join(this.varLib, 'cni'), { recursive: true });
  }

  private async pod(role: string): Promise<string> {
    const name = `${this.id}-${role}`;
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  private destroyNetns(name: string): void {
    destroyNetnsSync(name);
    this.namespaces.splice(this.namespaces.indexOf(name), 1);
  }

  private async startFlannelDatastore(): Promise<void> {
    fs.writeFileSync(this.subnetFile, `FLANNEL_NETWORK=${FLANNEL_NETWORK}\nFLANNEL_SUBNET=${FLANNEL_SUBNET}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
  }

  private async startEtcd(): Promise<void> {
    const dir = path.join(this.dir, 'etcd');
    fs.mkdirSync(dir);
    this.etcd = this.spawn('etcd', ['etcd', '--name', 'contract', '--data-dir', path.join(dir, 'data'),
      '--listen-client-urls', 'http://127.0.0.1:2379,unix://client.sock:0', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'contract=http://127.0.0.1:2380', '--log-level', 'warn'], dir);
    const socket = path.join(dir, 'client.sock:0');
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(socket)) {
      if (!this.etcd.running || Date.now() > deadline) throw new Error(`etcd did not open its client socket: ${this.etcd.output().slice(-3).join(' | ')}`);
      await sleep(100);
    }
    this.store = prefixedStore(EtcdStore.connect({ endpoints: [`unix://${socket}`] }), CALICO_ETCD_PREFIX);
    await this.store.put(`${CALICO_KEYS.pools}default`, JSON.stringify({ cidr: CALICO_POOL, blockSize: 26 }));
  }

  /** Starts the resident server in the node; returns the directory of server-only shims (no fallback). */
  private async startServer(): Promise<string> {
    const tokenFile = path.join(this.dir, 'cni-server.token');
    const server = this.spawn('cni-server', [process.execPath, this.programs.server, `--port=${SERVER_PORT}`, `--token-file=${tokenFile}`], this.dir);
    await server.waitForLine(/listening/, 20_000);
    const dir = path.join(this.dir, 'shim');
    fs.mkdirSync(dir);
    for (const type of ['cnikit-flannel', 'cnikit-calico', 'cnikit-calico-ipam']) {
      // a fallback that cannot run: whatever succeeds through the shim was the server's answer
      fs.writeFileSync(path.join(dir, type), renderCniShim({ port: SERVER_PORT, tokenFile, node: process.execPath, plugin: '/nonexistent' }), { mode: 0o755 });
    }
    return dir;
  }

  private spawn(name: string, argv: readonly string[], cwd: string): LabProcess {
    const child = new LabProcess(name, argv, { netns: this.node, cwd, logFile: path.join(this.dir, `${name}.log`) });
    this.processes.push(child);
    return child;
  }

  private async makeDatastoreUnready(): Promise<void> {
    if (this.setup.plugin === 'flannel') fs.rmSync(this.subnetFile);
    else await this.etcd?.stop();
  }

  /**
   * In front of each cnikit plugin a tap: it runs the plugin (stdin passed through), logs the
   * command, exit code and stdout, and hands stdout on unchanged. libcni keeps only the error
   * message; the tap keeps the error object's code.
   */
  private writeTaps(plugins: string): void {
    const dir = path.join(this.dir, 'tap');
    fs.mkdirSync(dir);
    for (const type of ['cnikit-flannel', 'cnikit-calico', 'cnikit-calico-ipam']) {
      fs.writeFileSync(path.join(dir, type), [
        '#!/bin/bash',
        `out=$(${quote(path.join(plugins, type))}); code=$?`,
        `printf '%s\\t%s\\t%s\\n' "$CNI_COMMAND" "$code" "$(printf '%s' "$out" | tr '\\n\\t' '  ')" >> ${quote(this.tapLog)}`,
        '[ -n "$out" ] && printf \'%s\\n\' "$out"',
        'exit $code',
        '',
      ].join('\n'), { mode: 0o755 });
    }
  }

  /**
   * The node is IPv4-only as far as the plugins can tell: `ip6tables` fails first in their PATH.
   * Debian's portmap 1.1.1 checks a container's chain in both iptables and ip6tables whenever both
   * work (`checkPorts`), while ADD creates it only in the container address's family, so its CHECK
   * fails for every single-stack pod; upstream checks only the address's family since (v1.6.x).
   */
  private hideIp6tables(): void {
    const dir = path.join(this.dir, 'ipv4-only');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'ip6tables'), '#!/bin/sh\necho "ip6tables: hidden, an IPv4-only node (cni-contract.ts)" >&2\nexit 1\n', { mode: 0o755 });
  }

  private writeConflists(): void {
    fs.mkdirSync(this.netconf);
    const cnikit = this.setup.plugin === 'flannel'
      ? { type: 'cnikit-flannel', subnetFile: this.subnetFile, dataDir: this.dataDir }
      : {
        type: 'cnikit-calico', nodename: 'contract-node', mtu: 1400, datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:2379',
        ipam: { type: 'cnikit-calico-ipam', lock_file: path.join(this.dir, 'ipam.lock') },
      };
    const write = (file: string, conflist: unknown) => fs.writeFileSync(path.join(this.netconf, file), JSON.stringify(conflist, null, 2));
    write('10-contract.conflist', {
      cniVersion: '1.0.0', name: NETWORK.contract, plugins: [
        cnikit,
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    });
    write('20-gc.conflist', { cniVersion: '1.1.0', name: NETWORK.gc, plugins: [cnikit] });
    write('30-keep.conflist', { cniVersion: '1.1.0', name: NETWORK.keep, plugins: [cnikit] });
  }

  private cniArgs(pod: string): string {
    return `IgnoreUnknown=1;K8S_POD_NAMESPACE=contract;K8S_POD_NAME=${pod}`;
  }

  // ---------- cnitool ----------

  /** `cnitool <verb> <network> /var/run/netns/<pod>` in the node, in a mount namespace whose /var/lib is the run's. */
  private async tool(verb: 'add' | 'check' | 'del' | 'gc' | 'status', network: string, pod: string, env: Readonly<Record<string, string>> = {}): Promise<ToolRun> {
    const before = fs.existsSync(this.tapLog) ? fs.readFileSync(this.tapLog, 'utf8').length : 0;
    const result = await run(['ip', 'netns', 'exec', this.node, 'unshare', '--mount', '--propagation', 'slave', 'sh', '-c', 'mount --bind "$0" /var/lib && exec "$@"',
      this.varLib, this.cnitool, verb, network, `/var/run/netns/${pod}`], {
      env: {
        PATH: `${path.join(this.dir, 'ipv4-only')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
        NETCONFPATH: this.netconf, CNI_PATH: `${path.join(this.dir, 'tap')}:${DEBIAN_PLUGINS}`, CNI_IFNAME: 'eth0',
        CAP_ARGS: '', CNI_ARGS: '', ...env,
      },
      allowFailure: true,
      timeoutMs: 60_000,
    });
    const plugin = fs.existsSync(this.tapLog) ? fs.readFileSync(this.tapLog, 'utf8').slice(before).split('\n').filter(Boolean).map((line) => {
      const [command = '', code = '', ...stdout] = line.split('\t');
      return { command, code: Number(code), stdout: stdout.join('\t') };
    }) : [];
    return { ...result, plugin };
  }

  // ---------- what the kernel and the datastore hold ----------

  private async podAddresses(pod: string): Promise<string[]> {
    const out = await run(['ip', '-n', pod, '-o', 'addr', 'show', 'dev', 'eth0'], { allowFailure: true });
    return [...out.stdout.matchAll(/\binet6? (\S+)/g)].map((m) => m[1]);
  }

  /** The result's interface outside the sandbox that is a veth in the node. */
  private async hostVeth(result: unknown): Promise<string | undefined> {
    const veths = await this.nodeLinks('veth');
    const interfaces = ((result as { interfaces?: { name: string; sandbox?: string }[] }).interfaces ?? []);
    return interfaces.find((i) => !i.sandbox && veths.includes(i.name))?.name;
  }

  private async nodeLinks(type: string): Promise<string[]> {
    const out = await run(['ip', '-n', this.node, '-o', 'link', 'show', 'type', type]);
    return [...out.stdout.matchAll(/^\d+: ([^:@]+)[@:]/gm)].map((m) => m[1]).filter((name) => !UPLINK.includes(name));
  }

  private async nat(): Promise<string> {
    return (await run(['ip', 'netns', 'exec', this.node, 'iptables', '-w', '-t', 'nat', '-S'])).stdout;
  }

  private async shaping(hostVeth: string | undefined): Promise<{ tbf: boolean; ifbs: string[] }> {
    const qdiscs = (await run(['tc', '-n', this.node, 'qdisc', 'show'])).stdout;
    const tbf = hostVeth !== undefined && qdiscs.split('\n').some((line) => line.includes(' tbf ') && line.includes(`dev ${hostVeth} `));
    return { tbf, ifbs: await this.nodeLinks('ifb') };
  }

  private async connect(pod: string): Promise<[boolean, string]> {
    const echo = new LabProcess('echo', [process.execPath, this.programs.echoServer, String(CONTAINER_PORT)], { netns: pod, logFile: path.join(this.dir, 'echo.log') });
    this.processes.push(echo);
    try {
      await echo.waitForLine(/listening/, 15_000);
      const out = await run(['ip', 'netns', 'exec', this.node, 'timeout', '5', 'bash', '-c',
        `exec 3<>/dev/tcp/${NODE_ADDRESS}/${HOST_PORT} && printf 'cnikit-contract\\n' >&3 && head -n1 <&3`], { allowFailure: true, timeoutMs: 10_000 });
      const ok = out.stdout.trim() === 'cnikit-contract';
      return [ok, ok ? 'echoed through the DNAT' : `exit ${out.code}: ${oneLine(out.stderr || out.stdout) || 'no answer'}`];
    } finally {
      await echo.stop();
    }
  }

  /** Whether the datastore still holds `address` for the attachment. */
  private async reserved(containerId: string, network: string, address: string): Promise<boolean> {
    if (this.setup.plugin === 'flannel') return fs.existsSync(path.join(this.dataDir, 'ipam', address));
    const blocks = await this.requireStore().list(CALICO_KEYS.blocks);
    const handle = podHandle(network, containerId);
    return blocks.items.some((kv) => blockAllocations(JSON.parse(kv.value) as IpamBlockSpec).some((a) => a.address === address || a.handleId === handle));
  }

  private requireStore(): KeyValueStore {
    if (!this.store) throw new Error('no datastore client');
    return this.store;
  }

  /** What a DEL should have removed and did not. */
  private async leftovers(attachment: { containerId: string; pod: string; address: string; network: string; hostVeth?: string }): Promise<string[]> {
    const left: string[] = [];
    const veths = await this.nodeLinks('veth');
    if (veths.length) left.push(`veth ${veths.join(', ')} in the node`);
    if ((await run(['ip', '-n', attachment.pod, 'link', 'show', 'eth0'], { allowFailure: true })).code === 0) left.push('eth0 in the pod');
    if (await this.reserved(attachment.containerId, attachment.network, attachment.address)) {
      left.push(this.setup.plugin === 'flannel' ? `host-local reservation ${path.join(this.dataDir, 'ipam', attachment.address)}` : `Calico IPAM allocation of ${attachment.address}`);
    }
    if (this.store && (await this.store.list(CALICO_KEYS.workloadEndpoints)).items.length) left.push('a WorkloadEndpoint record in etcd');
    if (this.setup.plugin === 'flannel' && fs.existsSync(path.join(this.dataDir, 'ipam', 'owners')) && fs.readdirSync(path.join(this.dataDir, 'ipam', 'owners')).length) {
      left.push('a host-local owner record');
    }
    const nat = (await this.nat()).split('\n').filter((line) => line.includes(attachment.address) || line.includes(`--dport ${HOST_PORT}`));
    if (nat.length) left.push(`nat rules ${oneLine(nat.join(' | '), 200)}`);
    const { tbf, ifbs } = await this.shaping(attachment.hostVeth);
    const qdiscs = (await run(['tc', '-n', this.node, 'qdisc', 'show'])).stdout.split('\n').filter((line) => / (tbf|ingress) /.test(line));
    if (tbf || qdiscs.length) left.push(`qdiscs ${oneLine(qdiscs.join(' | '), 200)}`);
    if (ifbs.length) left.push(`ifb ${ifbs.join(', ')}`);
    return left;
  }

  private check(name: string, ok: boolean, detail: string): void {
    this.report({ name, ok, detail });
  }

  // ---------- teardown ----------

  async destroy(): Promise<void> {
    await this.store?.close().catch(() => undefined);
    this.store = undefined;
    await Promise.all(this.processes.map((p) => p.stop('SIGTERM', 3_000)));
    this.destroySync();
  }

  destroySync(): void {
    for (const p of this.processes) p.killSync();
    for (const name of [...this.namespaces].reverse()) destroyNetnsSync(name);
    this.namespaces.length = 0;
    fs.rmSync(this.dir, { recursive: true, force: true });
    untrack(this.tracked);
  }
}

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
}

function errorObject(stdout: string | undefined): { code: number; msg: string } | undefined {
  try {
    const value = JSON.parse(stdout ?? '') as { code?: unknown; msg?: unknown; cniVersion?: unknown };
    return typeof value.code === 'number' && typeof value.msg === 'string' && typeof value.cniVersion === 'string' ? { code: value.code, msg: value.msg } : undefined;
  } catch {
    return undefined;
  }
}

function failure(out: ToolRun): string {
  const plugin = out.plugin.filter((e) => e.code !== 0).map((e) => `${e.command} → ${e.code} ${e.stdout}`).join(' | ');
  return oneLine(`${out.stderr || out.stdout}${plugin ? ` (plugin: ${plugin})` : ''}`, 400);
}

function oneLine(text: string, max = 240): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

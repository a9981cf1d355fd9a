import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { ValidationError } from '../model/errors';
import { loadPolicyObjects, PolicyObjects } from '../dataplane/policy/load';
import { Lab } from './lab';
import { CalicoLab } from './calico';
import { ClusterPodIdentity, ClusterPolicy } from './policy-cluster';
import { formatTruthTable, mismatches, NamedPortSpec, PolicyLab, PolicyLabPodSpec, PolicyLabSpec, PolicyLabStack, ProbeCase, TruthTable } from './policy-lab';

/** What a user declares to check policies against: the pods, the probes and (optionally) their intent. */
export interface PolicyMatrix extends PolicyLabSpec {
  readonly probes: readonly ProbeCase[];
  /** Connections the user means to be allowed (true) or denied (false). @default - none */
  readonly expect?: readonly PolicyIntent[];
}

export interface PolicyIntent {
  readonly from: string;
  readonly to: string;
  readonly protocol: ProbeCase['protocol'];
  readonly port?: number;
  readonly allowed: boolean;
}

/** The probe an intent is about (no port for ICMP). */
export function intentProbe(e: PolicyIntent): ProbeCase {
  return e.protocol === 'ICMP' ? { protocol: 'ICMP' } : { protocol: e.protocol, port: e.port };
}

/** `shop/frontend → shop/api TCP/8080`. */
export function intentName(e: PolicyIntent): string {
  return `${e.from} → ${e.to} ${e.protocol}${e.port ? `/${e.port}` : ''}`;
}

/**
 * Whether an intent holds: the policies (the reference evaluator's verdict) and the network (what a
 * real probe saw) must both give the intended verdict. Undefined when it holds, else the one-line
 * account of what differs (`…: intended allowed, policy says denied, kernel denied`).
 */
export function unmetIntent(e: PolicyIntent, policySays: boolean, observed: boolean | undefined): string | undefined {
  if (policySays === e.allowed && observed === e.allowed) return undefined;
  const word = (v: boolean | undefined) => (v === undefined ? 'not probed' : v ? 'allowed' : 'denied');
  return `${intentName(e)}: intended ${word(e.allowed)}, policy says ${word(policySays)}, kernel ${word(observed)}`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP'];

function labels(field: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new ValidationError(field, v, 'a map of label names to string values');
  return v as Record<string, string>;
}

function probe(field: string, v: unknown): ProbeCase {
  if (!isObj(v) || !PROTOCOLS.includes(String(v.protocol))) throw new ValidationError(`${field}.protocol`, isObj(v) ? v.protocol : v, 'TCP, UDP, SCTP or ICMP');
  if (v.protocol === 'ICMP') return { protocol: 'ICMP' };
  if (typeof v.port !== 'number' || !Number.isInteger(v.port) || v.port < 1 || v.port > 65535) throw new ValidationError(`${field}.port`, v.port, 'a port number from 1 to 65535');
  return { protocol: v.protocol as ProbeCase['protocol'], port: v.port };
}

/**
 * Reads a matrix file:
 * ```yaml
 * namespaces: { shop: { team: web }, kube-system: {} }     # name → labels
 * pods:
 *   - { namespace: shop, name: api, labels: { app: api }, serviceAccount: api, ports: [{ port: 8080, protocol: TCP, name: http }] }
 * probes: [{ protocol: TCP, port: 8080 }, { protocol: UDP, port: 53 }, { protocol: ICMP }]
 * expect: [{ from: shop/frontend, to: shop/api, protocol: TCP, port: 8080, allowed: true }]
 * ```
 */
export function parsePolicyMatrix(text: string, source = 'matrix'): PolicyMatrix {
  const doc: unknown = parse(text);
  if (!isObj(doc)) throw new ValidationError(source, doc, 'a mapping with namespaces, pods and probes');
  if (!isObj(doc.namespaces)) throw new ValidationError(`${source}.namespaces`, doc.namespaces, 'a map of namespace names to their labels');
  const namespaces = Object.entries(doc.namespaces).map(([name, l]) => ({ name, labels: labels(`${source}.namespaces.${name}`, l) }));
  if (!Array.isArray(doc.pods) || doc.pods.length < 2) throw new ValidationError(`${source}.pods`, doc.pods, 'a list of at least two pods');
  const seen = new Set<string>();
  const pods: PolicyLabPodSpec[] = doc.pods.map((p: unknown, i: number) => {
    const f = `${source}.pods[${i}]`;
    if (!isObj(p) || typeof p.name !== 'string' || typeof p.namespace !== 'string') throw new ValidationError(f, p, 'a pod with namespace and name');
    if (!namespaces.some((n) => n.name === p.namespace)) throw new ValidationError(`${f}.namespace`, p.namespace, `one of the declared namespaces (${namespaces.map((n) => n.name).join(', ')})`);
    const key = `${p.namespace}/${p.name}`;
    if (seen.has(key)) throw new ValidationError(`${f}.name`, p.name, `a name not used twice in namespace ${p.namespace}`);
    seen.add(key);
    const ports: NamedPortSpec[] = ((p.ports ?? []) as unknown[]).map((x, j) => {
      const c = probe(`${f}.ports[${j}]`, x);
      if (c.protocol === 'ICMP') throw new ValidationError(`${f}.ports[${j}].protocol`, 'ICMP', 'TCP, UDP or SCTP');
      const name = isObj(x) ? x.name : undefined;
      if (name !== undefined && (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 15)) {
        throw new ValidationError(`${f}.ports[${j}].name`, name, 'a port name of at most 15 lower-case letters, digits and "-"');
      }
      return { port: c.port as number, protocol: c.protocol, ...(typeof name === 'string' ? { name } : {}) };
    });
    return {
      namespace: p.namespace, name: p.name, labels: labels(`${f}.labels`, p.labels), ports,
      ...(typeof p.serviceAccount === 'string' ? { serviceAccount: p.serviceAccount } : {}),
    };
  });
  if (!Array.isArray(doc.probes) || doc.probes.length === 0) throw new ValidationError(`${source}.probes`, doc.probes, 'a list of probes such as { protocol: TCP, port: 80 }');
  const probes = doc.probes.map((p: unknown, i: number) => probe(`${source}.probes[${i}]`, p));
  const serviceAccounts = Array.isArray(doc.serviceAccounts)
    ? doc.serviceAccounts.map((s: unknown, i: number) => {
      if (!isObj(s) || typeof s.name !== 'string' || typeof s.namespace !== 'string') throw new ValidationError(`${source}.serviceAccounts[${i}]`, s, 'a service account with namespace, name and labels');
      return { namespace: s.namespace, name: s.name, labels: labels(`${source}.serviceAccounts[${i}].labels`, s.labels) };
    })
    : [];
  const expect = ((doc.expect ?? []) as unknown[]).map((e, i): PolicyIntent => {
    const f = `${source}.expect[${i}]`;
    if (!isObj(e) || typeof e.allowed !== 'boolean') throw new ValidationError(`${f}.allowed`, isObj(e) ? e.allowed : e, 'true or false');
    for (const k of ['from', 'to'] as const) if (typeof e[k] !== 'string' || !seen.has(e[k] as string)) throw new ValidationError(`${f}.${k}`, e[k], 'a declared pod as namespace/name');
    const c = probe(f, e);
    return { from: e.from as string, to: e.to as string, ...c, allowed: e.allowed };
  });
  return { namespaces, pods, probes, serviceAccounts, expect };
}

/** Reads policy manifests from files or directories (every .yaml/.yml in them, sorted). */
export function readPolicyManifests(paths: readonly string[]): PolicyObjects {
  const out: PolicyObjects = { policies: [], networkSets: [], tiers: [] };
  for (const p of paths) {
    const files = fs.statSync(p).isDirectory()
      ? fs.readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(p, f))
      : [p];
    for (const f of files) {
      const objs = loadPolicyObjects(fs.readFileSync(f, 'utf8'), f);
      out.policies.push(...objs.policies);
      out.networkSets.push(...objs.networkSets);
      out.tiers.push(...objs.tiers);
    }
  }
  return out;
}

export interface PolicyVerification {
  readonly stack: PolicyLabStack;
  readonly tables: readonly TruthTable[];
  /** Cells where the kernel disagreed with the reference evaluator. */
  readonly mismatches: number;
  /** Declared intents the policies do not meet (per the evaluator and the kernel). */
  readonly unmetIntents: readonly string[];
  /** Milliseconds the engine(s) took to apply the policies to the running lab. */
  readonly applyMs: number;
  /** Nodes of the lab cluster; undefined for the one-node policy lab. */
  readonly nodes?: number;
}

/** What verifyPolicies drives: the one-node policy lab or a policy-enforcing multi-node lab cluster. */
interface PolicyTarget {
  setPolicies(policies: PolicyObjects['policies'], networkSets: PolicyObjects['networkSets'], tiers: PolicyObjects['tiers']): Promise<unknown>;
  truthTables(cases: readonly ProbeCase[], timeoutMs: number): Promise<TruthTable[]>;
  expected(from: string, to: string, c: ProbeCase): boolean;
  probe(from: string, targets: readonly { to: string; protocol: ProbeCase['protocol']; port?: number }[], timeoutMs: number): Promise<boolean[]>;
}

export interface VerifyOptions {
  /** Probe timeout. @default 800 */
  readonly timeoutMs?: number;
  /**
   * Run on a real multi-node lab cluster of the stack (real agents and CNI plugin, pods spread
   * round-robin over the nodes) instead of the one-node policy lab. @default - the one-node policy lab
   */
  readonly nodes?: number;
}

async function clusterTarget(matrix: PolicyMatrix, stack: PolicyLabStack, nodes: number): Promise<{ target: PolicyTarget; destroy: () => Promise<void> }> {
  const calico = stack === 'calico' ? await CalicoLab.create({ nodes, topology: 'flat', vxlanMode: 'Always' }) : undefined;
  const lab = calico ? calico.lab : await Lab.create({ nodes, backend: { Type: 'vxlan' } });
  const destroy = async () => { if (calico) await calico.destroy(); else await lab.destroy(); };
  try {
    const pods: ClusterPodIdentity[] = [];
    for (const [i, p] of matrix.pods.entries()) pods.push({ ...p, pod: await lab.addPod(lab.nodes[i % nodes], `p${i}`) });
    const cluster = await ClusterPolicy.attach(lab, stack, matrix.namespaces, pods);
    await lab.waitForConnectivity(20_000);
    return { target: cluster, destroy: async () => { await cluster.detach(); await destroy(); } };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Builds the matrix on one stack, applies the policies, probes every pair and compares. */
export async function verifyPolicies(matrix: PolicyMatrix, objects: PolicyObjects, stack: PolicyLabStack, options: VerifyOptions = {}): Promise<PolicyVerification> {
  const timeoutMs = options.timeoutMs ?? 800;
  const { target: lab, destroy } = options.nodes
    ? await clusterTarget(matrix, stack, options.nodes)
    : await PolicyLab.create(matrix, { stack }).then((l) => ({ target: l as PolicyTarget, destroy: () => l.destroy() }));
  try {
    const t0 = process.hrtime.bigint();
    await lab.setPolicies(objects.policies, objects.networkSets, objects.tiers);
    const applyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const tables = await lab.truthTables(matrix.probes, timeoutMs);
    const unmetIntents: string[] = [];
    for (const e of matrix.expect ?? []) {
      const c = intentProbe(e);
      const exp = lab.expected(e.from, e.to, c);
      const t = tables.find((x) => x.probe.protocol === c.protocol && x.probe.port === c.port);
      const obs = t ? t.observed[t.pods.indexOf(e.from)][t.pods.indexOf(e.to)] : (await lab.probe(e.from, [{ to: e.to, ...c }], timeoutMs))[0];
      const unmet = unmetIntent(e, exp, obs);
      if (unmet) unmetIntents.push(unmet);
    }
    return { stack, tables, mismatches: tables.reduce((n, t) => n + mismatches(t), 0), unmetIntents, applyMs, ...(options.nodes ? { nodes: options.nodes } : {}) };
  } finally {
    await destroy();
  }
}

export function formatVerification(v: PolicyVerification): string {
  const lines = [`${v.stack}-style stack${v.nodes ? ` (${v.nodes}-node lab cluster)` : ' (one-node policy lab)'}: policies applied in ${v.applyMs.toFixed(1)} ms`];
  lines.push(`pods: ${v.tables[0]?.pods.map((p, i) => `${i}=${p}`).join(' ')}`);
  for (const t of v.tables) lines.push(formatTruthTable(t));
  lines.push(v.mismatches === 0 ? 'kernel agrees with the policy semantics on every pair' : `${v.mismatches} cell(s) where the kernel disagrees (marked !)`);
  for (const u of v.unmetIntents) lines.push(`UNMET ${u}`);
  return lines.join('\n');
}

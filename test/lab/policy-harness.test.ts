import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { synthEnvironments } from '../../apps/synth';
import { environment } from '../../apps/environments';
import { parsePolicyMatrix, readPolicyManifests, verifyPolicies } from '../../lib/lab/policy-harness';
import { runPolicyCli } from '../../lib/lab/policy-cli';
import { canCreateNetns } from '../support/netns';

const MATRIX_FILE = path.join(__dirname, 'policy-shop-matrix.yaml');

describe('policy matrix file', () => {
  it('reads namespaces, pods with ports, probes and intents', () => {
    const m = parsePolicyMatrix(fs.readFileSync(MATRIX_FILE, 'utf8'));
    expect(m.pods.find((p) => p.name === 'frontend')).toEqual({ namespace: 'shop', name: 'frontend', labels: { app: 'frontend' }, ports: [{ port: 80, protocol: 'TCP', name: 'http' }] });
    expect(m.probes).toContainEqual({ protocol: 'UDP', port: 53 });
    expect(m.expect?.[0]).toEqual({ from: 'shop/frontend', to: 'shop/api', protocol: 'TCP', port: 8080, allowed: true });
  });

  it.each([
    ['namespaces: { a: {} }\npods: [{ namespace: b, name: p }, { namespace: a, name: q }]\nprobes: [{ protocol: TCP, port: 1 }]', 'm.pods[0].namespace: "b" is not valid; expected one of the declared namespaces (a)'],
    ['namespaces: { a: {} }\npods: [{ namespace: a, name: p }, { namespace: a, name: q }]\nprobes: [{ protocol: GRE }]', 'm.probes[0].protocol: "GRE" is not valid; expected TCP, UDP, SCTP or ICMP'],
    ['namespaces: { a: {} }\npods: [{ namespace: a, name: p }, { namespace: a, name: p }]\nprobes: [{ protocol: ICMP }]', 'm.pods[1].name: "p" is not valid; expected a name not used twice in namespace a'],
    ['namespaces: { a: {} }\npods: [{ namespace: a, name: p }, { namespace: a, name: q }]\nprobes: [{ protocol: ICMP }]\nexpect: [{ from: a/p, to: a/r, protocol: ICMP, allowed: true }]', 'm.expect[0].to: "a/r" is not valid; expected a declared pod as namespace/name'],
  ])('rejects bad input with one line (%#)', (text, message) => {
    expect(() => parsePolicyMatrix(text, 'm')).toThrow(message);
  });
});

const maybe = canCreateNetns() ? describe : describe.skip;

/** The prod environment's synthesized policies checked in the lab, through the CLI entry point. */
maybe('policy harness on the synthesized prod policies (real kernel)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-policy-harness-'));
    synthEnvironments([environment('prod')], dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lab policy: the kernel agrees with the semantics and every declared intent holds (exit 0)', async () => {
    const out: string[] = [];
    const code = await runPolicyCli(['--matrix', MATRIX_FILE, '--policies', path.join(dir, 'prod'), '--stack', 'calico'], (l) => out.push(l));
    expect({ code, out: out.join('\n') }).toEqual({ code: 0, out: expect.stringContaining('kernel agrees with the policy semantics on every pair') });
    expect(out.join('\n')).toMatch(/^TCP\/5432: expected \| observed$/m);
  }, 60_000);

  it('reports an intent the policies do not meet', async () => {
    const matrix = parsePolicyMatrix(fs.readFileSync(MATRIX_FILE, 'utf8'));
    const wrong = { ...matrix, probes: [{ protocol: 'TCP' as const, port: 5432 }], expect: [{ from: 'shop/impostor', to: 'shop/postgres', protocol: 'TCP' as const, port: 5432, allowed: true }] };
    const v = await verifyPolicies(wrong, readPolicyManifests([path.join(dir, 'prod')]), 'flannel', { nodes: 2 });
    expect(v.mismatches).toBe(0);
    expect(v.unmetIntents).toEqual(['shop/impostor → shop/postgres TCP/5432: intended allowed, policy says denied, kernel denied']);
  }, 60_000);
});

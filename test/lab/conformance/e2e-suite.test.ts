import { checksSummary, churnRatios, formatSummary, summarize } from '../../../apps/conformance';
import { PodChurnReport } from '../../../lib/lab/cluster/pod-churn';
import { escapeRegExp, parseGinkgoReport } from '../../../lib/lab/conformance/e2e-suite';

/** The shape of a ginkgo v2.9 `--json-report` (one suite), trimmed to the fields read. */
const report = (specs: readonly object[]) => JSON.stringify([{ SuitePath: '/e2e', SuiteSucceeded: false, SpecReports: specs }]);
const spec = (text: string, state: string, seconds: number, failure?: object) => ({
  ContainerHierarchyTexts: ['[sig-network] Netpol', 'NetworkPolicy between server and client'],
  LeafNodeType: 'It', LeafNodeText: text, State: state, RunTime: seconds * 1e9, ...(failure ? { Failure: failure } : {}),
});

describe('the e2e suite report', () => {
  const text = report([
    { LeafNodeType: 'SynchronizedBeforeSuite', LeafNodeText: '', State: 'passed', RunTime: 1e9 },
    spec("should support a 'default-deny-ingress' policy [Feature:NetworkPolicy]", 'passed', 44.8),
    spec('should enforce updated policy [Feature:NetworkPolicy]', 'failed', 61.2, {
      Message: 'Had 3 wrong results in reachability matrix\nexpected … observed …',
      Location: { FileName: 'k8s.io/kubernetes@v1.28.15/test/e2e/network/netpol/test_helper.go', LineNumber: 142 },
    }),
    // left out by the focus: skipped, no failure
    { ContainerHierarchyTexts: ['[sig-storage] CSI Volumes'], LeafNodeType: 'It', LeafNodeText: 'should check snapshot fields', State: 'skipped', RunTime: 0 },
    // skipped by the spec itself (e.g. a missing feature): kept, with its reason
    spec('should work on SCTP', 'skipped', 0.1, { Message: 'Only supported for providers [gce]' }),
  ]);

  test('the It specs the focus selected, with full names, states, seconds and the first line of each failure', () => {
    expect(parseGinkgoReport(text)).toEqual([
      { name: "[sig-network] Netpol NetworkPolicy between server and client should support a 'default-deny-ingress' policy [Feature:NetworkPolicy]", state: 'passed', seconds: 44.8 },
      { name: '[sig-network] Netpol NetworkPolicy between server and client should enforce updated policy [Feature:NetworkPolicy]', state: 'failed', seconds: 61.2,
        failure: 'Had 3 wrong results in reachability matrix (test_helper.go:142)' },
      { name: '[sig-network] Netpol NetworkPolicy between server and client should work on SCTP', state: 'skipped', seconds: 0.1 },
    ]);
  });

  test('a report that is not a list of suites is refused', () => {
    expect(() => parseGinkgoReport('{"SpecReports": []}')).toThrow('expected a JSON array of suite reports');
  });

  test('the summary counts passed, failed and skipped; a non-zero exit without a failed spec counts as a failure', () => {
    const cases = parseGinkgoReport(text);
    expect(summarize('e2e', 'flannel', { cases, exitCode: 1, output: 'e2e.log' })).toMatchObject({ passed: 1, failed: 1, skipped: 1 });
    const passing = cases.filter((c) => c.state === 'passed');
    expect(summarize('e2e', 'flannel', { cases: passing, exitCode: 0, output: 'e2e.log' })).toMatchObject({ passed: 1, failed: 0, failures: [] });
    expect(summarize('e2e', 'flannel', { cases: passing, exitCode: 2, output: 'e2e.log' })).toMatchObject({
      failed: 1, failures: ['e2e.test exited 2 with no failed spec; see e2e.log'],
    });
  });

  test('the table has a row per suite and stack and names what was not run and each failure below it', () => {
    const row = checksSummary('pod churn', 'calico', [{ name: 'n1 veths', ok: true, detail: '' }, { name: 'n2 veths', ok: false, detail: '3 left' }]);
    const e2e = summarize('e2e', 'flannel', { cases: [{ name: 'SCTP spec', state: 'skipped', seconds: 0, notRun: 'no SCTP here' }], exitCode: 0, output: '' });
    const table = formatSummary([{ ...row, seconds: 125 }, e2e]);
    expect(table.split('\n')).toEqual([
      '| suite     | stack   | passed | failed | skipped | time  |',
      '|-----------|---------|--------|--------|---------|-------|',
      '| pod churn | calico  | 1      | 1      | 0       | 2 min |',
      '| e2e       | flannel | 0      | 0      | 1       | 0 min |',
      'NOT RUN flannel: SCTP spec: no SCTP here',
      'FAILED calico: n2 veths: 3 left',
    ]);
  });
});

describe('a spec name as a ginkgo focus', () => {
  test('matches itself and nothing that differs (RE2 metacharacters escaped)', () => {
    const name = "[sig-network] Netpol NetworkPolicy between server and client should support denying of egress traffic on the client side (even if the server explicitly allows this traffic) [Feature:NetworkPolicy]";
    const focus = new RegExp(escapeRegExp(name));
    expect(focus.test(name)).toBe(true);
    expect(focus.test(name.replace('(even', 'even'))).toBe(false);
    expect(new RegExp(escapeRegExp('a.b*c')).test('aXbbc')).toBe(false);
  });
});

describe('pod churn against its reference', () => {
  const churn = (p50Ms: number, p99Ms: number) => ({ add: { count: 1500, p50Ms, p99Ms }, results: [] }) as unknown as PodChurnReport;

  test('each stack\'s RunPodSandbox p50 and p99 as a ratio to the reference measured in the same run', () => {
    expect(churnRatios(new Map([['flannel', churn(1500, 9000)], ['reference', churn(1000, 6000)]]))).toEqual([
      'pod churn flannel / reference: RunPodSandbox p50 1.50× (1500 / 1000 ms), p99 1.50× (9000 / 6000 ms)',
    ]);
  });

  test('no reference in the run, or one with no figure: no ratio', () => {
    expect(churnRatios(new Map([['flannel', churn(1500, 9000)]]))).toEqual([]);
    expect(churnRatios(new Map([['flannel', churn(1500, 9000)], ['reference', churn(0, 0)]]))).toEqual([]);
  });
});

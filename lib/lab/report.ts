/** One probe from a pod to another. `undefined` means that protocol was not probed. */
export interface PairResult {
  readonly from: string;
  readonly to: string;
  readonly icmp?: boolean;
  readonly tcp?: boolean;
  readonly error?: string;
}

export interface ConnectivityReport {
  readonly pairs: readonly PairResult[];
  /** Every probed protocol succeeded for every pair. */
  readonly ok: boolean;
  /** The pairs with at least one failed probe. */
  readonly failures: readonly PairResult[];
}

export function allPairs(pairs: readonly PairResult[]): ConnectivityReport {
  const failures = pairs.filter((p) => p.icmp === false || p.tcp === false);
  return { pairs, ok: pairs.length > 0 && failures.length === 0, failures };
}

/** A text matrix, one row per source pod: `✓` both probes passed, `I` only ICMP failed, `T` only TCP, `✗` both. */
export function formatReport(report: ConnectivityReport): string {
  const names = [...new Set(report.pairs.flatMap((p) => [p.from, p.to]))].sort();
  const width = Math.max(4, ...names.map((n) => n.length)) + 1;
  const cell = (from: string, to: string): string => {
    if (from === to) return '-';
    const pair = report.pairs.find((p) => p.from === from && p.to === to);
    if (!pair) return '?';
    const icmpBad = pair.icmp === false;
    const tcpBad = pair.tcp === false;
    return icmpBad && tcpBad ? '✗' : icmpBad ? 'I' : tcpBad ? 'T' : '✓';
  };
  const lines = [' '.repeat(width) + names.map((n) => n.padEnd(width)).join('')];
  for (const from of names) lines.push(from.padEnd(width) + names.map((to) => cell(from, to).padEnd(width)).join(''));
  lines.push(report.ok ? `all ${report.pairs.length} pairs reachable` : `${report.failures.length} of ${report.pairs.length} pairs failed`);
  return lines.join('\n');
}

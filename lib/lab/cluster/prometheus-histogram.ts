/** One cumulative bucket of a Prometheus histogram: observations ≤ `le` seconds (`Infinity` for `+Inf`). */
export interface HistogramBucket {
  readonly le: number;
  readonly count: number;
}

/** A Prometheus histogram series: cumulative buckets in increasing `le`, ending with `+Inf`. */
export interface Histogram {
  readonly buckets: readonly HistogramBucket[];
  readonly count: number;
  readonly sum: number;
}

/** A quantile estimated from buckets, and the bucket bounds it lies between. */
export interface QuantileEstimate {
  readonly value: number;
  readonly lower: number;
  readonly upper: number;
}

/** `{a="x",b="y"}` → { a: 'x', b: 'y' } (the exposition format's escapes \\, \", \n). */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const label = /\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
  for (let m = label.exec(text); m; m = label.exec(text)) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/**
 * The series of histogram `metric` whose labels include `match`, summed over the series that match
 * (e.g. one per runtime handler), read from Prometheus text exposition. A metric not exposed yet
 * (no observation since the process started) is an empty histogram.
 */
export function parseHistogram(text: string, metric: string, match: Readonly<Record<string, string>> = {}): Histogram {
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line.trim());
    if (!m || !m[1].startsWith(metric)) continue;
    const suffix = m[1].slice(metric.length);
    if (!['_bucket', '_count', '_sum'].includes(suffix)) continue;
    const labels = parseLabels(m[2] ?? '');
    if (!Object.entries(match).every(([k, v]) => labels[k] === v)) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) throw new Error(`${m[1]}: value "${m[3]}" is not valid; expected a number`);
    if (suffix === '_count') count += value;
    else if (suffix === '_sum') sum += value;
    else {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      if (labels.le === undefined || Number.isNaN(le)) throw new Error(`${m[1]}: le "${labels.le}" is not valid; expected a number or +Inf`);
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    }
  }
  return { buckets: [...buckets].map(([le, c]) => ({ le, count: c })).sort((a, b) => a.le - b.le), count, sum };
}

/** `after − before` of one counter-like histogram (the observations made in between). */
export function histogramDelta(before: Histogram, after: Histogram): Histogram {
  const was = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => {
      const count = b.count - (was.get(b.le) ?? 0);
      if (count < 0) throw new Error(`histogram bucket le=${b.le}: ${b.count} after < ${was.get(b.le)} before; expected a counter that only grows (was the kubelet restarted?)`);
      return { le: b.le, count };
    }),
    count: after.count - before.count,
    sum: after.sum - before.sum,
  };
}

/** Histograms with the same buckets added (several kubelets' observations together). */
export function sumHistograms(histograms: readonly Histogram[]): Histogram {
  const buckets = new Map<number, number>();
  for (const h of histograms) for (const b of h.buckets) buckets.set(b.le, (buckets.get(b.le) ?? 0) + b.count);
  return {
    buckets: [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    count: histograms.reduce((n, h) => n + h.count, 0),
    sum: histograms.reduce((n, h) => n + h.sum, 0),
  };
}

/**
 * The `q` quantile (0 < q < 1) by linear interpolation inside the bucket the rank falls in, as
 * PromQL's histogram_quantile does: the first bucket's lower bound is 0, and a rank in the `+Inf`
 * bucket is reported as the highest finite bound (upper: Infinity). Undefined without observations.
 */
export function histogramQuantile(histogram: Histogram, q: number): QuantileEstimate | undefined {
  if (!(q > 0 && q < 1)) throw new Error(`quantile: ${q} is not valid; expected a number between 0 and 1 (exclusive)`);
  const buckets = histogram.buckets;
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return { value: lower, lower, upper: Infinity };
      const inside = bucket.count - below;
      return { value: lower + (bucket.le - lower) * ((rank - below) / inside), lower, upper: bucket.le };
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return undefined;
}

/** The name of the first histogram in `text` whose name starts with `prefix` (`# TYPE <name> histogram`). */
export function findHistogram(text: string, prefix: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) histogram\s*$/.exec(line.trim());
    if (m && m[1].startsWith(prefix)) return m[1];
  }
  return undefined;
}

import { App, Chart } from 'cdk8s';
import { KubeObject, toKubeObject } from './kube-object';

/** A cdk8s construct tree to deploy: a whole App, one Chart, or several Charts. */
export type ManifestSource = App | Chart | readonly Chart[];

function chartsOf(source: ManifestSource): readonly Chart[] {
  if (source instanceof App) return source.charts;
  if (source instanceof Chart) return [source];
  return source;
}

/**
 * Synthesizes a construct tree in memory, with the same public API `cdk8s synth` uses per chart
 * (`Chart.toJson()`: resolves values, runs validations, orders objects by their dependencies).
 * Nothing is written to disk. Objects come back chart by chart, in each chart's synthesis order.
 */
export function synthesizeObjects(source: ManifestSource): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const chart of chartsOf(source)) {
    const json: unknown[] = chart.toJson();
    json.forEach((value, index) => objects.push(toKubeObject(value, `${chart.node.path}[${index}]`)));
  }
  return objects;
}

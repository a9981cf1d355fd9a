import { testChart, testApp } from '../../support/charts';
import { Chart, Testing } from 'cdk8s';
import { calicoResourceErrors, isCalicoResource } from '../../crds/cr-validator';
import { k8sSchemaErrors } from '../../support/k8s-schema';

/** A synthesized object, as plain JSON. */
export interface KubeJson {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [key: string]: unknown;
}

/** Builds a chart with `build`, synthesizes it, and checks every object against its schema. */
export function synthValid(build: (chart: Chart) => void, chartNamespace?: string): KubeJson[] {
  const chart = testChart();
  if (chartNamespace !== undefined) {
    const app = testApp();
    const namespaced = new Chart(app, 'ns', { namespace: chartNamespace });
    build(namespaced);
    return check(Testing.synth(namespaced) as KubeJson[]);
  }
  build(chart);
  return check(Testing.synth(chart) as KubeJson[]);
}

function check(objects: KubeJson[]): KubeJson[] {
  const errors = objects.flatMap((o) => (isCalicoResource(o) ? calicoResourceErrors(o) : k8sSchemaErrors(o)));
  expect(errors).toEqual([]);
  return objects;
}

export function find(objects: readonly KubeJson[], kind: string, name: string): KubeJson {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** Reads a nested value by path, typed as whatever the test expects to find there. */
export function at<T>(object: unknown, ...path: (string | number)[]): T {
  let value: unknown = object;
  for (const key of path) value = (value as Record<string | number, unknown>)?.[key];
  return value as T;
}

import * as os from 'node:os';
import * as path from 'node:path';
import { App, Chart, Testing } from 'cdk8s';

/**
 * cdk8s's `Testing.app()` / `Testing.chart()` make a new temp directory per call and never remove it
 * (thousands per test run). These render in memory only (`Testing.synth`), so their app's outdir is
 * named but never created.
 */
const UNWRITTEN_OUTDIR = path.join(os.tmpdir(), 'cnikit-in-memory-charts');

export function testApp(): App {
  return Testing.app({ outdir: UNWRITTEN_OUTDIR });
}

export function testChart(): Chart {
  return new Chart(testApp(), 'test');
}

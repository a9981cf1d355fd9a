import { KeyValueStore, ListResult } from '../../lib/dataplane/datastore/types';
import { oneListAtATime, parseFlags, percentileOf, sumMetric } from '../../bench/typha-fanout';

describe('typha fan-out bench: pure pieces', () => {
  const metrics = [
    '# HELP apiserver_longrunning_requests [ALPHA] Gauge of all active long-running apiserver requests.',
    '# TYPE apiserver_longrunning_requests gauge',
    'apiserver_longrunning_requests{component="apiserver",group="",resource="nodes",scope="cluster",subresource="",verb="WATCH",version="v1"} 1001',
    'apiserver_longrunning_requests{component="apiserver",group="crd.projectcalico.org",resource="ippools",scope="cluster",subresource="",verb="WATCH",version="v1"} 1000',
    'apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="namespace",subresource="log",verb="GET",version="v1"} 2',
    'apiserver_longrunning_requests_other{verb="WATCH"} 7',
    'apiserver_watch_events_total{group="crd.projectcalico.org",kind="IPPool",version="v1"} 3e3',
  ].join('\n');

  test('sumMetric adds the samples whose labels match, and only that metric', () => {
    expect(sumMetric(metrics, 'apiserver_longrunning_requests', { verb: 'WATCH' })).toBe(2001);
    expect(sumMetric(metrics, 'apiserver_longrunning_requests')).toBe(2003);
    expect(sumMetric(metrics, 'apiserver_watch_events_total', { kind: 'IPPool' })).toBe(3000);
    expect(sumMetric(metrics, 'apiserver_registered_watchers')).toBe(0);
  });

  test('percentileOf is nearest-rank and skips NaN (an update not every node saw)', () => {
    const values = [5, 1, NaN, 3, 2, 4];
    expect(percentileOf(values, 50)).toBe(3);
    expect(percentileOf(values, 99)).toBe(5);
    expect(percentileOf(values, 100)).toBe(5);
    expect(percentileOf([NaN], 50)).toBeNaN();
  });

  test('parseFlags reads --name=value and refuses anything else', () => {
    expect(Object.fromEntries(parseFlags(['--mode=direct', '--typha=5473,5474']))).toEqual({ mode: 'direct', typha: '5473,5474' });
    expect(() => parseFlags(['direct'])).toThrow('expected --name=value');
  });

  test('oneListAtATime lets one list run at a time, even when one fails', async () => {
    let running = 0;
    let most = 0;
    const store = {
      kind: 'test',
      list: async (prefix: string): Promise<ListResult> => {
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        if (prefix === 'bad/') throw new Error('boom');
        return { items: [], revision: prefix };
      },
    } as unknown as KeyValueStore;
    const serial = oneListAtATime(store);
    const results = await Promise.allSettled(['a/', 'bad/', 'c/'].map((p) => serial.list(p)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(most).toBe(1);
  });
});

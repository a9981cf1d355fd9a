import { NodeWorld, PolicyReconciler } from '../../../lib/dataplane/policy/reconciler';

// The loop's FelixConfiguration-driven settings: resync period (0 = none) and the endpoint-to-host action, changed while running.

const world: NodeWorld = {
  namespaces: [{ name: 'shop' }],
  endpoints: [{ namespace: 'shop', name: 'web', labels: {}, addresses: ['10.0.0.1'], interfaceName: 'caliweb', ports: [] }],
  policies: [], networkSets: [], localEndpoints: ['shop/web'],
};

function fakeNft() {
  const scripts: string[] = [];
  const lists: string[] = [];
  return { scripts, lists, runner: { apply: async (s: string) => void scripts.push(s), listTable: async (t: string) => void lists.push(t) } };
}

afterEach(() => jest.useRealTimers());

test('resync period: 0 runs none; reconfigure restarts the timer with the new period', async () => {
  jest.useFakeTimers();
  const nft = fakeNft();
  const r = new PolicyReconciler({ mode: 'interface', runner: nft.runner, resyncSeconds: 0 }, () => world);
  await r.start();
  await jest.advanceTimersByTimeAsync(3600_000);
  expect(nft.lists).toEqual([]);
  r.reconfigure({ resyncSeconds: 60 });
  await jest.advanceTimersByTimeAsync(125_000);
  expect(nft.lists).toHaveLength(2);
  await r.stop();
});

test('endpoint-to-host action changed while running: the next transaction adds the drop rule', async () => {
  jest.useFakeTimers();
  const nft = fakeNft();
  const r = new PolicyReconciler({ mode: 'interface', runner: nft.runner, resyncSeconds: 0, endpointToHostAction: 'Accept' }, () => world);
  await r.start();
  expect(nft.scripts[0]).not.toContain('iifname "cali*" drop');
  r.reconfigure({ endpointToHostAction: 'Drop' });
  await jest.advanceTimersByTimeAsync(50);
  expect(nft.scripts).toHaveLength(2);
  expect(nft.scripts[1]).toContain('add rule inet cnikit-policy input iifname "cali*" drop');
  await r.stop();
});

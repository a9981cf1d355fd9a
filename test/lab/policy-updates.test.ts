import { run } from '../../lib/lab/exec';
import { PolicyLab } from '../../lib/lab/policy-lab';
import { fromKubernetesNetworkPolicy } from '../../lib/dataplane/policy/kubernetes';
import { canCreateNetns } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;
const TCP80 = { protocol: 'TCP' as const, port: 80 };
const ports = [{ port: 80, protocol: 'TCP' as const }];
const policy = fromKubernetesNetworkPolicy({
  metadata: { name: 'web', namespace: 'x' },
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'trusted' } }, podSelector: { matchLabels: { role: 'client' } } }] }],
  },
});

/**
 * Incremental updates on the real kernel: each change is one nft transaction touching only the
 * set elements / chains it must, and is enforced; a full resync repairs drift. The time from the
 * change to the first probe that sees it is printed (docs/policy.md), not asserted.
 */
maybe('policy updates on the real kernel', () => {
  let lab: PolicyLab;
  const timings: string[] = [];
  beforeAll(async () => {
    lab = await PolicyLab.create({
      namespaces: [{ name: 'x' }, { name: 'y' }],
      pods: [
        { namespace: 'x', name: 'web', labels: { app: 'web' }, ports },
        { namespace: 'y', name: 'a', labels: {}, ports },
      ],
    }, { stack: 'calico' });
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
    if (timings.length) console.log(`policy change → enforced (calico stack, one node):\n${timings.join('\n')}`);
  });

  const step = async (name: string, change: () => ReturnType<PolicyLab['setPolicies']>, from: string, expectAllowed: boolean) => {
    const m = await lab.measureChange(change, from, 'x/web', TCP80);
    timings.push(`  ${name}: applied in ${m.applyMs.toFixed(1)} ms, first probe seeing it started at ${m.enforcedMs.toFixed(1)} ms`);
    expect((await lab.probe(from, [{ to: 'x/web', ...TCP80 }]))[0]).toBe(expectAllowed);
    return m.result;
  };

  it('policy added: the selected pod is isolated', async () => {
    const r = await step('policy added (deny)', () => lab.setPolicies([policy]), 'y/a', false);
    expect(r.full).toBe(false);
    expect(r.diff?.addedChains.map((c) => c.name).sort()).toEqual(['pi-knp.x.web', 'tw.x.web']);
  });

  it('namespace label change alone: no pod matches yet, nothing to change', async () => {
    const r = await lab.setNamespaceLabels('y', { team: 'trusted' });
    expect(r.script).toBe('');
  });

  it('pod label change: one set element, no chain rewritten, enforced', async () => {
    const r = await step('pod label added (allow)', () => lab.setPodLabels('y/a', { role: 'client' }), 'y/a', true);
    expect(r.script.trim()).toMatch(/^add element inet cnikit-policy s4-\w+ \{ 10\.66\.0\.3 \}$/);
  });

  it('namespace label change: set elements removed, enforced', async () => {
    const r = await step('namespace label removed (deny)', () => lab.setNamespaceLabels('y', {}), 'y/a', false);
    expect(r.script.trim()).toMatch(/^delete element inet cnikit-policy s4-\w+ \{ 10\.66\.0\.3 \}$/);
    await lab.setNamespaceLabels('y', { team: 'trusted' });
  });

  it('pods coming and going update the set', async () => {
    const added = await lab.addPod({ namespace: 'y', name: 'c', labels: { role: 'client' }, ports });
    expect(added.diff?.elements.flatMap((e) => e.add)).toEqual(['10.66.0.4']);
    expect((await lab.probe('y/c', [{ to: 'x/web', ...TCP80 }]))[0]).toBe(true);
    const removed = await lab.removePod('y/c');
    expect(removed.diff?.elements.flatMap((e) => e.delete)).toEqual(['10.66.0.4']);
  });

  it('a full resync finds and repairs drift', async () => {
    const table = lab.engine.current?.table as string;
    const set = lab.engine.current?.sets.find((s) => s.elements.includes('10.66.0.3'))?.name as string;
    await run(['ip', 'netns', 'exec', lab.nodeNetns, 'nft', 'delete', 'element', 'inet', table, set, '{ 10.66.0.3 }']);
    await run(['ip', 'netns', 'exec', lab.nodeNetns, 'nft', 'add', 'rule', 'inet', table, 'tw.x.web', 'accept']);
    expect(await lab.engine.resync()).toEqual([`set ${set} elements differ`, 'chain tw.x.web has 5 rules, expected 4']);
    expect(await lab.engine.resync()).toEqual([]);
    expect(await lab.probe('y/a', [{ to: 'x/web', ...TCP80 }])).toEqual([true]);
  });

  it('policy deleted: the pod is open again', async () => {
    await lab.setPodLabels('y/a', {});
    const r = await step('policy deleted (allow)', () => lab.setPolicies([]), 'y/a', true);
    expect([...(r.diff?.deletedChains ?? [])].sort()).toEqual(['pi-knp.x.web', 'tw.x.web']);
  });
});

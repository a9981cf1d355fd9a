import * as fs from 'fs';
import * as os from 'os';
import { CheckResult } from '../../lib/lab/cluster/checks';
import { CONTRACT_SETUPS, cniContract, setupLabel } from '../../lib/lab/conformance/cni-contract';
import { LAB_PREFIX, listNetns } from '../../lib/lab/resources';
import { describeLab } from '../lab/describe-lab';

/**
 * cnikit's CNI plugins driven by upstream cnitool (libcni) in namespaces of their own, chained with
 * Debian's portmap and bandwidth: every row of the contract must hold, and the run leaves nothing.
 */
describeLab('CNI contract through upstream cnitool', () => {
  const mine = `${LAB_PREFIX}${process.pid}x`;
  const varLibCniBefore = fs.existsSync('/var/lib/cni');
  const log: string[] = [];
  const options = { log: (line: string) => log.push(line) };
  const failed = (checks: readonly CheckResult[]) => checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);

  afterEach(() => {
    expect(listNetns().filter((name) => name.startsWith(mine))).toEqual([]);
    expect(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(mine))).toEqual([]);
    expect(fs.existsSync('/var/lib/cni')).toBe(varLibCniBefore);
  });

  it('holds for Flannel- and Calico-style plugins, as executables and through the shim and server', async () => {
    const checks = await cniContract(options);
    expect(failed(checks)).toEqual([]);
    for (const setup of CONTRACT_SETUPS) {
      const rows = checks.filter((c) => c.name.includes(`, ${setupLabel(setup)}: `));
      expect({ setup, rows: rows.length }).toEqual({ setup, rows: 12 });
    }
  }, 240_000);

  it('reports a CHECK that does not notice tampering (negative control: nothing is tampered with)', async () => {
    const checks = await cniContract({ ...options, setups: [{ plugin: 'flannel', mode: 'executable' }], tamper: 'nothing' });
    expect(failed(checks)).toEqual([expect.stringMatching(/CHECK after the pod's address is removed .*: cnitool check exited 0: the tampering went unnoticed$/)]);
  }, 120_000);
});

import { readFileSync } from 'node:fs';
import { unresolvedLibraries, type ContentFile } from '../../lib/image/contents';
import { neededLibraries } from '../../lib/image/elf';

describe('neededLibraries', () => {
  it("reads DT_NEEDED from a real executable (Debian's ip) and knows non-ELF files", () => {
    const needs = neededLibraries(readFileSync('/usr/sbin/ip'));
    expect(needs).toEqual(expect.arrayContaining(['libc.so.6', 'libmnl.so.0']));
    expect(neededLibraries(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    expect(neededLibraries(Buffer.alloc(0))).toBeUndefined();
  });

  it('does not read past a truncated file', () => {
    const ip = readFileSync('/usr/sbin/ip');
    expect(() => neededLibraries(ip.subarray(0, 200))).not.toThrow();
  });
});

describe('unresolvedLibraries', () => {
  const file = (path: string, needs?: string[]): ContentFile => ({ path, type: 'file', mode: '0755', size: 1, from: 'test', ...(needs ? { needs } : {}) });
  const link = (path: string): ContentFile => ({ path, type: 'symlink', mode: '0777', size: 0, target: 'x', from: 'test' });

  it('accepts libraries found in the loader path of any layer, by file or symlink', () => {
    const runtime = { files: [file('/lib/x86_64-linux-gnu/libc.so.6'), link('/lib64/ld-linux-x86-64.so.2')] };
    const tools = { files: [file('/sbin/ip', ['libc.so.6', 'ld-linux-x86-64.so.2', 'libmnl.so.0']), link('/usr/lib/x86_64-linux-gnu/libmnl.so.0')] };
    expect(unresolvedLibraries([runtime, tools]).size).toBe(0);
  });

  it('names each missing library and who needs it; a library outside the search path does not count', () => {
    const layers = [{ files: [file('/sbin/tc', ['libatm.so.1']), file('/usr/lib/x86_64-linux-gnu/tc/q_atm.so', ['libatm.so.1']), file('/opt/libatm.so.1')] }];
    expect([...unresolvedLibraries(layers)]).toEqual([['libatm.so.1', ['/sbin/tc', '/usr/lib/x86_64-linux-gnu/tc/q_atm.so']]]);
  });
});

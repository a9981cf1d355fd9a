/**
 * The shared libraries an ELF executable or library asks the dynamic loader for (DT_NEEDED), read from
 * its dynamic section; `undefined` for anything that is not a 64-bit little-endian ELF file with one.
 * Only what the completeness check needs: x86-64 images, no 32-bit or big-endian files.
 */
export function neededLibraries(file: Buffer): string[] | undefined {
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) return undefined;
  const phoff = Number(file.readBigUInt64LE(0x20));
  const phentsize = file.readUInt16LE(0x36);
  const phnum = file.readUInt16LE(0x38);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 56 > file.length) return undefined;
    const type = file.readUInt32LE(at);
    const offset = file.readBigUInt64LE(at + 8);
    const vaddr = file.readBigUInt64LE(at + 16);
    const filesz = file.readBigUInt64LE(at + 32);
    if (type === 1) loads.push({ vaddr, offset, filesz });
    if (type === 2) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (dynamic === undefined) return undefined;
  const toOffset = (address: bigint): number | undefined => {
    const load = loads.find((l) => address >= l.vaddr && address < l.vaddr + l.filesz);
    return load === undefined ? undefined : Number(address - load.vaddr + load.offset);
  };
  const needed: bigint[] = [];
  let strtab: number | undefined;
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size && at + 16 <= file.length; at += 16) {
    const tag = file.readBigInt64LE(at);
    const value = file.readBigUInt64LE(at + 8);
    if (tag === 0n) break;
    if (tag === 1n) needed.push(value);
    if (tag === 5n) strtab = toOffset(value);
  }
  if (strtab === undefined) return needed.length === 0 ? [] : undefined;
  const base = strtab;
  return needed.map((index) => {
    const start = base + Number(index);
    const end = file.indexOf(0, start);
    return file.toString('latin1', start, end < 0 ? file.length : end);
  });
}

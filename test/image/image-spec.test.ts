import { availableImage, type ImageSpec } from '../../lib/image/image-spec';

const spec: ImageSpec = {
  name: 'controllers',
  description: 'test',
  executables: [
    { entry: 'apps/a.ts', output: 'a.js' },
    { entry: 'apps/b.ts', output: 'b.js', optional: true },
  ],
  entrypoint: ['a'],
  user: '65532:65532',
  smokeTest: { argv: ['a', '--version'] },
};

describe('availableImage', () => {
  it('builds without an optional executable that is not written yet, and says which', () => {
    const available = availableImage(spec, (entry) => entry === 'apps/a.ts');
    expect(available.spec?.executables.map((e) => e.entry)).toEqual(['apps/a.ts']);
    expect(available).toMatchObject({ missingRequired: [], missingOptional: ['apps/b.ts'] });
  });

  it('skips the image while a required entrypoint is missing', () => {
    const available = availableImage(spec, (entry) => entry === 'apps/b.ts');
    expect(available.spec).toBeUndefined();
    expect(available.missingRequired).toEqual(['apps/a.ts']);
  });

  it('keeps every executable when all exist', () => {
    expect(availableImage(spec, () => true).spec?.executables).toHaveLength(2);
  });
});

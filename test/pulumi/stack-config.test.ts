import { parseStackConfig } from '../../apps/pulumi/stack-config';

const ENVS = ['dev', 'staging', 'prod'];

describe('parseStackConfig', () => {
  test('reads the environment and the optional overrides', () => {
    expect(parseStackConfig({ 'cnikit:environment': 'dev' }, ENVS)).toEqual({ environment: 'dev' });
    expect(
      parseStackConfig(
        {
          'cnikit:environment': 'prod',
          'cnikit:imageRegistry': 'registry.example.org:5000/mirror',
          'cnikit:expectedNodes': '120',
          'cnikit:kubeContext': 'prod-admin',
          'kubernetes:context': 'ignored-by-cnikit',
        },
        ENVS,
      ),
    ).toEqual({ environment: 'prod', imageRegistry: 'registry.example.org:5000/mirror', expectedNodes: 120, kubeContext: 'prod-admin' });
  });

  test('fails on a missing or unknown environment, naming the choices', () => {
    expect(() => parseStackConfig({}, ENVS)).toThrow(
      'cnikit:environment: (unset) is not valid; expected one of dev, staging, prod (pulumi config set cnikit:environment <name>)',
    );
    expect(() => parseStackConfig({ 'cnikit:environment': 'qa' }, ENVS)).toThrow('cnikit:environment: "qa" is not valid; expected one of dev, staging, prod');
  });

  test('fails on an invalid image registry', () => {
    expect(() => parseStackConfig({ 'cnikit:environment': 'dev', 'cnikit:imageRegistry': 'https://Registry/' }, ENVS)).toThrow(
      'cnikit:imageRegistry: "https://Registry/" is not valid; expected a registry host with optional port and path, such as registry.example.org:5000/mirror',
    );
  });

  test.each(['0', '-3', '2.5', 'many', ''])('fails on expectedNodes %j', (value) => {
    expect(() => parseStackConfig({ 'cnikit:environment': 'dev', 'cnikit:expectedNodes': value }, ENVS)).toThrow(
      `cnikit:expectedNodes: ${JSON.stringify(value)} is not valid; expected a whole number of nodes, at least 1`,
    );
  });

  test('fails on an empty kube context and on a misspelled key', () => {
    expect(() => parseStackConfig({ 'cnikit:environment': 'dev', 'cnikit:kubeContext': ' ' }, ENVS)).toThrow('cnikit:kubeContext: " " is not valid');
    expect(() => parseStackConfig({ 'cnikit:environment': 'dev', 'cnikit:imageRegistery': 'r.example.org' }, ENVS)).toThrow(
      'cnikit:imageRegistery: "r.example.org" is not valid; expected a known cnikit key (environment, imageRegistry, expectedNodes, kubeContext)',
    );
  });
});

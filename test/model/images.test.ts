import * as fs from 'fs';
import * as path from 'path';
import { KIT_VERSION, KitImage, imageReference, parseImageDigests } from '../../lib/model/images';

const digest = `sha256:${'ab'.repeat(32)}`;

test('images default to the kit registry and version tag', () => {
  expect(imageReference(KitImage.FLANNEL_AGENT)).toBe(`ghcr.io/cnikit/flannel-agent:${KIT_VERSION}`);
  expect(imageReference(KitImage.CNI_PLUGIN, { registry: 'registry.example.com:5000/platform', version: '1.2.3' }))
    .toBe('registry.example.com:5000/platform/cni-plugin:1.2.3');
});

test('a known digest pins the image; other images keep their tag', () => {
  const settings = { registry: 'registry.example.com/net', digests: { 'flannel-agent': digest } };
  expect(imageReference(KitImage.FLANNEL_AGENT, settings)).toBe(`registry.example.com/net/flannel-agent@${digest}`);
  expect(imageReference(KitImage.CALICO_AGENT, settings)).toBe(`registry.example.com/net/calico-agent:${KIT_VERSION}`);
});

test('KIT_VERSION follows package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  expect(KIT_VERSION).toBe(pkg.version);
});

test.each([
  [{ registry: 'Registry.Example.com' }, 'images.registry: "Registry.Example.com" is not valid; expected a registry and optional path such as ghcr.io/cnikit or registry.example.com:5000/platform'],
  [{ version: 'v1:2' }, 'images.version: "v1:2" is not valid; expected an image tag such as 0.1.0 (letters, digits, ".", "_", "-")'],
  [{ digests: { 'flannel-agent': 'sha256:abc' } }, 'images.digests.flannel-agent: "sha256:abc" is not valid; expected a digest such as sha256:<64 lower-case hex digits>'],
])('fails on bad image settings %j', (settings, message) => {
  expect(() => imageReference(KitImage.FLANNEL_AGENT, settings)).toThrow(message);
});

test('the digests file is an object from known image names to sha256 digests', () => {
  expect(parseImageDigests({ 'flannel-agent': digest, 'cni-plugin': digest })).toEqual({ 'flannel-agent': digest, 'cni-plugin': digest });
  expect(() => parseImageDigests([])).toThrow('dist/images/digests.json: [] is not valid; expected a JSON object from image name to sha256 digest');
  expect(() => parseImageDigests({ agent: digest })).toThrow('dist/images/digests.json: agent: "agent" is not valid; expected an image name: flannel-agent, cni-plugin, calico-agent, controllers');
  expect(() => parseImageDigests({ 'cni-plugin': 'latest' })).toThrow('dist/images/digests.json: cni-plugin: "latest" is not valid; expected a digest such as sha256:<64 lower-case hex digits>');
});

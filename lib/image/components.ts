import { KitImage } from '../model/images';
import { IMAGE_ROOT, type ImageSpec } from './image-spec';

/** What the agents call: iproute2's `ip` and `bridge`, and `nft` (lib/dataplane/kernel runs these). */
const KERNEL_TOOLS = {
  debianPackages: ['iproute2', 'nftables'],
  systemTools: ['ip', 'bridge', 'nft'],
  // Only programs we leave out link these: libcap2-bin is setcap/getcap, libdb5.3 is for arpd, libtirpc3
  // (and the Kerberos/OpenSSL it pulls) and libselinux1 are for ss. `ldd ip nft` names none of them, and
  // the image tests run `ip -V` and `nft --version` in the unpacked image.
  excludePackages: ['libcap2-bin', 'libdb5.3', 'libtirpc3', 'libselinux1'],
} as const;

const CNI_VERSION_REQUEST = { env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' };

/** Every image cnikit builds; an image is built once all its executables' entrypoints exist. */
export const COMPONENT_IMAGES: readonly ImageSpec[] = [
  {
    name: KitImage.FLANNEL_AGENT,
    description: 'cnikit Flannel-style node agent: subnet lease, VXLAN/host-gw routes, masquerade rules',
    executables: [{ entry: 'apps/flannel-agent.ts', output: 'flannel-agent.js' }],
    ...KERNEL_TOOLS,
    entrypoint: ['/usr/bin/node', `${IMAGE_ROOT}/flannel-agent.js`],
    // Root: it programs links, routes, FDB and nftables in the host network namespace. Kubernetes adds
    // NET_ADMIN/NET_RAW to the bounding set, but a non-root process gets no effective capabilities
    // without ambient capabilities, which Pods cannot request.
    user: '0:0',
    smokeTest: { argv: ['/usr/bin/node', `${IMAGE_ROOT}/flannel-agent.js`, '--version'] },
  },
  {
    name: KitImage.CNI_PLUGIN,
    description: 'cnikit CNI plugin and its installer: copies the plugin, a Node runtime and a launcher to the host',
    executables: [
      { entry: 'apps/cni-plugin.ts', output: 'cni-plugin.js' },
      { entry: 'apps/cni-install.ts', output: 'cni-install.js' },
    ],
    installsRuntimeOnHost: true,
    entrypoint: ['/usr/bin/node', `${IMAGE_ROOT}/cni-install.js`],
    // Root: it writes into the host's /opt/cni/bin and /etc/cni/net.d (root-owned hostPath mounts).
    user: '0:0',
    smokeTest: { argv: ['/usr/bin/node', `${IMAGE_ROOT}/cni-plugin.js`], ...CNI_VERSION_REQUEST },
  },
  {
    name: KitImage.CALICO_AGENT,
    description: 'cnikit Calico-style node agent: IPAM, workload routes, BGP or VXLAN, policy',
    executables: [{ entry: 'apps/calico-agent.ts', output: 'calico-agent.js' }],
    ...KERNEL_TOOLS,
    entrypoint: ['/usr/bin/node', `${IMAGE_ROOT}/calico-agent.js`],
    // Root: as the Flannel-style agent, plus binding the BGP port (179) in the host network namespace.
    user: '0:0',
    smokeTest: { argv: ['/usr/bin/node', `${IMAGE_ROOT}/calico-agent.js`, '--version'] },
  },
  {
    name: KitImage.CONTROLLERS,
    description: 'cnikit Calico-style cluster controllers: garbage-collects IPAM and node state',
    executables: [{ entry: 'apps/controllers.ts', output: 'controllers.js' }],
    entrypoint: ['/usr/bin/node', `${IMAGE_ROOT}/controllers.js`],
    // Non-root (distroless `nonroot`): it only talks to the datastore over the network.
    user: '65532:65532',
    smokeTest: { argv: ['/usr/bin/node', `${IMAGE_ROOT}/controllers.js`, '--version'] },
  },
];

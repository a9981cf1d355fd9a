import { CALICO_AGENT, CALICO_CNI, CALICO_CONTROLLERS, CALICO_TYPHA } from '../model/calico/agent';
import { CNI_SERVER } from '../model/cni-server';
import { FLANNEL_AGENT, FLANNEL_CNI } from '../model/flannel/agent';
import { KitImage } from '../model/images';
import { POLICY_AGENT } from '../model/policy-agent';
import { BUNDLE_DIR, COMMAND_DIR, type ImageSpec } from './image-spec';

/**
 * What the agents call: iproute2's `ip` and `bridge`, and `nft` (lib/dataplane/kernel runs these);
 * util-linux's `flock`, which the resident CNI server in the agent's pod runs for every IPAM host
 * lock and Flannel-style attachment lock (lib/dataplane/ipam/calico-host-lock.ts FileLock).
 */
const KERNEL_TOOLS = {
  debianPackages: ['iproute2', 'nftables', 'util-linux'],
  systemTools: ['ip', 'bridge', 'nft', 'flock'],
  // Only programs we leave out link these: libcap2-bin is setcap/getcap, libdb5.3 is for arpd, libtirpc3
  // (and the Kerberos/OpenSSL it pulls) and libselinux1 are for ss. `ldd ip nft` names none of them, and
  // the image tests run `ip -V` and `nft --version` in the unpacked image.
  excludePackages: [
    'libcap2-bin', 'libdb5.3', 'libtirpc3', 'libselinux1',
    // util-linux's libraries serve its other programs; `ldd flock` names only libc.
    'util-linux-extra', 'libblkid1', 'libmount1', 'libsmartcols1', 'libpam0g', 'libsystemd0', 'libudev1', 'libcap-ng0', 'libuuid1', 'libcrypt1',
  ],
} as const;

/**
 * Long-running agents keep V8's young generation small: with 1,000 remote nodes it cuts the flannel-style
 * agent's RSS from 116 to 86 MiB at no loss of speed (BENCHMARKS.md, agent-memory).
 */
const AGENT_ENV = { NODE_OPTIONS: '--max-semi-space-size=1' } as const;

const POLICY_AGENT_EXECUTABLE = { entry: 'apps/policy-agent.ts', output: 'policy-agent.js', command: POLICY_AGENT.executable } as const;

const CNI_VERSION_REQUEST = { env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' };

/** Every image cnikit builds; an image is built once all its executables' entrypoints exist. */
export const COMPONENT_IMAGES: readonly ImageSpec[] = [
  {
    name: KitImage.FLANNEL_AGENT,
    description: 'cnikit Flannel-style node agent: subnet lease, VXLAN/host-gw routes, masquerade rules',
    executables: [
      { entry: 'apps/flannel-agent.ts', output: 'flannel-agent.js', command: FLANNEL_AGENT.executable },
      // The resident CNI server (thick-plugin mode, docs/cni.md) runs in the agent's pod, from this image.
      { entry: 'apps/cni-server.ts', output: 'cni-server.js', command: CNI_SERVER.executable },
      // The policy agent (docs/policy.md) runs in the agent's pod, from this image.
      POLICY_AGENT_EXECUTABLE,
    ],
    ...KERNEL_TOOLS,
    entrypoint: [`${COMMAND_DIR}/${FLANNEL_AGENT.executable}`],
    env: AGENT_ENV,
    // Root: it programs links, routes, FDB and nftables in the host network namespace. Kubernetes adds
    // NET_ADMIN/NET_RAW to the bounding set, but a non-root process gets no effective capabilities
    // without ambient capabilities, which Pods cannot request.
    user: '0:0',
    smokeTest: { argv: [FLANNEL_AGENT.executable, '--version'] },
  },
  {
    name: KitImage.CNI_PLUGIN,
    description: 'cnikit CNI plugins (Flannel- and Calico-style) and their installer: copies a plugin, a Node runtime and a launcher to the host',
    executables: [
      // One bundle per network: the Calico one carries the etcd3/gRPC client, which the flannel one must
      // not load on every pod's ADD (BENCHMARKS.md, CNI).
      { entry: 'apps/cni-plugin.ts', output: FLANNEL_CNI.bundle },
      { entry: 'apps/cni-calico.ts', output: CALICO_CNI.bundle },
      { entry: 'apps/cni-install.ts', output: 'cni-install.js', command: 'cnikit-cni-install' },
    ],
    installsRuntimeOnHost: true,
    entrypoint: [`${COMMAND_DIR}/cnikit-cni-install`],
    // Root: it writes into the host's /opt/cni/bin and /etc/cni/net.d (root-owned hostPath mounts).
    user: '0:0',
    smokeTest: { argv: [`${BUNDLE_DIR}/${FLANNEL_CNI.bundle}`], ...CNI_VERSION_REQUEST },
  },
  {
    name: KitImage.CALICO_AGENT,
    description: 'cnikit Calico-style node agent: IPAM, workload routes, BGP or VXLAN, policy',
    executables: [
      { entry: 'apps/calico-agent.ts', output: 'calico-agent.js', command: CALICO_AGENT.executable },
      // The resident CNI server (thick-plugin mode, docs/cni.md) runs in the agent's pod, from this image.
      { entry: 'apps/cni-server.ts', output: 'cni-server.js', command: CNI_SERVER.executable },
      // The policy agent (docs/policy.md) runs in the agent's pod, from this image.
      POLICY_AGENT_EXECUTABLE,
    ],
    ...KERNEL_TOOLS,
    // TCP-MD5 keys for BGP peers with a password (lib/dataplane/bgp/session/md5.ts).
    nativeAddons: ['tcp-md5'],
    entrypoint: [`${COMMAND_DIR}/${CALICO_AGENT.executable}`],
    env: AGENT_ENV,
    // Root: as the Flannel-style agent, plus binding the BGP port (179) in the host network namespace.
    user: '0:0',
    smokeTest: { argv: [CALICO_AGENT.executable, '--version'] },
  },
  {
    name: KitImage.CONTROLLERS,
    description: 'cnikit Calico-style cluster controllers and Typha: IPAM and node garbage collection, datastore fan-out',
    executables: [
      { entry: 'apps/calico-controllers.ts', output: 'calico-controllers.js', command: CALICO_CONTROLLERS.executable },
      // Optional so the controllers ship while Typha is being written; the image lists what it holds.
      { entry: 'apps/calico-typha.ts', output: 'calico-typha.js', command: CALICO_TYPHA.executable, optional: true },
    ],
    entrypoint: [`${COMMAND_DIR}/${CALICO_CONTROLLERS.executable}`],
    // Non-root (distroless `nonroot`): both only talk to the datastore and the agents over the network,
    // on ports above 1024.
    user: '65532:65532',
    smokeTest: { argv: [CALICO_CONTROLLERS.executable, '--version'] },
  },
];

import { CalicoNetworkProps } from '../../lib/constructs/calico/calico-network';
import { FlannelNetworkProps } from '../../lib/constructs/flannel/flannel-network';
import { CalicoPolicySetProps } from '../../lib/constructs/policy/policy-set';

/** Which network stack an environment runs, with that stack's props. */
export type StackDefinition = FlannelStackDefinition | CalicoStackDefinition;

export interface FlannelStackDefinition {
  readonly kind: 'flannel';
  /** Props of `FlannelNetwork` (image settings come from the environment). */
  readonly props: Omit<FlannelNetworkProps, 'imageRegistry' | 'imageVersion' | 'imageDigests'>;
}

export interface CalicoStackDefinition {
  readonly kind: 'calico';
  /** Props of `CalicoNetwork` (image settings come from the environment; the CRDs get a chart of their own). */
  readonly props: Omit<CalicoNetworkProps, 'imageRegistry' | 'imageVersion' | 'imageDigests' | 'installCrds'>;
  /**
   * Policies and network sets deployed with the network.
   * @default none
   */
  readonly policies?: CalicoPolicySetProps;
  /**
   * What `policies` are meant to allow and deny: a policy matrix file (pods with their labels,
   * service accounts and ports, and `expect:` lines; the format `lib/lab/policy-harness.ts` reads),
   * relative to the repository root. The network lab checks it against the synthesized policies
   * (`npm run lab -- policy --matrix <file> --policies dist/<env>`), the cluster lab on real pods.
   * @default - no declared intent
   */
  readonly policyMatrix?: string;
}

/** One deployment target: its name (also its output directory), stack and image registry. */
export interface Environment {
  /** Lower-case name; manifests go to `dist/<name>/`. */
  readonly name: string;
  readonly description: string;
  readonly stack: StackDefinition;
  /**
   * Registry and path prefix of the kit's images in this environment.
   * @default DEFAULT_IMAGE_REGISTRY
   */
  readonly imageRegistry?: string;
}

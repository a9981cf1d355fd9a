import { FlannelNetworkProps } from '../../lib/constructs/flannel/flannel-network';

/** Which network stack an environment runs, with that stack's props. A Calico-style variant joins this union. */
export type StackDefinition = FlannelStackDefinition;

export interface FlannelStackDefinition {
  readonly kind: 'flannel';
  /** Props of `FlannelNetwork` (image settings come from the environment). */
  readonly props: Omit<FlannelNetworkProps, 'imageRegistry' | 'imageVersion' | 'imageDigests'>;
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

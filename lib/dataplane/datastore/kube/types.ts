import { JsonObject } from '../types';

/**
 * The subset of Kubernetes API object shapes cnikit reads and writes, typed after
 * `k8s.io/apimachinery/pkg/apis/meta/v1` (ObjectMeta, ListMeta, Status, WatchEvent) and
 * `k8s.io/api/core/v1` (Node, NodeSpec, NodeStatus, NodeCondition) as served by the API
 * server's JSON encoding. Fields cnikit does not use are kept (index signatures), never dropped.
 */

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  /** Opaque version of the object; the compare-and-swap token of updates. */
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

export interface ListMeta {
  readonly resourceVersion: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
}

/** Any object. `apiVersion` and `kind` are absent on the items of list responses. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta;
}

export interface KubeList<T extends KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ListMeta;
  readonly items: readonly T[];
}

/** meta/v1 Status: the body of every API error (and of ERROR watch events). */
export interface KubeStatus {
  readonly apiVersion: 'v1';
  readonly kind: 'Status';
  readonly metadata: { readonly resourceVersion?: string };
  readonly status: 'Success' | 'Failure';
  readonly message: string;
  /** Machine-readable reason: NotFound, AlreadyExists, Conflict, Expired, Gone, Invalid, … */
  readonly reason: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string; readonly uid?: string };
  readonly code: number;
}

/**
 * One line of a `?watch=1` stream. BOOKMARK objects carry only `metadata.resourceVersion`;
 * ERROR carries a Status (410 Gone when the resourceVersion is too old).
 */
export type KubeWatchEvent<T extends KubeObject> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T }
  | { readonly type: 'BOOKMARK'; readonly object: { readonly kind: string; readonly apiVersion: string; readonly metadata: { readonly resourceVersion: string } } }
  | { readonly type: 'ERROR'; readonly object: KubeStatus };

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface NodeCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason?: string;
  readonly message?: string;
  readonly lastHeartbeatTime?: string;
  readonly lastTransitionTime?: string;
}

export interface NodeAddress {
  /** InternalIP, ExternalIP, Hostname, … */
  readonly type: string;
  readonly address: string;
}

export interface Node extends KubeObject {
  readonly spec?: {
    readonly podCIDR?: string;
    readonly podCIDRs?: readonly string[];
    readonly providerID?: string;
    readonly unschedulable?: boolean;
    readonly [key: string]: unknown;
  };
  readonly status?: {
    readonly conditions?: readonly NodeCondition[];
    readonly addresses?: readonly NodeAddress[];
    readonly [key: string]: unknown;
  };
}

/** A namespaced or cluster-scoped custom resource whose payload is `spec` (Calico's CRDs). */
export interface CustomResource extends KubeObject {
  readonly spec: JsonObject;
}

/** The condition type flannel and Calico set when the node's pod network is programmed. */
export const NETWORK_UNAVAILABLE = 'NetworkUnavailable';

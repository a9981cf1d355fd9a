import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { CALICO_CRDS, calicoCrdManifest } from '../../crds/calico';
import { clusterScoped } from '../common/cluster-scoped';
import { kitLabels } from '../common/labels';
import { CALICO_STACK_NAME } from './names';

/**
 * Every Calico CustomResourceDefinition, from the schemas in lib/crds (the same schemas the
 * instance classes in lib/imports are generated from). Plain ApiObjects, not the L1
 * KubeCustomResourceDefinition: its converter maps `x-kubernetes-int-or-string` to a camel-case
 * prop and would silently drop the extension keys the schemas rely on.
 */
export class CalicoCrds extends Construct {
  public readonly definitions: ApiObject[];

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.definitions = CALICO_CRDS.map((d) => {
      const m = calicoCrdManifest(d);
      return clusterScoped(new ApiObject(this, d.kind, {
        apiVersion: m.apiVersion,
        kind: m.kind,
        metadata: { name: m.metadata.name, labels: kitLabels(CALICO_STACK_NAME, 'crds') },
        spec: m.spec,
      }));
    });
  }
}

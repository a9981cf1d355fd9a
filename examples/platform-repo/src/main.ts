import { App, Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { FlannelBackend, FlannelNetwork, ValidationError } from 'cnikit';

/** The platform team's pod network: cnikit's Flannel-style stack, sized for this cluster. */
class NetworkChart extends Chart {
  public readonly network: FlannelNetwork;

  constructor(scope: Construct, id: string) {
    // No chart namespace: the stack sets its own, and its cluster-scoped objects must carry none.
    super(scope, id, { disableResourceNameHashes: true });
    this.network = new FlannelNetwork(this, 'PodNetwork', {
      podNetwork: '10.32.0.0/16',
      backend: FlannelBackend.vxlan({ vni: 42, directRouting: true }),
      serviceNetwork: '10.33.0.0/16',
      expectedNodeCount: 120,
      imageRegistry: 'registry.platform.example.com/cnikit',
    });
  }
}

/** The team's own workload, deployed after the network. */
class EchoChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps) {
    super(scope, id, { ...props, disableResourceNameHashes: true });
    new kplus.Namespace(this, 'Namespace', { metadata: { name: 'echo', namespace: undefined } });
    const deployment = new kplus.Deployment(this, 'Echo', {
      metadata: { name: 'echo' },
      replicas: 2,
      containers: [{ image: 'registry.platform.example.com/echo:1.0', portNumber: 8080, securityContext: { user: 1000 } }],
    });
    deployment.exposeViaService({ name: 'echo' });
  }
}

export function synthesize(outdir: string): void {
  const app = new App({ outdir });
  const network = new NetworkChart(app, 'network');
  const echo = new EchoChart(app, 'echo', { namespace: 'echo' });
  echo.addDependency(network);
  app.synth();
  const subnets = network.network.network.ipv4;
  console.log(`pod network ${subnets?.network}: ${subnets?.nodeCapacity} node subnets of /${subnets?.subnetLength}`);
}

if (require.main === module) {
  try {
    synthesize(process.argv[2] ?? 'dist');
  } catch (error) {
    console.error(error instanceof ValidationError ? error.message : error);
    process.exitCode = 1;
  }
}

// Pulumi's unit-test method: the SDK runs for real, the engine and provider are replaced by mocks
// that record every registration. Each jest test file has its own module registry, so its own mocks.
import * as pulumi from '@pulumi/pulumi';

/** What the engine was asked to create, as the mocks saw it. */
export interface Registration {
  readonly type: string;
  readonly name: string;
  /** The serialized inputs: exactly what the provider would receive. */
  readonly inputs: Record<string, unknown>;
  readonly provider?: string;
  readonly custom: boolean;
}

/** Installs mocks that record every registration and echo inputs back as outputs. */
export async function recordRegistrations(stack = 'test'): Promise<Registration[]> {
  const registrations: Registration[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        registrations.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          provider: args.provider,
          custom: args.custom ?? false,
        });
        return { id: `${args.name}-id`, state: args.inputs as Record<string, unknown> };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        return args.inputs as Record<string, unknown>;
      },
    },
    'cnikit',
    stack,
    false,
  );
  return registrations;
}

/** The value of an Output once the mocks resolved it. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** Records, per resource name, the `dependsOn` each resource was really constructed with. */
export class DependsOnRecorder {
  private readonly byResource = new Map<string, readonly pulumi.Resource[]>();

  /** Pass as the component's `transformations` option; children inherit it from their parent. */
  public readonly transformation: pulumi.ResourceTransformation = (args) => {
    const dependsOn = args.opts.dependsOn;
    this.byResource.set(args.name, Array.isArray(dependsOn) ? (dependsOn as pulumi.Resource[]) : []);
    return undefined;
  };

  /** The dependencies of `name`, named through `nameOf`. */
  public dependenciesOf(name: string, nameOf: (resource: pulumi.Resource) => string): string[] {
    return (this.byResource.get(name) ?? []).map(nameOf);
  }

  public has(name: string): boolean {
    return this.byResource.has(name);
  }
}

/** Every name reachable from `start` through `edges` (transitive dependencies). */
export function reachable(start: string, edges: (name: string) => readonly string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...edges(start)];
  while (stack.length > 0) {
    const next = stack.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...edges(next));
  }
  return seen;
}

/** JSON form of a value: drops `undefined` fields the way YAML and the Pulumi wire format do. */
export function normalized(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

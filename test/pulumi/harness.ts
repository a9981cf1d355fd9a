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

/**
 * Installs mocks that record every registration and echo inputs back as outputs.
 * @param sdk the @pulumi/pulumi module instance to mock (a jest-isolated program has its own)
 */
export async function recordRegistrations(stack = 'test', sdk: typeof pulumi = pulumi): Promise<Registration[]> {
  const registrations: Registration[] = [];
  await sdk.runtime.setMocks(
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

/** One run of the Pulumi program (apps/pulumi) as the language host runs it, under mocks. */
export interface ProgramRun {
  readonly registrations: Registration[];
  /** The stack outputs, resolved. */
  readonly outputs: Record<string, unknown>;
  /** Per resource name, the names of the resources it was constructed with in `dependsOn`. */
  readonly dependsOn: ReadonlyMap<string, readonly string[]>;
}

/** The program as a fresh module: its own @pulumi/pulumi, with mocks and config in place before it loads. */
async function isolatedProgram<T>(
  stack: string,
  config: Readonly<Record<string, string>>,
  body: (sdk: typeof pulumi, registrations: Registration[], load: () => Promise<Record<string, unknown>>) => Promise<T>,
): Promise<T> {
  // Every fresh copy of the SDK adds its own process exit hooks.
  process.setMaxListeners(100);
  let result: { value: T } | undefined;
  await jest.isolateModulesAsync(async () => {
    const sdk = await import('@pulumi/pulumi');
    const registrations = await recordRegistrations(stack, sdk);
    sdk.runtime.setAllConfig({ ...config });
    try {
      result = { value: await body(sdk, registrations, async () => ({ ...(await import('../../apps/pulumi')) })) };
    } finally {
      await sdk.runtime.disconnect();
    }
  });
  if (result === undefined) throw new Error('the program did not run');
  return result.value;
}

/**
 * Runs the program inside a root stack resource, as the language host does, with the given stack
 * configuration. A stack transformation records the `dependsOn` every resource is constructed with.
 */
export function runProgram(stack: string, config: Readonly<Record<string, string>>): Promise<ProgramRun> {
  return isolatedProgram(stack, config, async (sdk, registrations, load) => {
    const names = new Map<pulumi.Resource, string>();
    const dependsOn = new Map<string, string[]>();
    const outputs = await sdk.runtime.runInPulumiStack(async () => {
      sdk.runtime.registerStackTransformation((args) => {
        names.set(args.resource, args.name);
        const deps = Array.isArray(args.opts.dependsOn) ? (args.opts.dependsOn as pulumi.Resource[]) : [];
        dependsOn.set(args.name, deps.map((d) => names.get(d) ?? '(unknown resource)'));
        return undefined;
      });
      return load();
    });
    return { registrations, outputs: outputs ?? {}, dependsOn };
  });
}

/** Loads the program with a stack configuration it must reject: what it threw, and what it registered first. */
export function failProgram(stack: string, config: Readonly<Record<string, string>>): Promise<{ error: unknown; registrations: Registration[] }> {
  return isolatedProgram(stack, config, async (_sdk, registrations, load) => {
    try {
      await load();
    } catch (error) {
      return { error, registrations };
    }
    throw new Error(`the program accepted ${JSON.stringify(config)}`);
  });
}

/** Where two JSON values differ, as paths (`spec.template.spec.containers[0].image`), empty when equal. */
export function differences(actual: unknown, expected: unknown, path = ''): string[] {
  if (Array.isArray(actual) && Array.isArray(expected)) {
    const paths = actual.length === expected.length ? [] : [`${path}.length`];
    for (let i = 0; i < Math.min(actual.length, expected.length); i++) paths.push(...differences(actual[i], expected[i], `${path}[${i}]`));
    return paths;
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(actual) && isObject(expected)) {
    const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
    return keys.flatMap((key) => differences(actual[key], expected[key], path === '' ? key : `${path}.${key}`));
  }
  return Object.is(actual, expected) ? [] : [path];
}

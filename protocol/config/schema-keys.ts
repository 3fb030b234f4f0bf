/**
 * The key paths a config schema defines, read off the schema itself, so that
 * whatever names config keys (set-config, environment overrides, tools)
 * keeps no table of its own that could drift from it.
 */

/** The parts of a JSON Schema node the walk reads. */
interface KeyedNode {
  $ref?: string;
  $defs?: Record<string, KeyedNode>;
  type?: string | readonly string[];
  properties?: Record<string, KeyedNode>;
}

/** A local "#/$defs/name" reference followed, the only kind the config schemas use. */
function resolved(root: KeyedNode, node: KeyedNode | undefined): KeyedNode | undefined {
  const ref = node?.$ref;
  if (ref === undefined) return node;
  const name = ref.startsWith('#/$defs/') ? ref.slice('#/$defs/'.length) : undefined;
  return name !== undefined && root.$defs && Object.hasOwn(root.$defs, name) ? root.$defs[name] : undefined;
}

/** The schema of the value at a dotted key path ("mqtt.tls.ca"), or undefined when the schema defines no such key. */
export function schemaAtKeyPath(schema: object, path: string): object | undefined {
  const root = schema as KeyedNode;
  let node: KeyedNode | undefined = root;
  for (const part of path.split('.')) {
    const properties: Record<string, KeyedNode> | undefined = resolved(root, node)?.properties;
    node = properties && Object.hasOwn(properties, part) ? resolved(root, properties[part]) : undefined;
    if (!node) return undefined;
  }
  return node;
}

/**
 * Dotted paths of every key that holds a value rather than further keys (a
 * list is a value), in the schema's order: "site", "timing.relayPulseMs",
 * "hardware.passageBeam.pin".
 */
export function leafKeyPaths(schema: object): string[] {
  const root = schema as KeyedNode;
  const paths: string[] = [];
  const walk = (node: KeyedNode | undefined, prefix: string): void => {
    for (const [key, child] of Object.entries(resolved(root, node)?.properties ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      const target = resolved(root, child);
      if (target?.properties) walk(target, path);
      else paths.push(path);
    }
  };
  walk(root, '');
  return paths;
}

import { readFileSync } from 'node:fs';
import t from 'tap';
import { configJsonSchema } from '../../config/json-schema.js';
import { DEFAULTS } from '../../config/schema.js';

const committed = JSON.parse(readFileSync(new URL('../../../config/schema.json', import.meta.url), 'utf8'));
const example = JSON.parse(readFileSync(new URL('../../../config/zeo.example.json', import.meta.url), 'utf8'));

type Schema = { properties?: Record<string, Schema>; anyOf?: Schema[]; default?: unknown; type?: string };

/** Key paths of a value (objects descended) and of a schema (object properties descended). */
function valuePaths(value: unknown, path = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [path];
  return Object.entries(value).flatMap(([key, child]) => valuePaths(child, path ? `${path}.${key}` : key));
}
function schemaPaths(schema: Schema, path = ''): string[] {
  if (!schema.properties || schema.default === null) return [path];
  return Object.entries(schema.properties)
    .filter(([key]) => key !== '$schema')
    .flatMap(([key, child]) => schemaPaths(child, path ? `${path}.${key}` : key));
}
function schemaDefault(schema: Schema, path: string): unknown {
  let node: Schema | undefined = schema;
  for (const key of path.split('.')) node = node?.properties?.[key];
  return node?.default;
}

t.test('config/schema.json is what the field descriptors generate (regenerate with `zeo config schema`)', async (t) => {
  t.same(committed, configJsonSchema());
  t.equal(committed.$schema, 'https://json-schema.org/draft/2020-12/schema');
});

t.test("the schema's keys and defaults agree with DEFAULTS", async (t) => {
  const keys = valuePaths(DEFAULTS).sort();
  t.same(schemaPaths(committed).sort(), keys);
  for (const path of keys) t.same(schemaDefault(committed, path), path.split('.').reduce((v: any, k) => v[k], DEFAULTS), path);
});

t.test('the example config loads', async (t) => {
  const { loadConfig } = await import('../../config/load.js');
  const path = new URL('../../../config/zeo.example.json', import.meta.url).pathname;
  const config = loadConfig({ file: path, env: {} });
  t.equal(config.router.listen.host, example.router.listen.host);
  t.same(config.storageServer.allow, example.storageServer.allow);
});

/**
 * A small JSON Schema checker for the keywords config/schema.json uses (type, properties,
 * additionalProperties, enum, const, anyOf, minimum, maximum, minLength, pattern, items), so
 * the test can say that documents loadConfig accepts pass the schema and bad ones do not.
 */
function schemaErrors(schema: any, value: unknown, path = ''): string[] {
  const errors: string[] = [];
  const fail = (what: string) => errors.push(`${path || '(top)'}: ${what}`);
  if (schema.anyOf) {
    if (!schema.anyOf.some((option: unknown) => schemaErrors(option, value, path).length === 0)) fail('matches no anyOf option');
    return errors;
  }
  if ('const' in schema && value !== schema.const) fail(`is not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) fail('is not in the enum');
  const typeOf = (v: unknown) =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
  if (schema.type) {
    const actual = typeOf(value);
    const isMatch = actual === schema.type || (schema.type === 'number' && actual === 'integer');
    if (!isMatch) return [...errors, `${path || '(top)'}: is ${actual}, not ${schema.type}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) fail('below minimum');
    if (schema.maximum !== undefined && value > schema.maximum) fail('above maximum');
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) fail('too short');
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) fail('does not match the pattern');
  }
  if (Array.isArray(value) && schema.items) value.forEach((item, i) => errors.push(...schemaErrors(schema.items, item, `${path}[${i}]`)));
  if (schema.properties && typeOf(value) === 'object') {
    for (const [key, child] of Object.entries(value as object)) {
      const childPath = path ? `${path}.${key}` : key;
      if (schema.properties[key]) errors.push(...schemaErrors(schema.properties[key], child, childPath));
      else if (schema.additionalProperties === false) errors.push(`${childPath}: unknown key`);
    }
  }
  return errors;
}

t.test('documents loadConfig accepts pass the schema; bad ones fail it', async (t) => {
  t.same(schemaErrors(committed, DEFAULTS), [], 'DEFAULTS');
  t.same(schemaErrors(committed, example), [], 'config/zeo.example.json');
  const { loadConfig } = await import('../../config/load.js');
  const unusual = loadConfig({
    file: null,
    env: {},
    overrides: {
      storageServer: { tls: { cert: 'c.pem', key: 'k.pem' }, allow: ['::1/128', '10.0.0.1'] },
      client: { servers: ['[::1]:8100'], tls: { ca: null }, diskCacheDir: null },
      redis: { url: 'redis://127.0.0.1:6379' },
      workers: { count: 3 },
    },
  });
  t.same(schemaErrors(committed, unusual), [], 'a config with nulls, TLS and lists');
  const bad: Array<[unknown, RegExp]> = [
    [{ router: { balancing: 'random' } }, /router\.balancing: is not in the enum/],
    [{ router: { listen: { port: 70000 } } }, /router\.listen\.port: above maximum/],
    [{ workers: { count: 0 } }, /workers\.count: matches no anyOf option/],
    [{ workers: { count: 'many' } }, /workers\.count: matches no anyOf option/],
    [{ wokers: {} }, /wokers: unknown key/],
    [{ redis: { url: 'http://x' } }, /redis\.url: matches no anyOf option/],
    [{ client: { servers: ['localhost'] } }, /client\.servers\[0\]: does not match the pattern/],
  ];
  for (const [document, expected] of bad) t.match(schemaErrors(committed, document).join('\n'), expected, JSON.stringify(document));
});

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

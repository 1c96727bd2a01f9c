import { GenericAdapter, SQLBatcher } from '@sqlbatcher/core';

// Any database: give GenericAdapter a function that runs one request. Here it only prints.
const adapter = new GenericAdapter({
  execute: async (sql) => console.log(`-- request (${sql.length} chars)\n${sql}`),
  maxQuerySize: 1_000_000,
  dialect: 'postgres',
  capabilities: { multiStatement: true },
});

await using batcher = new SQLBatcher({ adapter });
await batcher.processStatements([
  "INSERT INTO users (id, name) VALUES (1, 'Alice')",
  "INSERT INTO users (id, name) VALUES (2, 'Bob; not a separator')",
  'UPDATE users SET name = upper(name) WHERE id = 1', // a barrier: never reordered
  "INSERT INTO users (id, name) VALUES (3, 'it''s Carol')",
  'INSERT INTO orders (id, user_id) VALUES (10, 3)', // another table: another statement
]);
// -- request (…)
// INSERT INTO users (id, name) VALUES (1, 'Alice'),(2, 'Bob; not a separator');
// UPDATE users SET name = upper(name) WHERE id = 1;
// INSERT INTO users (id, name) VALUES (3, 'it''s Carol');
// INSERT INTO orders (id, user_id) VALUES (10, 3)

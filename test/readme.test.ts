// The README's TypeScript examples run as written: each ```ts block is transpiled, its
// `from 'zeo-ts'` imports pointed at this build, and run. The site example is served by a real
// stand-alone app server; the others run as scripts in a scratch folder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { request } from 'undici';
import { startAppServer } from '../appserver/standalone.js';
import { testConfig } from './proxy/fixtures/site-config.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const indexUrl = pathToFileURL(join(root, 'dist', 'index.js')).href;
const memoryFactory = join(here, 'appserver', 'fixtures', 'memory-storage.js');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const scratch = mkdtempSync(join(tmpdir(), 'zeo-readme-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

function toModule(source: string, name: string, extra = ''): string {
  const js = ts.transpileModule(source.replaceAll("from 'zeo-ts'", `from '${indexUrl}'`) + extra, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = join(scratch, name);
  writeFileSync(file, js);
  return file;
}

t.ok(blocks.length >= 3, 'the README has its examples');

t.test('the site example serves notes through a real app server', async (t) => {
  const site = blocks.find((b) => b.includes('const site: AppModule'));
  if (!site) return t.fail('no site example in the README');
  const module = toModule(site, 'site.mjs');
  const server = await startAppServer(testConfig({ app: { module } }), { storageFactory: memoryFactory, log: () => {} });
  t.teardown(() => server.close());
  const saved = await request(server.url + '/', { method: 'POST', body: 'first note' });
  t.equal(saved.statusCode, 201);
  t.match(saved.headers['x-zeo-tid'], /^[0-9a-f]{16}$/, 'the commit TID comes back');
  await saved.body.text();
  const listed = await request(server.url + '/');
  t.same(await listed.body.json(), ['first note']);
});

t.test('the object-database example commits and reads its total', async (t) => {
  const example = blocks.find((b) => b.includes('class Account extends Persistent'));
  if (!example) return t.fail('no DB example in the README');
  const file = toModule(example, 'db.mjs', "\nif (total !== 100) throw new Error('total is ' + total);\n");
  const run = spawnSync(process.execPath, [file], { cwd: scratch, encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 0, run.stderr);
});

t.test('the storage example stores, loads and asks for an older revision', async (t) => {
  const example = blocks.find((b) => b.includes('storage.newOids'));
  if (!example) return t.fail('no storage example in the README');
  const extra = "\nif (new TextDecoder().decode(data) !== 'hello' || old !== null) throw new Error('unexpected');\n";
  const file = toModule(example, 'storage.mjs', extra);
  const run = spawnSync(process.execPath, [file], { cwd: join(scratch), encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 0, run.stderr);
});

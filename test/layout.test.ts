// The layers are the folders (DESIGN.md, storage/README.md): this test reads every source file's
// relative imports and fails on one that runs upward or sideways between storages, and on a file
// named with its own folder's prefix.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = posix.join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every relative import of a file, as a repository path of the .ts file it names. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.\.?\/[^']+)\.js'/g)) {
    found.push(posix.normalize(posix.join(posix.dirname(file), match[1]! + '.ts')));
  }
  return found;
}

const layers = ['storage', 'appserver', 'proxy', 'config', 'bench'];
/** What each top-level folder may import besides itself, errors.ts and log.ts. */
const allowed: Record<string, string[]> = {
  config: [],
  storage: ['config'],
  appserver: ['storage', 'config'],
  proxy: ['appserver', 'storage', 'config'],
  bench: ['proxy', 'appserver', 'storage', 'config'],
};
const storages = ['memory', 'file', 'postgres', 'compressed'];

t.test('no import runs upward between the layers', async (t) => {
  const wrong: string[] = [];
  for (const layer of layers) {
    for (const file of sources(layer)) {
      for (const target of importsOf(file)) {
        const top = target.split('/')[0]!;
        if (top === layer || target === 'errors.ts' || target === 'log.ts' || !layers.includes(top)) continue;
        if (!allowed[layer]!.includes(top)) wrong.push(`${file} imports ${target}`);
      }
    }
  }
  t.same(wrong, []);
});

t.test('errors.ts and log.ts, under every layer, import none of them', async (t) => {
  t.same(['errors.ts', 'log.ts'].flatMap((file) => importsOf(file).filter((target) => target !== 'errors.ts')), []);
});

t.test('a storage never imports another storage, and the object layer none at all', async (t) => {
  const wrong: string[] = [];
  for (const file of sources('storage')) {
    const [, folder] = file.split('/');
    for (const target of importsOf(file)) {
      const [top, targetFolder] = target.split('/');
      if (top !== 'storage' || targetFolder === folder || !storages.includes(targetFolder!)) continue;
      if (storages.includes(folder!) || folder === 'objects' || folder === 'client') wrong.push(`${file} imports ${target}`);
    }
  }
  t.same(wrong, []);
});

t.test('no file under storage/ is prefixed with its folder name', async (t) => {
  const prefixed = sources('storage').filter((file) => {
    const folder = basename(dirname(file));
    return folder !== 'storage' && basename(file).startsWith(folder + '-');
  });
  t.same(prefixed, []);
});

t.test('the top of storage/ holds the contract and what every storage shares, a handful of files', async (t) => {
  const top = readdirSync(join(ROOT, 'storage')).filter((name) => name.endsWith('.ts'));
  t.ok(top.includes('contract.ts'));
  t.ok(top.length <= 8, `storage/ has ${top.length} files at its top: ${top.join(', ')}`);
});

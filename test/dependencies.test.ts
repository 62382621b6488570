// Every runtime dependency in package.json is used by the code (a dependency nothing imports is
// weight and attack surface for nothing), except the few kept on purpose, each with its reason.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KEPT_UNUSED: Record<string, string> = {
  'http-proxy': 'kept for passing WebSocket upgrades on to remote app servers (not used yet)',
};

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

t.test('every dependency is imported by the code, or kept on purpose', async (t) => {
  const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const files = ['index.ts', 'log.ts', 'errors.ts', ...['bin', 'storage', 'appserver', 'proxy', 'config', 'bench'].flatMap((dir) => sources(dir))];
  const code = files.map((file) => readFileSync(join(ROOT, file), 'utf8')).join('\n');
  const unused = Object.keys(dependencies).filter((name) => {
    const quoted = new RegExp(`['"]${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/[^'"]*)?['"]`);
    return !quoted.test(code) && !Object.hasOwn(KEPT_UNUSED, name);
  });
  t.same(unused, [], 'no dependency that nothing uses');
  for (const name of Object.keys(KEPT_UNUSED)) t.ok(Object.hasOwn(dependencies, name), `${name} is still listed (else drop it here)`);
});

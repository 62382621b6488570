// Where the time went: a summary of V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes
// them; `zeo bench --cpu-prof DIR` makes every zeo process and worker thread write one). Self
// time is summed per function and per place (a project file, an npm package, node internals,
// GC, idle), so a profile of the router or a worker under load reads in a few lines.
//   node dist/bench/profile-summary.js DIR_OR_FILE [--top N]

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples that were not idle (the thread was working). */
  busyShare: number;
  functions: Array<{ name: string; place: string; selfMs: number; share: number }>;
  places: Array<{ place: string; selfMs: number; share: number }>;
  /** Time with the function anywhere on the stack (project functions only): what a request path costs. */
  inclusive: Array<{ name: string; place: string; share: number }>;
}

/** Where a frame's code lives: a package, node internals, a project file, or a V8 pseudo-frame. */
export function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return `npm:${modules[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  const project = /\/dist\/(.+)$/.exec(url);
  return project ? project[1]!.replace(/\.js$/, '.ts') : url;
}

export function summariseProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length) {
    // Each sample's time is the delta to the next sample (the last one gets none).
    for (let i = 0; i < samples.length; i++) {
      const delta = deltas[i + 1] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, delta));
    }
  } else {
    const perHit = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((n, p) => n + (p.hitCount ?? 0), 0));
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * perHit);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const functions = new Map<string, { name: string; place: string; us: number }>();
  const places = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const name = frame.functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    const place = placeOf(frame.url, name);
    const key = `${name} ${frame.url}:${frame.lineNumber}`;
    const entry = functions.get(key) ?? { name: `${name}${frame.url ? ` :${frame.lineNumber + 1}` : ''}`, place, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const inclusiveUs = new Map<string, { name: string; place: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || !frame.url || frame.url.includes('node_modules') || frame.url.startsWith('node:')) continue;
      const key = `${frame.functionName} ${frame.url}:${frame.lineNumber}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusiveUs.get(key) ??
        { name: `${frame.functionName || '(anonymous)'} :${frame.lineNumber + 1}`, place: placeOf(frame.url, frame.functionName), us: 0 };
      entry.us += us;
      inclusiveUs.set(key, entry);
    }
  }
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => Math.round((us / totalUs) * 1000) / 10;
  return {
    totalMs: ms(totalUs),
    busyShare: Math.round(((totalUs - idleUs) / totalUs) * 1000) / 1000,
    functions: [...functions.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ name: f.name, place: f.place, selfMs: ms(f.us), share: share(f.us) })),
    places: [...places].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([place, us]) => ({ place, selfMs: ms(us), share: share(us) })),
    inclusive: [...inclusiveUs.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ name: f.name, place: f.place, share: share(f.us) })),
  };
}

export function formatProfileSummary(title: string, summary: ProfileSummary): string {
  const lines = [`${title}: ${summary.totalMs} ms sampled, ${Math.round(summary.busyShare * 100)}% busy`, '  by place:'];
  for (const p of summary.places) lines.push(`    ${String(p.share).padStart(5)}%  ${p.place}`);
  lines.push('  by function (self time):');
  for (const f of summary.functions) lines.push(`    ${String(f.share).padStart(5)}%  ${f.name}  [${f.place}]`);
  lines.push('  project functions, inclusive (on the stack):');
  for (const f of summary.inclusive) lines.push(`    ${String(f.share).padStart(5)}%  ${f.name}  [${f.place}]`);
  return lines.join('\n');
}

async function main(args: string[]): Promise<void> {
  const target = args.find((a) => !a.startsWith('--'));
  if (!target) throw new Error('usage: node dist/bench/profile-summary.js DIR_OR_FILE [--top N]');
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 15;
  const files = (await stat(target)).isDirectory()
    ? (await readdir(target)).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(target, f))
    : [target];
  for (const file of files) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
    process.stdout.write(formatProfileSummary(basename(file), summariseProfile(profile, top)) + '\n\n');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}

// Baseline (b): nginx in front of N stand-alone app servers, each on its own HTTP port, with
// upstream keep-alive: the classic way to put several Node processes behind one address. Used
// only when an nginx binary is installed; zeo-ts never requires it (the run notes the skip).
// Everything nginx writes (pid, logs, temp files) goes into a temporary folder removed on close.

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppLauncher } from './app-spec.js';
import { type ChildHandle, freePort, spawnEntry, spawnProgram } from '../launch/processes.js';
import { childPids } from '../cpu-usage.js';
import type { RunningTarget } from '../targets.js';

/** The nginx binary on PATH (or in the usual sbin folders), or null when nginx is not installed. */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string | null {
  const folders = [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const folder of folders) {
    if (folder && existsSync(join(folder, 'nginx'))) return join(folder, 'nginx');
  }
  return null;
}

/** The nginx.conf for upstream ports behind 127.0.0.1:listenPort (pure; exported for tests). */
export function nginxConfig(options: { listenPort: number; upstreamPorts: number[]; folder: string; isRoot: boolean }): string {
  const { folder } = options;
  const servers = options.upstreamPorts.map((port) => `    server 127.0.0.1:${port} max_fails=0;`).join('\n');
  return `# written by zeo bench (bench/baselines/nginx.ts); removed after the run
${options.isRoot ? 'user root;\n' : ''}worker_processes auto;
daemon off;
pid ${folder}/nginx.pid;
error_log ${folder}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${folder}/body;
  proxy_temp_path ${folder}/proxy;
  fastcgi_temp_path ${folder}/fastcgi;
  uwsgi_temp_path ${folder}/uwsgi;
  scgi_temp_path ${folder}/scgi;
  upstream app {
${servers}
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${options.listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 30s;
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

export async function startNginxTarget(nginxPath: string, app: AppLauncher, workers: number,
  options: { isVerbose?: boolean; startTimeoutMs?: number } = {}): Promise<RunningTarget> {
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const folder = await mkdtemp(join(tmpdir(), 'zeo-bench-nginx-'));
  const apps: ChildHandle[] = [];
  let nginx: ChildHandle | null = null;
  const close = async () => {
    await nginx?.stop();
    await Promise.all(apps.map((child) => child.stop()));
    await rm(folder, { recursive: true, force: true });
  };
  try {
    const upstreamPorts: number[] = [];
    for (let i = 0; i < workers; i++) {
      const port = await freePort();
      upstreamPorts.push(port);
      apps.push(spawnEntry(`app server ${i + 1} (${app.kind})`, pathToFileURL(app.exec), {
        args: app.args(port),
        env: app.env,
        baseEnv: app.baseEnv,
        execArgv: app.execArgv,
        isVerbose: options.isVerbose,
      }));
    }
    await Promise.all(apps.map((child, i) => child.waitUntilServing(`http://127.0.0.1:${upstreamPorts[i]}/api/products/1`, timeoutMs)));
    const listenPort = await freePort();
    const configFile = join(folder, 'nginx.conf');
    const isRoot = process.getuid?.() === 0;
    await writeFile(configFile, nginxConfig({ listenPort, upstreamPorts, folder, isRoot }));
    nginx = spawnProgram('nginx', nginxPath, ['-p', folder, '-c', configFile], { isVerbose: options.isVerbose });
    const url = `http://127.0.0.1:${listenPort}`;
    await nginx.waitUntilServing(`${url}/api/products/1`, timeoutMs);
    const master = nginx;
    return {
      url,
      adminUrl: null,
      workerExits: () => apps.filter((child) => !child.isRunning).length,
      cpuScope: () => ({ pids: [master.pid, ...childPids(master.pid), ...apps.map((child) => child.pid)] }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

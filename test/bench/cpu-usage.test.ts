// CPU time per request from /proc: parsing, finding children, and a real reading of this process.
import { spawn } from 'node:child_process';
import t from 'tap';
import { childPids, cpuMsFromStat, cpuPerRequest, parentPidFromStat, readCpu } from '../../bench/cpu-usage.js';

t.test('a /proc stat line is parsed past a command with spaces and parens', async (t) => {
  const line = '4242 (node (worker) x) S 17 4242 4242 0 -1 4194560 900 0 0 0 250 37 0 0 20 0 11 0 100 1000 50';
  t.equal(cpuMsFromStat(line), 2870, '(250 + 37) ticks of 10 ms');
  t.equal(parentPidFromStat(line), 17);
});

t.test('per request: the differences divided by the requests', async (t) => {
  const before = { totalMs: 1000, routerThreadMs: 200, storageMs: 50 };
  const after = { totalMs: 3000, routerThreadMs: 600, storageMs: 250 };
  t.same(cpuPerRequest(before, after, 4000, { pids: [1], routerPids: [1], storagePids: [2] }),
    { totalMs: 0.5, routerMs: 0.1, storageMs: 0.05 });
  t.same(cpuPerRequest(before, after, 4000, { pids: [1] }), { totalMs: 0.5, routerMs: null, storageMs: null });
  t.equal(cpuPerRequest(null, after, 10, { pids: [1] }), null);
  t.equal(cpuPerRequest(before, after, 0, { pids: [1] }), null);
});

t.test('a real reading: this process burns CPU, its child is found', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const before = readCpu({ pids: [process.pid], routerPids: [process.pid] })!;
  const usageBefore = process.cpuUsage();
  // Burn 200 ms of CPU (not of wall time: the machine may be busy).
  while ((process.cpuUsage(usageBefore).user + process.cpuUsage(usageBefore).system) / 1000 < 200) Math.sqrt(Math.random());
  const usage = process.cpuUsage(usageBefore);
  const after = readCpu({ pids: [process.pid], routerPids: [process.pid] })!;
  const spentMs = (usage.user + usage.system) / 1000;
  const readMs = after.totalMs - before.totalMs;
  t.ok(Math.abs(readMs - spentMs) <= 40, `/proc says ${readMs} ms, process.cpuUsage ${spentMs.toFixed(0)} ms`);
  t.ok(after.routerThreadMs - before.routerThreadMs >= 150, 'the main thread is where it went');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  t.ok(childPids(process.pid).includes(child.pid!), 'the child is listed under this process');
  t.same(readCpu({ pids: [2 ** 22 + 7] }), { totalMs: 0, routerThreadMs: 0, storageMs: 0 }, 'a gone process counts nothing');
});

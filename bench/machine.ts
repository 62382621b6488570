// What machine a bench ran on, recorded with every result: numbers mean little without it.

import os from 'node:os';

export interface MachineInfo {
  date: string;
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  totalMemoryMb: number;
  /** 1-minute load average when the run started: a busy shared machine shows here. */
  loadAverage1m: number;
}

export function describeMachine(now: Date = new Date()): MachineInfo {
  return {
    date: now.toISOString(),
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryMb: Math.round(os.totalmem() / 1024 / 1024),
    loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export function machineLine(machine: MachineInfo): string {
  return `${machine.date} · ${machine.cores} cores (${machine.cpuModel}) · node ${machine.node} · ` +
    `${machine.platform} · ${machine.totalMemoryMb} MB · load ${machine.loadAverage1m} at start`;
}

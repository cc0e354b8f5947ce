// Before the local target starts anything: every port the topology fixes must be free on the
// host, or the run would fail half-started with a process's EADDRINUSE deep in its log.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fixedPorts } from '../topology/parse.js';
import type { Topology } from '../topology/model.js';

/** Resolves true when `port` can be listened on at `host` right now. */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The kernel's range for outgoing connections' local ports (Linux), if readable. */
export function ephemeralPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] | undefined {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return low && high ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

export interface PortCheck {
  /** Ports already taken: the run must not start. */
  problems: string[];
  /** Ports that are free now but that any outgoing connection may take (the ephemeral range). */
  warnings: string[];
}

export async function checkFixedPorts(topology: Topology, host: string, range = ephemeralPortRange()): Promise<PortCheck> {
  const result: PortCheck = { problems: [], warnings: [] };
  for (const { port, who, setting } of fixedPorts(topology)) {
    if (!(await canListen(host, port))) {
      result.problems.push(`port ${port} (${who}) is already in use on ${host}: stop what holds it (\`ss -ltnp 'sport = :${port}'\` shows it; an earlier \`edge up\` with the same ports?) or give ${setting} another port in your topology`);
    } else if (range && port >= range[0] && port <= range[1]) {
      result.warnings.push(`port ${port} (${who}) lies in this machine's ephemeral range ${range[0]}-${range[1]}: an outgoing connection may take it before the listener starts; prefer a port below ${range[0]} (${setting})`);
    }
  }
  return result;
}

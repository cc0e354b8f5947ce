// Is there an established TCP connection to host:port in this network namespace? Read from
// /proc/net/tcp (and IPv4-mapped rows of tcp6), so nothing is sent over the network.
//
// Why: Mosquitto 2.0's bridge publishes its local state notification ("1") on every connect, but
// with `notifications_local_only true` it publishes "0" only before the first attempt, never on
// a later disconnect (src/bridge.c: the "0" is otherwise the bridge's will at the parent). So a
// cut link leaves `$SYS/broker/connection/<id>/state` at "1" locally; the bridge's socket, gone
// once the bridge gives up on its keepalive, is what says it is down.
import { readFileSync } from 'node:fs';

const ESTABLISHED = '01';

/** `/proc/net/tcp`'s address form of an IPv4 host:port: the address as a host-order (little-endian) word. */
export function procAddress(host: string, port: number): string {
  const octets = host.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`not an IPv4 address: ${host}`);
  const hex = octets.reverse().map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase();
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

/** Whether `table` (the text of /proc/net/tcp or tcp6) has an ESTABLISHED row whose remote end is host:port. */
export function hasEstablished(table: string, host: string, port: number): boolean {
  const want = procAddress(host, port);
  const [addr, p] = want.split(':');
  const mapped = `0000000000000000FFFF0000${addr}:${p}`;
  return table.split('\n').slice(1).some((line) => {
    const cols = line.trim().split(/\s+/);
    return cols[3] === ESTABLISHED && (cols[2] === want || cols[2] === mapped);
  });
}

/** Reads this namespace's TCP tables; undefined when they cannot be read (not Linux). */
export function establishedTo(host: string, port: number): boolean | undefined {
  let found = false;
  let readable = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      found ||= hasEstablished(readFileSync(file, 'utf8'), host, port);
      readable = true;
    } catch {
      // no such table (no IPv6, or not Linux)
    }
  }
  return readable ? found : undefined;
}

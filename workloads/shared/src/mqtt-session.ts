// A sidecar's persistent MQTT session, seen from outside: used to make the sidecar reconnect
// (see data-gateway/src/session-release.ts).
import { connect } from 'node:net';

export interface MqttSession {
  clientId: string;
  username: string;
  password: string;
}

function utf8Field(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** An MQTT 3.1.1 CONNECT with clean session off, user name and password. */
export function connectPacket(session: MqttSession, keepaliveS = 10): Buffer {
  const variable = Buffer.concat([utf8Field('MQTT'), Buffer.from([4, 0x80 | 0x40, keepaliveS >> 8, keepaliveS & 255])]);
  const payload = Buffer.concat([utf8Field(session.clientId), utf8Field(session.username), utf8Field(session.password)]);
  const body = Buffer.concat([variable, payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/**
 * Connects with a persistent session's client id, which makes the broker close the session's
 * current connection, and leaves at once with a DISCONNECT. Whatever the broker hands over
 * meanwhile is never acknowledged (a plain socket: no MQTT library that would PUBACK), so it
 * stays in the session and is sent again when the session's owner reconnects.
 */
export function bounceSession(url: string, session: MqttSession, timeoutMs = 5_000): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 1883) });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no CONNACK from ${url} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        socket.end(Buffer.from([0xe0, 0x00]), () => resolve());
        socket.setTimeout(1_000, () => socket.destroy());
      }
    };
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => socket.write(connectPacket(session)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      // CONNACK: 0x20 0x02 <session present> <return code>
      if (received[0] !== 0x20) return finish(new Error(`unexpected first packet 0x${received[0]!.toString(16)} from ${url}`));
      const rc = received[3]!;
      finish(rc === 0 ? undefined : new Error(`${url} refused session ${session.clientId} (CONNACK return code ${rc})`));
    });
  });
}

// Which stores the gateway writes to, and which topic goes to which of them. Parsed here once and
// used by the gateway itself, by the topology validator and by the bundle's steps, so a bad
// selection is refused with the same words before anything runs.
//
//   GATEWAY_SINKS   the stores the gateway connects to: file,postgresql,eventhubs (default file)
//   GATEWAY_ROUTES  optional, topic=sink[,sink...] separated by ';', e.g.
//                   "telemetry=file,postgresql; telemetry/alarms=file,eventhubs"
//                   Without it, the one route is <TOPIC>=<every selected sink>.
export const SINK_KINDS = ['file', 'postgresql', 'eventhubs'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];

export interface Route {
  topic: string;
  /** A message on `topic` is acknowledged once every one of these has it. */
  sinks: SinkKind[];
}

export interface Routing {
  /** Every selected sink, in the order given. */
  sinks: SinkKind[];
  routes: Route[];
  problems: string[];
}

/** Parses `file,postgresql`: known kinds, no repeats, at least one. Returns the problems found. */
export function parseSinks(raw: string, variable = 'GATEWAY_SINKS'): { sinks: SinkKind[]; problems: string[] } {
  const problems: string[] = [];
  const sinks: SinkKind[] = [];
  const names = raw.split(',').map((s) => s.trim());
  if (names.every((n) => n === '')) return { sinks, problems: [`${variable} names no sink; use one or more of ${SINK_KINDS.join(', ')}, comma-separated`] };
  for (const name of names) {
    if (name === '') problems.push(`${variable} has an empty entry ("${raw}")`);
    else if (!(SINK_KINDS as readonly string[]).includes(name)) problems.push(`${variable}: unknown sink "${name}"; known: ${SINK_KINDS.join(', ')}`);
    else if (sinks.includes(name as SinkKind)) problems.push(`${variable} lists "${name}" twice`);
    else sinks.push(name as SinkKind);
  }
  return { sinks, problems };
}

export interface RoutingInput {
  /** GATEWAY_SINKS as given (undefined: file). */
  sinks?: string;
  /** GATEWAY_ROUTES as given (undefined: one route for `topic`). */
  routes?: string;
  /** The telemetry topic (TOPIC): every route must be it or below it. */
  topic: string;
  deadLetterTopic: string;
}

/**
 * The selection and the routes, with every problem at once. A route topic must be the telemetry
 * topic or below it (`telemetry/alarms`): the brokers bridge only those upward and the gateway's
 * broker user may read only those, so anything else would never arrive. No wildcards: two routes
 * matching one message would store it twice under different rules.
 */
export function resolveRouting(input: RoutingInput): Routing {
  const { sinks, problems } = parseSinks(input.sinks ?? 'file');
  const routesRaw = input.routes?.trim();
  if (!routesRaw) return { sinks, routes: [{ topic: input.topic, sinks: [...sinks] }], problems };

  const routes: Route[] = [];
  for (const entry of routesRaw.split(';').map((e) => e.trim()).filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    if (eq < 0) {
      problems.push(`GATEWAY_ROUTES: "${entry}" must be topic=sink[,sink...], e.g. ${input.topic}=file,postgresql`);
      continue;
    }
    const topic = entry.slice(0, eq).trim();
    const where = `GATEWAY_ROUTES (topic "${topic}")`;
    if (!/^[A-Za-z0-9_\-/.]+$/.test(topic) || topic.endsWith('/') || topic.includes('//')) {
      problems.push(`${where}: a topic is letters, digits, _ - . and single / between levels, no wildcards (+ #) or spaces`);
    } else if (topic !== input.topic && !topic.startsWith(`${input.topic}/`)) {
      problems.push(`${where}: only ${input.topic} and ${input.topic}/<name> reach the gateway (the brokers bridge nothing else upward); use ${input.topic}/${topic.replace(/^\/+/, '')}`);
    } else if (topic === input.deadLetterTopic) {
      problems.push(`${where} is the dead-letter topic: the gateway would read back what it dead-letters`);
    }
    if (routes.some((r) => r.topic === topic)) problems.push(`GATEWAY_ROUTES lists topic "${topic}" twice: give each topic one route with all its sinks`);
    const parsed = parseSinks(entry.slice(eq + 1), where);
    problems.push(...parsed.problems);
    for (const s of parsed.sinks) if (!sinks.includes(s)) problems.push(`${where} sends to ${s}, which GATEWAY_SINKS does not select: add ${s} to the sinks`);
    routes.push({ topic, sinks: parsed.sinks });
  }
  if (routes.length === 0) problems.push(`GATEWAY_ROUTES names no route; e.g. ${input.topic}=${sinks.join(',') || 'file'}`);
  for (const s of sinks) if (!routes.some((r) => r.sinks.includes(s))) problems.push(`GATEWAY_SINKS selects ${s} but no route sends to it: add it to a route in GATEWAY_ROUTES or remove it from the sinks`);
  return { sinks, routes, problems };
}

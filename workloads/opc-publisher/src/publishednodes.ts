// Reads the OPC Publisher publishednodes.json format. Every problem is reported at once, each
// with the file name and the JSON path of the offending value, so one edit fixes them all.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface OpcNode {
  /** As written: "nsu=<uri>;s=Name", "ns=2;s=Name", "i=2258", "ns=3;g=<guid>", "ns=1;b=<base64>". */
  Id: string;
  /** The Payload key of this node's values; defaults to Id. */
  DisplayName: string;
  /** Milliseconds; undefined leaves it to the publishing interval. */
  OpcSamplingInterval?: number;
  /** Milliseconds. */
  OpcPublishingInterval?: number;
  /** Seconds: re-send the last value when nothing changed for this long. */
  HeartbeatInterval?: number;
}

export interface PublishedNodesEntry {
  EndpointUrl: string;
  UseSecurity: boolean;
  /** Defaults to the publisher's name (EDGE_SOURCE). */
  DataSetWriterGroup?: string;
  /** Defaults to the entry's index in the file. */
  DataSetWriterId: string;
  /** Milliseconds. */
  DataSetPublishingInterval?: number;
  OpcNodes: OpcNode[];
}

export type ParseResult = { ok: true; entries: PublishedNodesEntry[] } | { ok: false; problems: string[] };

const NODE_ID = new RegExp(
  '^(?:(?:ns=\\d+|nsu=[^;]+);)?' + // namespace index or uri, optional (ns=0 then)
    '(?:i=\\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$',
);

/** True for the node id forms OPC Publisher accepts (string, numeric, guid, opaque; ns= or nsu=). */
export function isValidNodeId(id: string): boolean {
  return NODE_ID.test(id);
}

/** Reads and validates a file; problems are prefixed with the file's base name. */
export function loadPublishedNodes(file: string): ParseResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`${basename(file)}: cannot read ${file}: ${(err as Error).message}`] };
  }
  return parsePublishedNodes(text, basename(file));
}

/** Pure: parses and validates the text of a publishednodes.json. */
export function parsePublishedNodes(text: string, fileName = 'publishednodes.json'): ParseResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`${fileName}: malformed JSON${jsonErrorPosition(text, err as Error)}: ${(err as Error).message}`] };
  }
  const problems: string[] = [];
  const problem = (path: string, what: string): void => {
    problems.push(`${fileName}: ${path} ${what}`);
  };
  if (!Array.isArray(doc)) {
    return { ok: false, problems: [`${fileName}: the document must be a JSON array of endpoint entries, got ${kind(doc)}`] };
  }
  if (doc.length === 0) problem('[]', 'is empty: add at least one entry with an EndpointUrl and OpcNodes');

  const entries: PublishedNodesEntry[] = [];
  doc.forEach((raw: unknown, i) => {
    const at = `[${i}]`;
    if (!isObject(raw)) {
      problem(at, `must be an object, got ${kind(raw)}`);
      return;
    }
    const endpointUrl = requiredString(raw, 'EndpointUrl', at, problem);
    if (endpointUrl !== undefined && !/^opc\.tcp:\/\/[^/:\s]+(:\d{1,5})?(\/\S*)?$/.test(endpointUrl)) {
      problem(`${at}.EndpointUrl`, `must be an opc.tcp://host:port url, got ${JSON.stringify(endpointUrl)}`);
    }
    const useSecurity = optional(raw, 'UseSecurity', at, 'a boolean', (v) => typeof v === 'boolean', problem) as boolean | undefined;
    const group = optional(raw, 'DataSetWriterGroup', at, 'a non-empty string', isNonEmptyString, problem) as string | undefined;
    const writerId = optional(raw, 'DataSetWriterId', at, 'a non-empty string', isNonEmptyString, problem) as string | undefined;
    const interval = optional(raw, 'DataSetPublishingInterval', at, 'a positive number of milliseconds', isPositive, problem) as number | undefined;
    if ('NodeId' in raw) problem(`${at}.NodeId`, 'is the legacy single-node form, which is not supported: use "OpcNodes": [{ "Id": ... }]');

    const opcNodes: OpcNode[] = [];
    if (!('OpcNodes' in raw)) problem(`${at}.OpcNodes`, 'is required (an array of { "Id": ... })');
    else if (!Array.isArray(raw.OpcNodes)) problem(`${at}.OpcNodes`, `must be an array, got ${kind(raw.OpcNodes)}`);
    else if (raw.OpcNodes.length === 0) problem(`${at}.OpcNodes`, 'is empty: list at least one node');
    else {
      const names = new Map<string, number>();
      raw.OpcNodes.forEach((rawNode: unknown, j) => {
        const nat = `${at}.OpcNodes[${j}]`;
        if (!isObject(rawNode)) {
          problem(nat, `must be an object, got ${kind(rawNode)}`);
          return;
        }
        const id = requiredString(rawNode, 'Id', nat, problem);
        if (id !== undefined && !isValidNodeId(id)) {
          problem(`${nat}.Id`, `${JSON.stringify(id)} is not a node id: use "nsu=<namespace uri>;s=<name>", "ns=<index>;s=<name>" or i=, g=, b= forms`);
        }
        const displayName = optional(rawNode, 'DisplayName', nat, 'a non-empty string', isNonEmptyString, problem) as string | undefined;
        const sampling = optional(rawNode, 'OpcSamplingInterval', nat, 'a number of milliseconds >= 0', isNonNegative, problem) as number | undefined;
        const publishing = optional(rawNode, 'OpcPublishingInterval', nat, 'a positive number of milliseconds', isPositive, problem) as number | undefined;
        const heartbeat = optional(rawNode, 'HeartbeatInterval', nat, 'a positive number of seconds', isPositive, problem) as number | undefined;
        if (id === undefined) return;
        const name = displayName ?? id;
        const first = names.get(name);
        if (first !== undefined) {
          problem(`${nat}.DisplayName`, `${JSON.stringify(name)} is already used by ${at}.OpcNodes[${first}]: each node of an entry needs its own DisplayName (it is the Payload key)`);
        } else names.set(name, j);
        opcNodes.push({ Id: id, DisplayName: name, OpcSamplingInterval: sampling, OpcPublishingInterval: publishing, HeartbeatInterval: heartbeat });
      });
    }
    if (endpointUrl === undefined) return;
    entries.push({
      EndpointUrl: endpointUrl,
      UseSecurity: useSecurity ?? false,
      DataSetWriterGroup: group,
      DataSetWriterId: writerId ?? String(i),
      DataSetPublishingInterval: interval,
      OpcNodes: opcNodes,
    });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, entries };
}

type Report = (path: string, what: string) => void;

function requiredString(obj: Record<string, unknown>, key: string, at: string, problem: Report): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    problem(`${at}.${key}`, 'is required');
    return undefined;
  }
  if (!isNonEmptyString(v)) {
    problem(`${at}.${key}`, `must be a non-empty string, got ${kind(v)}`);
    return undefined;
  }
  return v;
}

function optional(obj: Record<string, unknown>, key: string, at: string, what: string, valid: (v: unknown) => boolean, problem: Report): unknown {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!valid(v)) {
    problem(`${at}.${key}`, `must be ${what}, got ${kind(v)}`);
    return undefined;
  }
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const isPositive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isNonNegative = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A short description of a value for messages: `"abc" (string)`, `42 (number)`, `an array`. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const shown = JSON.stringify(v);
  return `${shown.length > 40 ? shown.slice(0, 37) + '...' : shown} (${typeof v})`;
}

/** " at line L, column C" when the parser's message gives a position. */
function jsonErrorPosition(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  let pos: number;
  if (m) pos = Number(m[1]);
  else if (/Unexpected end of JSON input/.test(err.message)) pos = text.length;
  else return '';
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column}`;
}

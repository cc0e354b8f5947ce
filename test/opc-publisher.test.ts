// opc-publisher without OPC UA: publishednodes.json validation, the batcher, the network
// message, DataValue conversion and the configuration.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { ConfigError } from '../workloads/shared/src/env.js';
import { Sequencer } from '../workloads/shared/src/envelope.js';
import { Batcher } from '../workloads/opc-publisher/src/batcher.js';
import { readPublisherConfig } from '../workloads/opc-publisher/src/config.js';
import { DataSetSequences, toNetworkMessages, type DataSetField, type Sample } from '../workloads/opc-publisher/src/networkmessage.js';
import { planEndpoints } from '../workloads/opc-publisher/src/pipeline.js';
import { isValidNodeId, loadPublishedNodes, parsePublishedNodes, type ParseResult } from '../workloads/opc-publisher/src/publishednodes.js';
import { fieldFromDataValue, toJsonValue } from '../workloads/opc-publisher/src/values.js';

const problemsOf = (r: ParseResult): string[] => {
  assert.not.ok(r.ok, 'expected problems');
  return r.ok ? [] : r.problems;
};

const good = [
  {
    EndpointUrl: 'opc.tcp://127.0.0.1:50000',
    UseSecurity: false,
    DataSetWriterGroup: 'plc',
    DataSetWriterId: 'fast',
    DataSetPublishingInterval: 500,
    OpcNodes: [
      { Id: 'nsu=urn:nested-edge:opc-plc;s=StepUp', DisplayName: 'StepUp', OpcSamplingInterval: 500, HeartbeatInterval: 10 },
      { Id: 'ns=2;s=SpikeData' },
      { Id: 'i=2258', DisplayName: 'CurrentTime' },
    ],
  },
  { EndpointUrl: 'opc.tcp://plc-b:4840/UA/Server', OpcNodes: [{ Id: 'ns=3;g=1f2e3d4c-0000-4000-8000-0123456789ab' }] },
];

test('publishednodes: a valid document, with defaults filled in', () => {
  const r = parsePublishedNodes(JSON.stringify(good));
  assert.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  assert.is(r.entries.length, 2);
  assert.equal(r.entries[0].OpcNodes[1], { Id: 'ns=2;s=SpikeData', DisplayName: 'ns=2;s=SpikeData', OpcSamplingInterval: undefined, OpcPublishingInterval: undefined, HeartbeatInterval: undefined });
  assert.is(r.entries[0].OpcNodes[0].HeartbeatInterval, 10);
  assert.equal([r.entries[1].UseSecurity, r.entries[1].DataSetWriterId, r.entries[1].DataSetWriterGroup], [false, '1', undefined]);
});

test('publishednodes: malformed JSON names the file and the position', () => {
  const [p, ...rest] = problemsOf(parsePublishedNodes('[\n  { "EndpointUrl": "opc.tcp://h:1", }\n]', 'plant.json'));
  assert.is(rest.length, 0);
  assert.match(p, /^plant\.json: malformed JSON at line 2, column \d+: /);
  assert.match(problemsOf(parsePublishedNodes('[{"EndpointUrl": "opc.tcp://h:1"', 'x.json'))[0], /^x\.json: malformed JSON at line 1, column 33/);
  assert.match(problemsOf(parsePublishedNodes('{"a": 1}'))[0], 'publishednodes.json: the document must be a JSON array');
});

test('publishednodes: each bad case gives its file and JSON path', () => {
  const cases: Array<[unknown, string]> = [
    [[{ OpcNodes: [{ Id: 'ns=2;s=A' }] }], 'publishednodes.json: [0].EndpointUrl is required'],
    [[{ EndpointUrl: 'opc.tcp://h:1' }], 'publishednodes.json: [0].OpcNodes is required'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [] }], 'publishednodes.json: [0].OpcNodes is empty'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: {} }], 'publishednodes.json: [0].OpcNodes must be an array, got an object'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ DisplayName: 'x' }] }], 'publishednodes.json: [0].OpcNodes[0].Id is required'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'ns=x;s=A' }] }], 'publishednodes.json: [0].OpcNodes[0].Id "ns=x;s=A" is not a node id'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'i=abc' }] }], 'publishednodes.json: [0].OpcNodes[0].Id "i=abc" is not a node id'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 42 }] }], 'publishednodes.json: [0].OpcNodes[0].Id must be a non-empty string, got 42 (number)'],
    [[{ EndpointUrl: 'http://h:1', OpcNodes: [{ Id: 'i=1' }] }], 'publishednodes.json: [0].EndpointUrl must be an opc.tcp://host:port url'],
    [[{ EndpointUrl: 'opc.tcp://h:1', UseSecurity: 'true', OpcNodes: [{ Id: 'i=1' }] }], 'publishednodes.json: [0].UseSecurity must be a boolean, got "true" (string)'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'i=1', OpcSamplingInterval: '100' }] }], 'publishednodes.json: [0].OpcNodes[0].OpcSamplingInterval must be a number of milliseconds >= 0, got "100" (string)'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'i=1', HeartbeatInterval: -1 }] }], 'publishednodes.json: [0].OpcNodes[0].HeartbeatInterval must be a positive number of seconds'],
    [[{ EndpointUrl: 'opc.tcp://h:1', DataSetPublishingInterval: 0, OpcNodes: [{ Id: 'i=1' }] }], 'publishednodes.json: [0].DataSetPublishingInterval must be a positive number'],
    [[{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'i=1', DisplayName: 'A' }, { Id: 'i=2', DisplayName: 'A' }] }], 'publishednodes.json: [0].OpcNodes[1].DisplayName "A" is already used by [0].OpcNodes[0]'],
    [['opc.tcp://h:1'], 'publishednodes.json: [0] must be an object, got "opc.tcp://h:1" (string)'],
    [[], 'publishednodes.json: [] is empty'],
  ];
  for (const [doc, expected] of cases) {
    const problems = problemsOf(parsePublishedNodes(JSON.stringify(doc)));
    assert.is(problems.length, 1, `${JSON.stringify(doc)} → ${problems.join(' | ')}`);
    assert.ok(problems[0].startsWith(expected), `expected "${expected}", got "${problems[0]}"`);
  }
});

test('publishednodes: all problems at once, across entries', () => {
  const doc = [
    { UseSecurity: 1, OpcNodes: [{ Id: 'bad id' }, {}] },
    { EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{ Id: 'ns=2;s=ok' }, { Id: 'ns=2;s=ok2', OpcPublishingInterval: 'fast' }] },
    { EndpointUrl: 'opc.tcp://h:1' },
  ];
  const problems = problemsOf(parsePublishedNodes(JSON.stringify(doc, null, 2), 'line3.json'));
  assert.equal(problems, [
    'line3.json: [0].EndpointUrl is required',
    'line3.json: [0].UseSecurity must be a boolean, got 1 (number)',
    'line3.json: [0].OpcNodes[0].Id "bad id" is not a node id: use "nsu=<namespace uri>;s=<name>", "ns=<index>;s=<name>" or i=, g=, b= forms',
    'line3.json: [0].OpcNodes[1].Id is required',
    'line3.json: [1].OpcNodes[1].OpcPublishingInterval must be a positive number of milliseconds, got "fast" (string)',
    'line3.json: [2].OpcNodes is required (an array of { "Id": ... })',
  ]);
});

test('publishednodes: loadPublishedNodes reports with the file name, or that it cannot be read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opc-publisher-test-'));
  try {
    const file = join(dir, 'pn.json');
    writeFileSync(file, JSON.stringify([{ EndpointUrl: 'opc.tcp://h:1', OpcNodes: [{}] }]));
    assert.equal(problemsOf(loadPublishedNodes(file)), ['pn.json: [0].OpcNodes[0].Id is required']);
    assert.match(problemsOf(loadPublishedNodes(join(dir, 'missing.json')))[0], /^missing\.json: cannot read .*missing\.json: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node id forms', () => {
  for (const id of ['i=85', 'ns=2;s=A b;c', 'nsu=urn:x:y;s=Name', 'nsu=http://microsoft.com/Opc/OpcPlc/;s=StepUp', 'ns=1;g=1f2e3d4c-0000-4000-8000-0123456789ab', 'ns=1;b=AAEC', 's=Plain']) {
    assert.ok(isValidNodeId(id), id);
  }
  for (const id of ['', 'StepUp', 'ns=;s=A', 'ns=2;x=1', 'nsu=;s=A', 'ns=1;g=not-a-guid', 'i=', 'ns=2;i=1.5']) assert.not.ok(isValidNodeId(id), id);
});

test('batcher: size trigger, in order', () => {
  const b = new Batcher<number>({ maxSize: 3, maxAgeMs: 1000 });
  assert.is(b.add(1, 0), undefined);
  assert.is(b.add(2, 0), undefined);
  assert.equal(b.add(3, 0), [1, 2, 3]);
  assert.is(b.pending, 0);
  assert.is(b.add(4, 0), undefined);
  assert.is(b.pending, 1);
});

test('batcher: interval trigger counts from the first pending item', () => {
  const b = new Batcher<string>({ maxSize: 100, maxAgeMs: 1000 });
  assert.is(b.due(5000), undefined, 'nothing pending');
  b.add('a', 10_000);
  b.add('b', 10_900);
  assert.is(b.dueAt, 11_000);
  assert.is(b.due(10_999), undefined);
  assert.equal(b.due(11_000), ['a', 'b']);
  assert.is(b.dueAt, undefined);
  b.add('c', 11_500);
  assert.is(b.due(12_000), undefined, 'the new batch has its own clock');
  assert.equal(b.due(12_500), ['c']);
});

test('batcher: flush on stop returns the pending items, then nothing', () => {
  const b = new Batcher<number>({ maxSize: 10, maxAgeMs: 1000 });
  const out: number[][] = [];
  for (let i = 1; i <= 25; i++) {
    const batch = b.add(i, 0);
    if (batch) out.push(batch);
  }
  const rest = b.flush();
  if (rest) out.push(rest);
  assert.equal(out.map((x) => x.length), [10, 10, 5]);
  assert.equal(out.flat(), Array.from({ length: 25 }, (_, i) => i + 1), 'order kept across batches');
  assert.is(b.flush(), undefined);
  assert.throws(() => new Batcher({ maxSize: 0, maxAgeMs: 1 }), /batch size/);
});

const field = (Value: DataSetField['Value'], t = '2026-01-01T00:00:00.000Z'): DataSetField => ({ Value, SourceTimestamp: t, StatusCode: { Code: 0, Symbol: 'Good' } });

test('network message: OPC UA PubSub JSON shape, Payload keyed by DisplayName, JSON values', () => {
  const samples: Sample[] = [
    { group: 'plc', writerId: 'fast', name: 'StepUp', field: field(7) },
    { group: 'plc', writerId: 'fast', name: 'AlternatingBoolean', field: field(true) },
    { group: 'plc', writerId: 'slow', name: 'SlowDouble1', field: field(1.5) },
    { group: 'other', writerId: '0', name: 'Name', field: field('text') },
  ];
  let n = 0;
  const messages = toNetworkMessages(samples, { publisherId: 'pub-1', sequences: new DataSetSequences(), now: new Date('2026-01-01T00:00:01Z'), messageId: () => `m${++n}` });
  assert.equal(messages, [
    {
      MessageId: 'm1',
      MessageType: 'ua-data',
      PublisherId: 'pub-1',
      DataSetWriterGroup: 'plc',
      Messages: [
        { DataSetWriterId: 'fast', SequenceNumber: 1, Timestamp: '2026-01-01T00:00:01.000Z', Payload: { StepUp: field(7), AlternatingBoolean: field(true) } },
        { DataSetWriterId: 'slow', SequenceNumber: 1, Timestamp: '2026-01-01T00:00:01.000Z', Payload: { SlowDouble1: field(1.5) } },
      ],
    },
    {
      MessageId: 'm2',
      MessageType: 'ua-data',
      PublisherId: 'pub-1',
      DataSetWriterGroup: 'other',
      Messages: [{ DataSetWriterId: '0', SequenceNumber: 1, Timestamp: '2026-01-01T00:00:01.000Z', Payload: { Name: field('text') } }],
    },
  ]);
  // through the envelope and JSON: an object all the way down, values keep their JSON types
  const envelope = new Sequencer('opc-publisher', 'l2').next('ua-data', messages[0]);
  const wire = JSON.parse(JSON.stringify(envelope)) as { data: typeof messages[0] };
  assert.type(wire.data, 'object');
  assert.is(wire.data.Messages[0].Payload.StepUp.Value, 7);
  assert.is(wire.data.Messages[0].Payload.AlternatingBoolean.Value, true);
});

test('network message: a node repeated in a batch opens a further DataSetMessage; sequence numbers run on per writer', () => {
  const sequences = new DataSetSequences();
  const batch = (values: number[]): Sample[] => values.map((v, i) => ({ group: 'g', writerId: 'w', name: i % 2 === 0 ? 'A' : 'B', field: field(v) }));
  const first = toNetworkMessages(batch([1, 2, 3, 4, 5]), { publisherId: 'p', sequences });
  assert.equal(
    first[0].Messages.map((m) => [m.SequenceNumber, Object.keys(m.Payload), Object.values(m.Payload).map((f) => f.Value)]),
    [
      [1, ['A', 'B'], [1, 2]],
      [2, ['A', 'B'], [3, 4]],
      [3, ['A'], [5]],
    ],
  );
  const second = toNetworkMessages(batch([6]), { publisherId: 'p', sequences });
  assert.is(second[0].Messages[0].SequenceNumber, 4);
  assert.is.not(first[0].MessageId, second[0].MessageId);
  const odd = toNetworkMessages([{ group: 'g', writerId: 'x', name: '__proto__', field: field(1) }], { publisherId: 'p', sequences });
  assert.equal(Object.keys(odd[0].Messages[0].Payload), ['__proto__']);
});

test('DataValue to field: JSON types, timestamps, status', () => {
  const ts = new Date('2026-02-03T04:05:06.789Z');
  const f = fieldFromDataValue(new DataValue({ value: new Variant({ dataType: DataType.UInt32, value: 42 }), sourceTimestamp: ts, statusCode: StatusCodes.Good }));
  assert.equal(f, { Value: 42, SourceTimestamp: '2026-02-03T04:05:06.789Z', StatusCode: { Code: 0, Symbol: 'Good' } });
  const bad = fieldFromDataValue(new DataValue({ statusCode: StatusCodes.BadNodeIdUnknown }));
  assert.equal([bad.Value, bad.SourceTimestamp, bad.StatusCode.Symbol], [null, null, 'BadNodeIdUnknown']);
  assert.is(bad.StatusCode.Code, StatusCodes.BadNodeIdUnknown.value);
  assert.is(toJsonValue(new Variant({ dataType: DataType.Boolean, value: false })), false);
  assert.is(toJsonValue(new Variant({ dataType: DataType.Double, value: Number.NaN })), 'NaN');
  assert.is(toJsonValue(new Variant({ dataType: DataType.DateTime, value: ts })), '2026-02-03T04:05:06.789Z');
  assert.is(toJsonValue(new Variant({ dataType: DataType.ByteString, value: Buffer.from([1, 2, 3]) })), 'AQID');
  assert.is(toJsonValue(new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [0xffffffff, 0xfffffffe] })), -2);
  assert.is(toJsonValue(new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0xffffffff, 0xffffffff] })), '18446744073709551615');
  assert.equal(toJsonValue(new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1.5, 2.5] })), [1.5, 2.5]);
  assert.is(toJsonValue(new Variant({ dataType: DataType.LocalizedText, value: { text: 'hello' } })), 'hello');
});

test('planEndpoints: one subscription per endpoint at the fastest interval, routes per node', () => {
  const r = parsePublishedNodes(
    JSON.stringify([
      { EndpointUrl: 'opc.tcp://a:1', DataSetWriterId: 'fast', DataSetPublishingInterval: 500, OpcNodes: [{ Id: 'i=1', DisplayName: 'One', HeartbeatInterval: 2 }] },
      { EndpointUrl: 'opc.tcp://a:1', DataSetWriterGroup: 'g2', OpcNodes: [{ Id: 'i=2', OpcPublishingInterval: 200 }] },
      { EndpointUrl: 'opc.tcp://b:1', OpcNodes: [{ Id: 'i=3' }] },
    ]),
  );
  assert.ok(r.ok);
  if (!r.ok) return;
  const plans = planEndpoints(r.entries, 'pub');
  assert.equal(plans.map((p) => [p.spec.url, p.spec.publishingIntervalMs, p.spec.nodes.length]), [
    ['opc.tcp://a:1', 200, 2],
    ['opc.tcp://b:1', 1000, 1],
  ]);
  assert.equal(plans[0].routes, [
    { group: 'pub', writerId: 'fast', name: 'One' },
    { group: 'g2', writerId: '1', name: 'i=2' },
  ]);
  assert.is(plans[0].spec.nodes[0].heartbeatMs, 2000);
});

test('config: PUBLISHED_NODES_FILE is required; all problems at once', () => {
  try {
    readPublisherConfig({ BATCH_SIZE: '0', BATCH_INTERVAL_MS: 'soon' });
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems;
    assert.is(problems.length, 3, problems.join('\n'));
    assert.match(problems.join('\n'), 'PUBLISHED_NODES_FILE is required');
  }
  const c = readPublisherConfig({ PUBLISHED_NODES_FILE: '/x/pn.json' });
  assert.equal([c.source, c.batchSize, c.batchIntervalMs, c.reconnectMaxDelayMs, c.topic], ['opc-publisher', 50, 1000, 10000, 'telemetry']);
});

test.run();

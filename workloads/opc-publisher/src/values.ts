// node-opcua DataValues to the JSON fields of a DataSetMessage: JSON values (numbers stay
// numbers, booleans booleans), following the OPC UA JSON encoding where JSON has no native form.
import { DataType, VariantArrayType, type DataValue, type Variant } from 'node-opcua-client';
import type { DataSetField, JsonValue } from './networkmessage.js';

export function fieldFromDataValue(dv: DataValue): DataSetField {
  return {
    Value: toJsonValue(dv.value),
    SourceTimestamp: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null,
    StatusCode: { Code: dv.statusCode.value, Symbol: dv.statusCode.name },
  };
}

export function toJsonValue(variant: Variant | null | undefined): JsonValue {
  if (!variant || variant.value === null || variant.value === undefined) return null;
  if (variant.arrayType !== VariantArrayType.Scalar) {
    return Array.from(variant.value as ArrayLike<unknown>, (v) => scalar(variant.dataType, v));
  }
  return scalar(variant.dataType, variant.value);
}

function scalar(dataType: DataType, v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case DataType.Int64:
    case DataType.UInt64:
      return int64(dataType, v);
    case DataType.Float:
    case DataType.Double:
      // JSON has no NaN or Infinity: OPC UA JSON encodes them as these strings
      return typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity') : (v as number);
    default:
      break;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'object') {
    const o = v as { toJSON?: () => unknown; text?: unknown; name?: unknown; value?: unknown };
    if (dataType === DataType.LocalizedText) return typeof o.text === 'string' ? o.text : null;
    if (dataType === DataType.StatusCode && typeof o.value === 'number') return { Code: o.value, Symbol: String(o.name) };
    if (dataType === DataType.NodeId || dataType === DataType.ExpandedNodeId || dataType === DataType.QualifiedName) return String(v);
    if (typeof o.toJSON === 'function') return plain(o.toJSON());
    return plain(v);
  }
  return String(v);
}

/** node-opcua holds 64-bit integers as [high, low]; safe ones become numbers, others strings. */
function int64(dataType: DataType, v: unknown): JsonValue {
  if (typeof v === 'number') return v;
  if (!Array.isArray(v) || v.length !== 2) return String(v);
  const raw = (BigInt((v[0] as number) >>> 0) << 32n) | BigInt((v[1] as number) >>> 0);
  const big = dataType === DataType.Int64 ? BigInt.asIntN(64, raw) : raw;
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

/** Round-trips through JSON so what we hold is exactly what will be sent. */
function plain(v: unknown): JsonValue {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return text === undefined ? null : (JSON.parse(text) as JsonValue);
}

// A small Avro Object Container File writer (Avro 1.11 spec, binary encoding, codec "null"),
// enough for Iceberg's manifest and manifest-list schemas. The schema is interpreted at run
// time, value by value: no code generation (`new Function`/`eval` throw in workerd, which is
// why avsc and Apache's avro-js, whose record types are generated code, cannot be used there).
//
// Supported schema forms: the primitives null, boolean, int, long, float, double, bytes,
// string; records (inline definitions only; a named-type reference by name is not supported),
// arrays, maps (string keys), unions, enums and fixed. Extra attributes (Iceberg's `field-id`,
// `element-id`, `logicalType: "map"`, `doc`, `default`) are written into the schema JSON as given
// and do not change the encoding.

export type AvroPrimitive =
  | "null"
  | "boolean"
  | "int"
  | "long"
  | "float"
  | "double"
  | "bytes"
  | "string";

export interface AvroField {
  name: string;
  type: AvroSchema;
  doc?: string;
  default?: unknown;
  "field-id"?: number;
  [attribute: string]: unknown;
}

export interface AvroRecord {
  type: "record";
  name: string;
  fields: AvroField[];
  doc?: string;
  [attribute: string]: unknown;
}

export interface AvroArray {
  type: "array";
  items: AvroSchema;
  [attribute: string]: unknown;
}

export interface AvroMap {
  type: "map";
  values: AvroSchema;
  [attribute: string]: unknown;
}

export interface AvroEnum {
  type: "enum";
  name: string;
  symbols: string[];
  [attribute: string]: unknown;
}

export interface AvroFixed {
  type: "fixed";
  name: string;
  size: number;
  [attribute: string]: unknown;
}

export type AvroSchema =
  | AvroPrimitive
  | AvroRecord
  | AvroArray
  | AvroMap
  | AvroEnum
  | AvroFixed
  | AvroSchema[];

/** The 4 magic bytes that open every Avro object container file: "Obj" and version 1. */
export const AVRO_MAGIC = new Uint8Array([0x4f, 0x62, 0x6a, 0x01]);

const utf8 = new TextEncoder();
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** A growable byte buffer with Avro's binary primitives. */
export class AvroWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialSize = 1024) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** The bytes written so far (a copy). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A zig-zag variable-length long (also used for int, counts and lengths). */
  long(value: number | bigint): void {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value))
        throw new RangeError(`avro long: ${value} is not a safe integer (pass a bigint)`);
      // Fast path within ±2^31 without BigInt.
      if (value >= INT_MIN && value <= INT_MAX) {
        let n = ((value << 1) ^ (value >> 31)) >>> 0;
        this.ensure(5);
        while (n > 0x7f) {
          this.buf[this.length++] = (n & 0x7f) | 0x80;
          n >>>= 7;
        }
        this.buf[this.length++] = n;
        return;
      }
      value = BigInt(value);
    }
    if (value < LONG_MIN || value > LONG_MAX)
      throw new RangeError(`avro long: ${value} is outside the 64-bit range`);
    let n = value >= 0n ? value << 1n : (-value << 1n) - 1n; // zig-zag
    this.ensure(10);
    while (n > 0x7fn) {
      this.buf[this.length++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.length++] = Number(n);
  }

  int(value: number): void {
    if (!Number.isInteger(value) || value < INT_MIN || value > INT_MAX)
      throw new RangeError(`avro int: ${value} is not a 32-bit integer`);
    this.long(value);
  }

  boolean(value: boolean): void {
    this.byte(value ? 1 : 0);
  }

  float(value: number): void {
    this.ensure(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  double(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytesValue(value: Uint8Array): void {
    this.long(value.length);
    this.raw(value);
  }

  string(value: string): void {
    this.bytesValue(utf8.encode(value));
  }
}

function schemaName(schema: AvroSchema): string {
  if (typeof schema === "string") return schema;
  if (Array.isArray(schema)) return "union";
  return "name" in schema && typeof schema.name === "string"
    ? `${schema.type} ${schema.name}`
    : schema.type;
}

/** Whether a value can be written with a union branch (used to pick the branch). */
function matches(schema: AvroSchema, value: unknown): boolean {
  if (typeof schema === "string") {
    switch (schema) {
      case "null":
        return value === null || value === undefined;
      case "boolean":
        return typeof value === "boolean";
      case "int":
        return (
          typeof value === "number" &&
          Number.isInteger(value) &&
          value >= INT_MIN &&
          value <= INT_MAX
        );
      case "long":
        return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value));
      case "float":
      case "double":
        return typeof value === "number";
      case "bytes":
        return value instanceof Uint8Array;
      case "string":
        return typeof value === "string";
    }
  }
  if (Array.isArray(schema)) return schema.some((s) => matches(s, value));
  switch (schema.type) {
    case "record":
    case "map":
      return (
        typeof value === "object" &&
        value !== null &&
        !Array.isArray(value) &&
        !(value instanceof Uint8Array)
      );
    case "array":
      return Array.isArray(value);
    case "enum":
      return typeof value === "string" && schema.symbols.includes(value);
    case "fixed":
      return value instanceof Uint8Array && value.length === schema.size;
  }
  return false;
}

/** Writes one value of `schema` in Avro binary encoding. `path` names the value in errors. */
export function writeValue(
  w: AvroWriter,
  schema: AvroSchema,
  value: unknown,
  path = "value",
): void {
  if (Array.isArray(schema)) {
    const index = schema.findIndex((s) => matches(s, value));
    if (index < 0)
      throw new TypeError(
        `avro: ${path}: ${describe(value)} matches no branch of [${schema.map(schemaName).join(", ")}]`,
      );
    w.long(index);
    writeValue(w, schema[index]!, value, path);
    return;
  }
  if (typeof schema === "string") {
    if (!matches(schema, value))
      throw new TypeError(`avro: ${path}: expected ${schema}, got ${describe(value)}`);
    switch (schema) {
      case "null":
        return;
      case "boolean":
        w.boolean(value as boolean);
        return;
      case "int":
        w.int(value as number);
        return;
      case "long":
        w.long(value as number | bigint);
        return;
      case "float":
        w.float(value as number);
        return;
      case "double":
        w.double(value as number);
        return;
      case "bytes":
        w.bytesValue(value as Uint8Array);
        return;
      case "string":
        w.string(value as string);
        return;
    }
  }
  if (!matches(schema, value))
    throw new TypeError(`avro: ${path}: expected ${schemaName(schema)}, got ${describe(value)}`);
  switch (schema.type) {
    case "record": {
      const obj = value as Record<string, unknown>;
      for (const field of schema.fields)
        writeValue(w, field.type, obj[field.name], `${path}.${field.name}`);
      return;
    }
    case "array": {
      const items = value as unknown[];
      if (items.length > 0) {
        w.long(items.length);
        for (const [i, item] of items.entries()) writeValue(w, schema.items, item, `${path}[${i}]`);
      }
      w.long(0);
      return;
    }
    case "map": {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > 0) {
        w.long(entries.length);
        for (const [k, v] of entries) {
          w.string(k);
          writeValue(w, schema.values, v, `${path}[${JSON.stringify(k)}]`);
        }
      }
      w.long(0);
      return;
    }
    case "enum":
      w.long(schema.symbols.indexOf(value as string));
      return;
    case "fixed":
      w.raw(value as Uint8Array);
      return;
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (value instanceof Uint8Array) return `bytes[${value.length}]`;
  if (Array.isArray(value)) return "array";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "object") return "object";
  return JSON.stringify(value);
}

export interface AvroContainerOptions {
  /** The writer schema; written as the `avro.schema` metadata. */
  schema: AvroSchema;
  records: Iterable<unknown>;
  /** Extra file metadata (string values, UTF-8), e.g. Iceberg's `schema`, `format-version`. */
  metadata?: Record<string, string>;
  /** The 16-byte sync marker; random when omitted. */
  syncMarker?: Uint8Array;
  /** A block is closed once its encoded records reach this many bytes (default 1 MiB). */
  blockBytes?: number;
}

/**
 * Encodes `records` as an Avro object container file with codec "null": magic, the metadata
 * map (`avro.schema`, `avro.codec`, then the caller's keys), the sync marker, then blocks of
 * (record count, byte size, records, sync marker). No records → a header with no block.
 */
export function writeAvroContainer(opts: AvroContainerOptions): Uint8Array {
  const sync = opts.syncMarker ?? crypto.getRandomValues(new Uint8Array(16));
  if (sync.length !== 16) throw new RangeError("avro: the sync marker must be 16 bytes");
  const extra = opts.metadata ?? {};
  for (const key of Object.keys(extra)) {
    if (key.startsWith("avro.")) throw new Error(`avro: metadata key ${key} is reserved`);
  }
  const out = new AvroWriter(4096);
  out.raw(AVRO_MAGIC);
  const meta: [string, string][] = [
    ["avro.schema", JSON.stringify(opts.schema)],
    ["avro.codec", "null"],
    ...Object.entries(extra),
  ];
  out.long(meta.length);
  for (const [k, v] of meta) {
    out.string(k);
    out.bytesValue(utf8.encode(v));
  }
  out.long(0);
  out.raw(sync);

  const limit = opts.blockBytes ?? 1 << 20;
  const block = new AvroWriter(4096);
  let count = 0;
  const flush = () => {
    if (count === 0) return;
    out.long(count);
    out.long(block.length);
    out.raw(block.bytes());
    out.raw(sync);
    block.reset();
    count = 0;
  };
  let i = 0;
  for (const record of opts.records) {
    writeValue(block, opts.schema, record, `record[${i++}]`);
    count++;
    if (block.length >= limit) flush();
  }
  flush();
  return out.bytes();
}

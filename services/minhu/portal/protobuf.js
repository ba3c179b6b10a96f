// The protobuf wire format for the few minhu.v1 messages the portal sends and reads
// (proto/minhu/v1/intake.proto, petition.proto, case.proto) and google.rpc.Status with its
// BadRequest and RetryInfo details. Field numbers are those of the .proto files; unknown
// fields are skipped, so newer servers that add fields keep working.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: false });

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

class Writer {
  constructor() {
    this.bytes = [];
  }

  varint(value) {
    // Non-negative values below 2^53 (tags, lengths, enums, booleans).
    let v = value;
    while (v > 0x7f) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  tag(field, wireType) {
    this.varint(field * 8 + wireType);
  }

  // proto3: a string equal to the default ("") is not written.
  string(field, value) {
    if (!value) return;
    this.lengthDelimited(field, utf8.encode(value));
  }

  message(field, writer) {
    if (writer === null) return;
    this.lengthDelimited(field, Uint8Array.from(writer.bytes));
  }

  lengthDelimited(field, bytes) {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(bytes.length);
    for (const b of bytes) this.bytes.push(b);
  }

  finish() {
    return Uint8Array.from(this.bytes);
  }
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  done() {
    return this.pos >= this.bytes.length;
  }

  // Exact below 2^53, which covers every field read here (timestamps' seconds included).
  varint() {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) throw new Error("protobuf: truncated varint");
      const b = this.bytes[this.pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 0x80;
    }
    throw new Error("protobuf: varint longer than 10 bytes");
  }

  tag() {
    const key = this.varint();
    return { field: Math.floor(key / 8), wireType: key % 8 };
  }

  lengthDelimited() {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.bytes.length) throw new Error("protobuf: truncated field");
    const slice = this.bytes.subarray(this.pos, end);
    this.pos = end;
    return slice;
  }

  string() {
    return fromUtf8.decode(this.lengthDelimited());
  }

  skip(wireType) {
    switch (wireType) {
      case VARINT:
        this.varint();
        break;
      case FIXED64:
        this.pos += 8;
        break;
      case LENGTH_DELIMITED:
        this.lengthDelimited();
        break;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
    if (this.pos > this.bytes.length) throw new Error("protobuf: truncated field");
  }
}

// Reads every field of a message, handing each to `fields[number]` (a function taking the
// reader and the wire type); fields without a handler are skipped.
function decode(bytes, fields, into) {
  const reader = new Reader(bytes);
  while (!reader.done()) {
    const { field, wireType } = reader.tag();
    const read = fields[field];
    if (read) {
      read(reader, wireType, into);
    } else {
      reader.skip(wireType);
    }
  }
  return into;
}

function expect(wireType, expected) {
  if (wireType !== expected) throw new Error(`protobuf: wire type ${wireType}, expected ${expected}`);
}

const str = (name) => (r, w, into) => {
  expect(w, LENGTH_DELIMITED);
  into[name] = r.string();
};
const num = (name) => (r, w, into) => {
  expect(w, VARINT);
  into[name] = r.varint();
};
const bool = (name) => (r, w, into) => {
  expect(w, VARINT);
  into[name] = r.varint() !== 0;
};
const msg = (name, decoder) => (r, w, into) => {
  expect(w, LENGTH_DELIMITED);
  into[name] = decoder(r.lengthDelimited());
};
const repeated = (name, decoder) => (r, w, into) => {
  expect(w, LENGTH_DELIMITED);
  into[name].push(decoder(r.lengthDelimited()));
};

// google.protobuf.Timestamp → Date.
function decodeTimestamp(bytes) {
  const t = decode(bytes, { 1: num("seconds"), 2: num("nanos") }, { seconds: 0, nanos: 0 });
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6));
}

// google.protobuf.Duration → milliseconds.
function decodeDuration(bytes) {
  const d = decode(bytes, { 1: num("seconds"), 2: num("nanos") }, { seconds: 0, nanos: 0 });
  return d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

// minhu.v1.SubmitRequest { Petition petition = 1; } with Petition { channel_message_id = 1;
// title = 3; body = 4; Petitioner petitioner = 5 { phone = 3; }; Location location = 6
// { address = 2; } }.
export function encodeSubmitRequest({ channelMessageId, title, body, phone, address }) {
  const petition = new Writer();
  petition.string(1, channelMessageId);
  petition.string(3, title);
  petition.string(4, body);
  if (phone) {
    const petitioner = new Writer();
    petitioner.string(3, phone);
    petition.message(5, petitioner);
  }
  if (address) {
    const location = new Writer();
    location.string(2, address);
    petition.message(6, location);
  }
  const request = new Writer();
  request.message(1, petition);
  return request.finish();
}

// minhu.v1.TrackRequest { tracking_number = 1; query_code = 2; }.
export function encodeTrackRequest({ trackingNumber, queryCode }) {
  const request = new Writer();
  request.string(1, trackingNumber);
  request.string(2, queryCode);
  return request.finish();
}

// minhu.v1.Receipt.
function decodeReceipt(bytes) {
  return decode(
    bytes,
    {
      1: str("trackingNumber"),
      2: str("queryCode"),
      3: msg("acceptedAt", decodeTimestamp),
      4: bool("replayed"),
    },
    { trackingNumber: "", queryCode: "", acceptedAt: null, replayed: false },
  );
}

// minhu.v1.SubmitResponse { Receipt receipt = 1; }.
export function decodeSubmitResponse(bytes) {
  return decode(bytes, { 1: msg("receipt", decodeReceipt) }, { receipt: null });
}

function decodeUnit(bytes) {
  return decode(bytes, { 1: str("id"), 2: str("name") }, { id: "", name: "" });
}

function decodeDeadline(bytes) {
  return decode(
    bytes,
    {
      1: str("milestone"),
      2: msg("dueAt", decodeTimestamp),
      3: str("basis"),
      5: bool("suspended"),
      6: str("limit"),
    },
    { milestone: "", dueAt: null, basis: "", suspended: false, limit: "" },
  );
}

function decodeHistoryEntry(bytes) {
  return decode(
    bytes,
    { 1: msg("at", decodeTimestamp), 2: num("status"), 3: str("note") },
    { at: null, status: 0, note: "" },
  );
}

// minhu.v1.TrackResponse: the fields the portal shows.
export function decodeTrackResponse(bytes) {
  return decode(
    bytes,
    {
      1: str("trackingNumber"),
      2: num("status"),
      3: msg("acceptedAt", decodeTimestamp),
      4: str("category"),
      5: msg("unit", decodeUnit),
      6: repeated("deadlines", decodeDeadline),
      7: repeated("history", decodeHistoryEntry),
      8: str("duplicateOf"),
      9: num("originalStatus"),
      10: str("reply"),
      11: str("guidance"),
    },
    {
      trackingNumber: "",
      status: 0,
      acceptedAt: null,
      category: "",
      unit: null,
      deadlines: [],
      history: [],
      duplicateOf: "",
      originalStatus: 0,
      reply: "",
      guidance: "",
    },
  );
}

const BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest";
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

function decodeFieldViolation(bytes) {
  return decode(bytes, { 1: str("field"), 2: str("description") }, { field: "", description: "" });
}

function decodeAny(bytes) {
  return decode(bytes, { 1: str("typeUrl"), 2: msg("value", (b) => b) }, { typeUrl: "", value: new Uint8Array() });
}

// google.rpc.Status { code = 1; message = 2; repeated Any details = 3; }, with the details the
// gateway sends decoded: BadRequest's field violations and RetryInfo's delay.
export function decodeStatus(bytes) {
  const status = decode(
    bytes,
    { 1: num("code"), 2: str("message"), 3: repeated("details", decodeAny) },
    { code: 0, message: "", details: [] },
  );
  const result = { code: status.code, message: status.message, violations: [], retryAfterMs: null };
  for (const detail of status.details) {
    if (detail.typeUrl === BAD_REQUEST) {
      decode(detail.value, { 1: repeated("violations", decodeFieldViolation) }, result);
    } else if (detail.typeUrl === RETRY_INFO) {
      decode(detail.value, { 1: msg("retryAfterMs", decodeDuration) }, result);
    }
  }
  return result;
}

// gRPC-Web unary calls with fetch (application/grpc-web+proto): a request is one frame
// (flag byte, 4-byte big-endian length, the message); a response is message frames followed
// by a trailers frame (flag 0x80) holding grpc-status and grpc-message as HTTP header lines.
// A call that fails before any message may carry its status in the response headers instead
// (trailers-only).

import { decodeStatus } from "./protobuf.js";

const CONTENT_TYPE = "application/grpc-web+proto";
const TRAILERS = 0x80;
const COMPRESSED = 0x01;

// google.rpc.Code names, for messages a person reads.
export const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

// A failed call: the gRPC status code, its message, and the decoded details.
export class GrpcError extends Error {
  constructor(code, message, details = {}) {
    super(`${CODE_NAMES[code] ?? code}: ${message}`);
    this.name = "GrpcError";
    this.code = code;
    this.grpcMessage = message;
    this.violations = details.violations ?? [];
    this.retryAfterMs = details.retryAfterMs ?? null;
  }
}

// The gRPC code for an HTTP failure without a gRPC status (as gRPC's HTTP mapping says).
function codeForHttpStatus(status) {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

function frame(message) {
  const bytes = new Uint8Array(5 + message.length);
  new DataView(bytes.buffer).setUint32(1, message.length);
  bytes.set(message, 5);
  return bytes;
}

function parseTrailers(bytes) {
  const trailers = new Map();
  for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return trailers;
}

function base64Bytes(text) {
  const padded = text + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// grpc-message is percent-encoded.
function percentDecoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function statusError(fields) {
  const code = Number(fields.get("grpc-status"));
  const message = percentDecoded(fields.get("grpc-message") ?? "");
  const detailsBin = fields.get("grpc-status-details-bin");
  let details = {};
  if (detailsBin) {
    try {
      details = decodeStatus(base64Bytes(detailsBin));
    } catch {
      // Undecodable details: the code and message still say what happened.
    }
  }
  return new GrpcError(code, message, details);
}

// Calls `method` ("/minhu.v1.IntakeService/Submit") on `base` with the encoded request and
// resolves to the response message's bytes, or rejects with a GrpcError.
export async function unary(base, method, request, { token, timeoutMs = 15000 } = {}) {
  const headers = {
    "content-type": CONTENT_TYPE,
    accept: CONTENT_TYPE,
    "x-grpc-web": "1",
    "x-user-agent": "minhu-portal/1",
    "grpc-timeout": `${Math.ceil(timeoutMs / 1000)}S`,
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs + 2000);
  let response;
  let body;
  try {
    response = await fetch(new URL(method, base), {
      method: "POST",
      headers,
      body: frame(request),
      signal: abort.signal,
    });
    body = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new GrpcError(14, `network: ${e.message}`);
  } finally {
    clearTimeout(timer);
  }

  const headerFields = new Map();
  for (const name of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
    const value = response.headers.get(name);
    if (value !== null) headerFields.set(name, value);
  }
  if (!response.ok) {
    if (headerFields.has("grpc-status")) throw statusError(headerFields);
    throw new GrpcError(codeForHttpStatus(response.status), `HTTP ${response.status}`);
  }

  const messages = [];
  let trailers = null;
  let pos = 0;
  while (pos < body.length) {
    if (body.length - pos < 5) throw new GrpcError(13, "truncated gRPC-Web frame header");
    const flags = body[pos];
    const length = new DataView(body.buffer, body.byteOffset + pos + 1, 4).getUint32(0);
    const start = pos + 5;
    if (start + length > body.length) throw new GrpcError(13, "truncated gRPC-Web frame");
    const payload = body.subarray(start, start + length);
    pos = start + length;
    if (flags & COMPRESSED) throw new GrpcError(13, "compressed frame, none was asked for");
    if (flags & TRAILERS) {
      trailers = parseTrailers(payload);
    } else {
      messages.push(payload);
    }
  }

  const status = trailers?.has("grpc-status") ? trailers : headerFields;
  if (!status.has("grpc-status")) throw new GrpcError(2, "the response carried no grpc-status");
  if (Number(status.get("grpc-status")) !== 0) throw statusError(status);
  if (messages.length !== 1) throw new GrpcError(13, `expected one response message, got ${messages.length}`);
  return messages[0];
}

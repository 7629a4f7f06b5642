import { ErrorCode, TickgateError } from '../core/errors.ts';
import { topicError } from '../core/topic.ts';
import { CLIENT_OPS, type ClientRequest, type RequestId, type ResumePosition } from './frames.ts';

import { MAX_ID_LENGTH, MAX_RATE, MAX_RESUME_POSITIONS, MAX_TOKEN_LENGTH, MAX_TOPICS_PER_REQUEST } from '@tickgate/client/protocol';

export { MAX_ID_LENGTH, MAX_RESUME_POSITIONS, MAX_TOPICS_PER_REQUEST };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function readId(v: unknown): RequestId | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH) return v;
  return null;
}

/** The id of a request that failed validation, if it had a usable one, so the error frame can echo it. */
export function salvageId(decoded: unknown): RequestId | null {
  return isPlainObject(decoded) ? readId(decoded.id) : null;
}

function readTopics(op: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new TickgateError(ErrorCode.INVALID_REQUEST, `${op}: "topics" must be a non-empty array of topic strings`);
  }
  if (v.length > MAX_TOPICS_PER_REQUEST) {
    throw new TickgateError(ErrorCode.INVALID_REQUEST, `${op}: at most ${MAX_TOPICS_PER_REQUEST} topics per request (got ${v.length})`);
  }
  const topics: string[] = [];
  for (const t of v) {
    const err = topicError(t, true);
    if (err !== null) throw new TickgateError(ErrorCode.INVALID_TOPIC, `${op}: ${err}`);
    topics.push(t as string);
  }
  return topics;
}

/**
 * Validates a decoded client message into a request. Throws TickgateError with the code the
 * client will see. A request is all-or-nothing: one bad topic rejects the whole request.
 */
export function parseRequest(decoded: unknown): ClientRequest {
  if (!isPlainObject(decoded)) {
    throw new TickgateError(ErrorCode.INVALID_REQUEST, 'a request must be a map/object with "op" and "id"');
  }
  const id = readId(decoded.id);
  if (id === null) {
    throw new TickgateError(ErrorCode.MISSING_ID, `"id" must be an integer or a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  const op = decoded.op;
  switch (op) {
    case 'subscribe':
      return {
        op,
        id,
        topics: readTopics(op, decoded.topics),
        maxRate: readMaxRate(decoded.maxRate),
        resume: readResume(decoded.resume),
        snapshot: readSnapshotFlag(decoded.snapshot),
      };
    case 'unsubscribe':
      return { op, id, topics: readTopics(op, decoded.topics) };
    case 'ping':
      return { op, id };
    case 'refresh': {
      const token = decoded.token;
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw new TickgateError(ErrorCode.INVALID_REQUEST, 'refresh: "token" must be a JWT string');
      }
      return { op, id, token };
    }
    default: {
      const shown = typeof op === 'string' ? `"${op.slice(0, 32)}"` : typeof op;
      throw new TickgateError(ErrorCode.UNKNOWN_OP, `unknown op ${shown}; expected one of ${CLIENT_OPS.join(', ')}`);
    }
  }
}

function readMaxRate(v: unknown): number {
  if (v === undefined || v === null || v === 0) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_RATE) {
    throw new TickgateError(
      ErrorCode.INVALID_REQUEST,
      `subscribe: "maxRate" must be a number of updates per second from 0 (every tick) to ${MAX_RATE}`,
    );
  }
  return v;
}

function readSnapshotFlag(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v !== 'boolean') throw new TickgateError(ErrorCode.INVALID_REQUEST, 'subscribe: "snapshot" must be true or false');
  return v;
}

/** A subscribe without resume positions (most of them) shares this one; nothing writes to it. */
const NO_RESUME: ReadonlyMap<string, ResumePosition> = new Map();

function readResume(v: unknown): ReadonlyMap<string, ResumePosition> {
  if (v === undefined || v === null) return NO_RESUME;
  const out = new Map<string, ResumePosition>();
  if (!isPlainObject(v)) {
    throw new TickgateError(ErrorCode.INVALID_REQUEST, 'subscribe: "resume" must map topics to {"epoch": <int>, "seq": <int>}');
  }
  const entries = Object.entries(v);
  if (entries.length > MAX_RESUME_POSITIONS) {
    throw new TickgateError(ErrorCode.INVALID_REQUEST, `subscribe: at most ${MAX_RESUME_POSITIONS} resume positions per request`);
  }
  for (const [topic, pos] of entries) {
    const err = topicError(topic);
    if (err !== null) throw new TickgateError(ErrorCode.INVALID_TOPIC, `subscribe: resume: ${err}`);
    if (!isPlainObject(pos) || !Number.isSafeInteger(pos.epoch) || !Number.isSafeInteger(pos.seq) || (pos.seq as number) < 0) {
      throw new TickgateError(ErrorCode.INVALID_REQUEST, `subscribe: resume["${topic}"] must be {"epoch": <int>, "seq": <int >= 0>}`);
    }
    out.set(topic, { epoch: pos.epoch as number, seq: pos.seq as number });
  }
  return out;
}

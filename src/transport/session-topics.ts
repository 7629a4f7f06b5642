/**
 * What one session holds per concrete topic, in one table: the rate it asked for by exact name
 * (absent when only a pattern covers it, or the topic is not delivered) and the rate the socket
 * is subscribed at (absent for a pending topic, or one the identity may not see). Rates are
 * updates per second, 0 meaning every tick; the config bounds them to 0–100.
 *
 * Why this shape: a dashboard connection watching one topic used to hold two Maps (about 370
 * bytes) for it. Both rates pack into one small integer. The commonest holding of all — one
 * topic, asked by exact name, every tick — is the topic string alone (no bytes of its own);
 * otherwise up to FLAT_MAX topics live in a flat `[topic, packed, …]` array sized exactly (64
 * bytes for one topic), and beyond that a Map (one entry per topic instead of two). Topic keys are the bus's own strings where the topic
 * exists (see SubscriptionManager), so 10,000 subscribers of one topic share one string.
 * Cold path only: requests, topic appearance, slow-consumer steps, close.
 */
export type TopicSlots = string | (string | number)[] | TopicMap | null;

/** What these functions need of a Session (session.ts), so this file does not import it. */
export interface TopicHolder {
  topics: TopicSlots;
}

/** The large form: topic → packed rates, with the count of delivered topics kept up to date. */
export class TopicMap extends Map<string, number> {
  delivered = 0;
}

/** Most topics kept in the flat form. */
export const FLAT_MAX = 8;
const NONE = -1;
const SHIFT = 128; // rates are 0–100 (config schema); +1 for "absent"

const pack = (requested: number, delivered: number): number => (requested + 1) * SHIFT + (delivered + 1);
const requestedOf = (packed: number): number => Math.floor(packed / SHIFT) - 1;
const deliveredOf = (packed: number): number => (packed % SHIFT) - 1;
const orUndefined = (rate: number): number | undefined => (rate === NONE ? undefined : rate);
/** Asked by exact name at every tick, delivered at every tick: what a lone topic string stands for. */
const EVERY_TICK = pack(0, 0);

function packedOf(slots: TopicSlots, topic: string): number {
  if (slots === null) return 0;
  if (typeof slots === 'string') return slots === topic ? EVERY_TICK : 0;
  if (slots instanceof TopicMap) return slots.get(topic) ?? 0;
  for (let i = 0; i < slots.length; i += 2) if (slots[i] === topic) return slots[i + 1] as number;
  return 0;
}

/** The rate the socket is subscribed at for `topic`, or undefined. */
export function deliveredRate(session: TopicHolder, topic: string): number | undefined {
  return orUndefined(deliveredOf(packedOf(session.topics, topic)));
}

/** The rate asked for `topic` by exact name, or undefined. */
export function exactRate(session: TopicHolder, topic: string): number | undefined {
  return orUndefined(requestedOf(packedOf(session.topics, topic)));
}

export function setDelivered(session: TopicHolder, topic: string, rate: number | undefined): void {
  const packed = packedOf(session.topics, topic);
  write(session, topic, packed, pack(requestedOf(packed), rate ?? NONE));
}

export function setExact(session: TopicHolder, topic: string, rate: number | undefined): void {
  const packed = packedOf(session.topics, topic);
  write(session, topic, packed, pack(rate ?? NONE, deliveredOf(packed)));
}

/** Number of topics the socket is subscribed to. */
export function deliveredCount(session: TopicHolder): number {
  const slots = session.topics;
  if (slots === null) return 0;
  if (typeof slots === 'string') return 1;
  if (slots instanceof TopicMap) return slots.delivered;
  let n = 0;
  for (let i = 1; i < slots.length; i += 2) if (deliveredOf(slots[i] as number) !== NONE) n++;
  return n;
}

/** The delivered topics with their rates, as a fresh array (callers may change the table meanwhile). */
export function deliveredTopics(session: TopicHolder): [topic: string, rate: number][] {
  const out: [string, number][] = [];
  forEach(session.topics, (topic, packed) => {
    const rate = deliveredOf(packed);
    if (rate !== NONE) out.push([topic, rate]);
  });
  return out;
}

/** The topics asked for by exact name, as a fresh array. */
export function exactTopics(session: TopicHolder): string[] {
  const out: string[] = [];
  forEach(session.topics, (topic, packed) => {
    if (requestedOf(packed) !== NONE) out.push(topic);
  });
  return out;
}

/** Forgets every delivered rate (the socket's subscriptions were dropped), keeping what was asked. */
export function clearDelivered(session: TopicHolder): void {
  for (const [topic] of deliveredTopics(session)) setDelivered(session, topic, undefined);
}

function forEach(slots: TopicSlots, fn: (topic: string, packed: number) => void): void {
  if (slots === null) return;
  if (typeof slots === 'string') return fn(slots, EVERY_TICK);
  if (slots instanceof TopicMap) {
    for (const [topic, packed] of slots) fn(topic, packed);
    return;
  }
  for (let i = 0; i < slots.length; i += 2) fn(slots[i] as string, slots[i + 1] as number);
}

function write(session: TopicHolder, topic: string, before: number, after: number): void {
  if (before === after) return;
  update(session, topic, before, after);
  // One topic at every tick: the string alone.
  const slots = session.topics;
  if (Array.isArray(slots) && slots.length === 2 && slots[1] === EVERY_TICK) session.topics = slots[0] as string;
}

function update(session: TopicHolder, topic: string, before: number, after: number): void {
  if (typeof session.topics === 'string') session.topics = [session.topics, EVERY_TICK];
  const slots = session.topics;
  const gained = (deliveredOf(after) !== NONE ? 1 : 0) - (deliveredOf(before) !== NONE ? 1 : 0);
  const empty = after === pack(NONE, NONE);
  if (slots instanceof TopicMap) {
    if (empty) slots.delete(topic);
    else slots.set(topic, after);
    slots.delivered += gained;
    if (slots.size === 0) session.topics = null;
    return;
  }
  const flat = slots ?? [];
  let at = -1;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === topic) at = i;
  if (at >= 0 && !empty) {
    flat[at + 1] = after;
    return;
  }
  if (at >= 0) {
    // Removed: a new array of exactly the remaining size (arrays never shrink their capacity).
    if (flat.length === 2) {
      session.topics = null;
      return;
    }
    const shrunk: (string | number)[] = new Array<string | number>(flat.length - 2);
    for (let i = 0, j = 0; i < flat.length; i++) if (i !== at && i !== at + 1) shrunk[j++] = flat[i]!;
    session.topics = shrunk;
    return;
  }
  if (empty) return;
  if (flat.length / 2 < FLAT_MAX) {
    const grown: (string | number)[] = new Array<string | number>(flat.length + 2);
    for (let i = 0; i < flat.length; i++) grown[i] = flat[i]!;
    grown[flat.length] = topic;
    grown[flat.length + 1] = after;
    session.topics = grown;
    return;
  }
  const map = new TopicMap();
  for (let i = 0; i < flat.length; i += 2) {
    map.set(flat[i] as string, flat[i + 1] as number);
    if (deliveredOf(flat[i + 1] as number) !== NONE) map.delivered++;
  }
  map.set(topic, after);
  map.delivered += gained;
  session.topics = map;
}

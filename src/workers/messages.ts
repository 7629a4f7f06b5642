import type { ApiKeyConfig } from '../config/security-schema.ts';
import type { Config } from '../config/schema.ts';
import type { WireEntry } from '../core/tick.ts';
import type { ResumePosition } from '../protocol/frames.ts';
import type { NatsState } from '../transport/health.ts';

/** A topic's state as the main thread holds it after fetching it from the JetStream stream. */
export interface PrimedTopic {
  topic: string;
  feedId: string;
  epoch: number;
  ticks: WireEntry[];
}

/** What a worker thread gets at start. Plain data (structured clone). */
export interface WorkerInit {
  entry: string;
  workerId: number;
  port: number;
  config: Config;
  epoch: number;
  version: string;
}

/**
 * Frames of one bus flush, packed back to back as [u32 length LE][frame bytes]… in one
 * SharedArrayBuffer. The same buffer is posted to every worker: one copy for all of them.
 */
export interface FramesMessage {
  type: 'frames';
  buffer: SharedArrayBuffer;
  length: number;
}

export type MainToWorker =
  | FramesMessage
  | { type: 'epoch'; epoch: number }
  | { type: 'warmed'; id: number; topics: PrimedTopic[] }
  | { type: 'feed'; feedId: string; up: boolean; states: Record<string, string> }
  | { type: 'nats'; state: NatsState }
  | { type: 'apiKeys'; keys: ApiKeyConfig[] }
  | { type: 'collect'; id: number }
  | { type: 'metrics'; id: number; text: string }
  | { type: 'disconnect'; code: number; reason: string }
  | { type: 'shutdown' };

export type WorkerToMain =
  | { type: 'ready' }
  | { type: 'interest'; entry: string; interested: boolean }
  | { type: 'warm'; id: number; topics: string[]; resume: [string, ResumePosition][]; snapshot: boolean }
  | { type: 'collected'; id: number; metrics: unknown[] }
  | { type: 'metrics?'; id: number }
  | { type: 'closed' };

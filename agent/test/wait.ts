/** Waiting helpers shared by the integration tests. */
import type { EventEmitter } from 'node:events';

/** Resolves with the first `event` whose argument passes `pred`; rejects after `timeoutMs`. */
export function waitEvent<T = unknown>(emitter: EventEmitter, event: string, pred: (v: T) => boolean = () => true, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    const on = (v: T): void => {
      if (!pred(v)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(v);
    };
    emitter.on(event, on);
  });
}

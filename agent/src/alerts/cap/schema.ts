/**
 * XML Schema validation with libxml2 (xmllint-wasm), kept warm.
 *
 * xmllint-wasm's own validateXML() starts a worker thread and compiles the
 * 760 KB wasm on every call (~60 ms on an idle machine here, close to a
 * second under load),
 * which would sit between a CAP command and the loudspeaker. Here one worker
 * compiles the module once and instantiates it per document (xmllint is a
 * command-line program: one run per instance). The worker is referenced only
 * while a document is being checked, so it never keeps an idle process
 * alive; a run past its deadline terminates the worker and the next call
 * starts a fresh one.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface SchemaCheck {
  valid: boolean;
  /** libxml2's lines as printed: "alert.xml:12: Schemas validity error : ...". */
  errors: string[];
}

const require = createRequire(import.meta.url);
const XMLLINT_JS = require.resolve('xmllint-wasm/xmllint-node.js');
const XMLLINT_WASM = join(dirname(XMLLINT_JS), 'xmllint.wasm');

/** Runs in the worker (CommonJS, eval'd): compile once, one instance per request. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Module = require(workerData.js);
const compiled = new WebAssembly.Module(fs.readFileSync(workerData.wasm));
parentPort.on('message', (req) => {
  if (!req || req.loaRequest !== true) return;
  let stderr = '';
  let done = false;
  const reply = (exitCode, extra) => {
    if (done) return;
    done = true;
    parentPort.postMessage({ loaReply: true, id: req.id, exitCode, stderr: stderr + (extra || '') });
  };
  try {
    Module({
      inputFiles: [{ fileName: 'alert.xml', contents: req.xml }, { fileName: 'schema.xsd', contents: req.xsd }],
      arguments: ['--schema', 'schema.xsd', '--noout', 'alert.xml'],
      print() {},
      printErr(text) { stderr += text + '\\n'; },
      onExit: (code) => reply(code),
      onAbort: (reason) => reply(-1, 'WASM abort: ' + reason),
      wasmMemory: new WebAssembly.Memory({ initial: 256, maximum: req.maxPages }),
      instantiateWasm(imports, ok) { ok(new WebAssembly.Instance(compiled, imports), compiled); return {}; },
    }).catch((err) => reply(-1, String(err && err.message || err)));
  } catch (err) {
    reply(-1, String(err && err.message || err));
  }
});
`;

interface Pending {
  resolve: (check: SchemaCheck) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class SchemaValidator {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly xsd: () => string, private readonly timeoutMs = 10_000) {}

  /** Validates one document; rejects only when the validator itself failed (crash, abort, deadline). */
  validate(xml: string, maxMemoryPages: number): Promise<SchemaCheck> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<SchemaCheck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`schema validation took over ${this.timeoutMs} ms`));
        this.reset();
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      // Held only while a document is being checked: an idle validator never keeps the process alive.
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ loaRequest: true, id, xml, xsd: this.xsd(), maxPages: maxMemoryPages });
    });
  }

  /** Stops the worker (tests, shutdown); the next validate() starts another. */
  async close(): Promise<void> {
    const w = this.worker;
    this.reset();
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { js: XMLLINT_JS, wasm: XMLLINT_WASM } });
    worker.on('message', (msg: { loaReply?: boolean; id: number; exitCode: number; stderr: string }) => {
      if (msg?.loaReply !== true) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (this.pending.size === 0) worker.unref();
      // xmllint: 0 valid, 3/4 invalid or not well-formed, anything else the tool failed.
      if (msg.exitCode === 0) p.resolve({ valid: true, errors: [] });
      else if (msg.exitCode === 3 || msg.exitCode === 4 || msg.exitCode === 1) {
        p.resolve({ valid: false, errors: msg.stderr.split('\n').filter((l) => l && !l.endsWith(' fails to validate') && !l.endsWith(' validates')) });
      } else p.reject(new Error(msg.stderr.trim().split('\n')[0] || `xmllint exit ${msg.exitCode}`));
    });
    const failAll = (err: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(err);
      }
    };
    worker.on('error', (err) => failAll(err));
    worker.on('exit', (code) => failAll(new Error(`schema validator stopped (exit ${code})`)));
    // After the listeners: adding a 'message' listener re-refs the port.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private reset(): void {
    const w = this.worker;
    this.worker = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new Error('schema validator restarted'));
    }
    if (w) void w.terminate();
  }
}

/**
 * XML Schema validation with libxml2 (xmllint-wasm), kept warm.
 *
 * xmllint-wasm's own validateXML() starts a worker thread and compiles the
 * 760 KB wasm on every call (~60 ms on an idle machine here, close to a
 * second under load), which would sit between a CAP command and the
 * loudspeaker. Here one worker compiles the module once and instantiates it
 * per document (xmllint is a command-line program: one run per instance).
 * Documents are checked one at a time, each with its own deadline from when
 * it reaches the worker; a run past it is refused, the worker replaced, and
 * the documents behind it go on in the new one. The worker is referenced
 * only while a document is being checked, so it never keeps an idle process
 * alive.
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

interface Request {
  id: number;
  xml: string;
  maxPages: number;
  resolve: (check: SchemaCheck) => void;
  reject: (err: Error) => void;
}

export class SchemaValidator {
  private worker: Worker | undefined;
  /** Documents wait here; one at a time is in the worker, and only its deadline runs. */
  private readonly queue: Request[] = [];
  private current: { request: Request; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;

  constructor(private readonly xsd: () => string, private readonly timeoutMs = 10_000) {}

  /** Validates one document; rejects only when the validator itself failed (crash, abort, deadline). */
  validate(xml: string, maxMemoryPages: number): Promise<SchemaCheck> {
    return new Promise<SchemaCheck>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, xml, maxPages: maxMemoryPages, resolve, reject });
      this.pump();
    });
  }

  /** Stops the worker and refuses what waits (tests, shutdown); the next validate() starts another. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.finishCurrent()?.reject(new Error('schema validator closed'));
    for (const r of this.queue.splice(0)) r.reject(new Error('schema validator closed'));
    if (w) await w.terminate();
  }

  private pump(): void {
    if (this.current) return;
    const request = this.queue.shift();
    const worker = request ? this.ensureWorker() : this.worker;
    if (!request || !worker) {
      // Idle: an idle validator never keeps the process alive.
      this.worker?.unref();
      return;
    }
    const timer = setTimeout(() => {
      // A run past its deadline: that document is refused, the worker replaced, the rest go on.
      this.finishCurrent()?.reject(new Error(`schema validation took over ${this.timeoutMs} ms`));
      this.replaceWorker();
    }, this.timeoutMs);
    timer.unref();
    this.current = { request, timer };
    worker.ref();
    worker.postMessage({ loaRequest: true, id: request.id, xml: request.xml, xsd: this.xsd(), maxPages: request.maxPages });
  }

  private finishCurrent(): Request | undefined {
    const c = this.current;
    if (!c) return undefined;
    clearTimeout(c.timer);
    this.current = undefined;
    return c.request;
  }

  private replaceWorker(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) void w.terminate();
    this.pump();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { js: XMLLINT_JS, wasm: XMLLINT_WASM } });
    worker.on('message', (msg: { loaReply?: boolean; id: number; exitCode: number; stderr: string }) => {
      if (msg?.loaReply !== true || this.worker !== worker || this.current?.request.id !== msg.id) return;
      const request = this.finishCurrent()!;
      // xmllint: 0 valid, 1/3/4 not well-formed or invalid, anything else the tool failed.
      if (msg.exitCode === 0) request.resolve({ valid: true, errors: [] });
      else if (msg.exitCode === 3 || msg.exitCode === 4 || msg.exitCode === 1) {
        request.resolve({ valid: false, errors: msg.stderr.split('\n').filter((l) => l && !l.endsWith(' fails to validate') && !l.endsWith(' validates')) });
      } else request.reject(new Error(msg.stderr.trim().split('\n')[0] || `xmllint exit ${msg.exitCode}`));
      this.pump();
    });
    const crashed = (err: Error): void => {
      if (this.worker !== worker) return;
      this.finishCurrent()?.reject(err);
      this.replaceWorker();
    };
    worker.on('error', (err) => crashed(err));
    worker.on('exit', (code) => crashed(new Error(`schema validator stopped (exit ${code})`)));
    // After the listeners: adding a 'message' listener re-refs the port.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

// Wasm start-up cost of the Worker bundle for `make bench` (scripts/bench.sh), in Node.js.
//   node bench/cold-start.mjs BUILD_DIR [SAMPLES]
// prints one line per V8 compilation mode (below), the medians over SAMPLES (default 5) fresh
// processes:   COLD mode=lazy samples=5 compile_ms=.. instantiate_ms=.. total_ms=..
// compile: WebAssembly.compile of BUILD_DIR/index_bg.wasm. instantiate: evaluating the bundle's
// own JS glue (BUILD_DIR/index.js) on that module, which creates the instance with the glue's
// import object and runs `__wbindgen_start`, as workerd does when it loads the Worker. Each
// sample is its own process because V8 caches compiled wasm by its bytes within a process, so a
// second compile there would measure the cache. Node's V8 is not workerd's, and a deployed
// Worker may compile ahead of time; this is the size of the work, not Cloudflare's figure.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [dir, samplesArg, once] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node bench/cold-start.mjs BUILD_DIR [SAMPLES]");
  process.exit(2);
}

if (once === "--once") {
  // One sample in this fresh process.
  const bytes = readFileSync(join(dir, "index_bg.wasm"));
  let glue = readFileSync(join(dir, "index.js"), "utf8");
  // The glue imports the runtime's `cloudflare:workers` and the wasm as a compiled module (as
  // workerd provides it); hand both in through globals instead.
  let replaced = 0;
  glue = glue.replace(/import\s*\{([^}]*)\}\s*from\s*"cloudflare:workers";?/, (_, names) => {
    replaced++;
    return `const {${names.replace(/\bas\b/g, ":")}} = globalThis.__benchWorkers;`;
  });
  glue = glue.replace(/import\s+([A-Za-z_$][\w$]*)\s+from\s*"\.\/index_bg\.wasm";?/, (_, name) => {
    replaced++;
    return `const ${name} = globalThis.__benchWasm;`;
  });
  if (replaced !== 2 || /\bimport\s*[{\w]/.test(glue.replace(/import\(/g, ""))) {
    console.error("cold-start: the glue's imports are not the two this script knows; update it");
    process.exit(1);
  }
  globalThis.__benchWorkers = { WorkerEntrypoint: class {} };
  // workerd's global scope has addEventListener (the glue listens for errors); Node's has not.
  globalThis.addEventListener ??= () => {};
  const tmp = mkdtempSync(join(tmpdir(), "clientela-cold-"));
  const file = join(tmp, "glue.mjs");
  writeFileSync(file, glue);
  try {
    const t0 = performance.now();
    globalThis.__benchWasm = await WebAssembly.compile(bytes);
    const t1 = performance.now();
    const mod = await import(pathToFileURL(file).href);
    const t2 = performance.now();
    if (typeof mod.default !== "function") throw new Error("the glue exported no Worker class");
    console.log(JSON.stringify({ compile_ms: t1 - t0, instantiate_ms: t2 - t1 }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
}

const samples = Number(samplesArg ?? 5);
if (!Number.isInteger(samples) || samples < 1) {
  console.error(`cold-start: SAMPLES must be a positive integer, got ${samplesArg}`);
  process.exit(2);
}
const self = fileURLToPath(import.meta.url);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// V8's default compiles a wasm function on its first call (lazy); `eager` compiles every
// function up front with the baseline compiler (Liftoff), `optimized` with the optimizing one
// (TurboFan): the range between what a first request may pay and what the whole bundle costs.
const modes = [
  ["lazy", []],
  ["eager", ["--no-wasm-lazy-compilation"]],
  ["optimized", ["--no-wasm-lazy-compilation", "--no-liftoff"]],
];
for (const [mode, flags] of modes) {
  const runs = [];
  for (let i = 0; i < samples; i++) {
    const r = spawnSync(process.execPath, [...flags, self, resolve(dir), "1", "--once"], {
      encoding: "utf8",
    });
    if (r.status !== 0) {
      console.error(r.stderr || r.stdout);
      process.exit(1);
    }
    runs.push(JSON.parse(r.stdout.trim().split("\n").pop()));
  }
  const compile = median(runs.map((r) => r.compile_ms));
  const inst = median(runs.map((r) => r.instantiate_ms));
  const total = median(runs.map((r) => r.compile_ms + r.instantiate_ms));
  console.log(
    `COLD mode=${mode} samples=${samples} compile_ms=${compile.toFixed(1)} instantiate_ms=${inst.toFixed(1)} total_ms=${total.toFixed(1)}`,
  );
}

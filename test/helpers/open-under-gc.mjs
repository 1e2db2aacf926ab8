// Opens an engine on a bundle store while the garbage collector runs every
// few milliseconds (node --expose-gc), then keeps it open for a while so its
// polls can be watched from the server side. Runs the built library (dist/).
// usage: node --expose-gc open-under-gc.mjs <store url> <env> <cacheDir> <timeoutMs> <pollMs> <stayMs>
import { Limitr } from "../../src/engine/dist/index.js";
// The engine loads the bundle validator at the first bundle-store open; load it
// before the collections start, so the timings below are the fetches' and the
// polls', not those of compiling modules under a full collection every 2 ms.
import "../../src/engine/dist/core/bundles/validate-compiled.js";

const [store, env, cacheDir, timeoutMs, pollMs, stayMs] = process.argv.slice(2);
if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");
const collect = setInterval(() => globalThis.gc(), 2);
const started = performance.now();
const limitr = await Limitr.open({
  policy: { store, env, cacheDir, timeoutMs: Number(timeoutMs), pollMs: Number(pollMs) },
  store: "memory",
  alerts: false,
});
const openMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ openMs, status: limitr.status() })}\n`);
await new Promise((r) => setTimeout(r, Number(stayMs)));
process.stdout.write(`${JSON.stringify({ status: limitr.status() })}\n`);
clearInterval(collect);
await limitr.close();

// An engine in its own OS process, driven line by line over stdin, answering
// one JSON line per command on stdout. Runs the built library (dist/).
// usage: node engine-process.mjs <sqlite path> <storeLeaseMs>
import { createInterface } from "node:readline";
import { compilePolicy } from "../../src/engine/dist/core/compile.js";
import { Limitr } from "../../src/engine/dist/index.js";

const [dbPath, leaseMs] = process.argv.slice(2);
const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 1000, mode: "hard" } } } },
});
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

let limitr;
try {
  limitr = await Limitr.open({
    policy,
    store: `sqlite:${dbPath}`,
    storeLeaseMs: Number(leaseMs),
    alerts: false,
  });
  say({ opened: true, pid: process.pid });
} catch (err) {
  say({ opened: false, error: `${err.name}: ${err.message}` });
  process.exit(0);
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(" ");
  if (cmd === "allow") {
    const reasons = {};
    let allowed = 0;
    for (let i = 0; i < Number(arg); i++) {
      const d = limitr.decide("c1", "api", 1);
      if (d.allowed) allowed++;
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    }
    say({ allowed, reasons });
  } else if (cmd === "flush") {
    await limitr.flush();
    say({ flushed: true });
  } else if (cmd === "status") {
    say(limitr.status());
  } else if (cmd === "close") {
    await limitr.close();
    say({ closed: true });
    process.exit(0);
  }
}

/**
 * The metered entitlements of the example policy (policies/plans.yaml). The
 * engine answers per entitlement, so the page asks about each and keeps those
 * the customer's plan includes.
 */
export const ENTITLEMENTS = [
  "chat_input",
  "chat_output",
  "api",
  "mcp_search",
  "mcp_tools",
  "gpu",
  "seats",
  "agent_payments",
];

/** Reasons of a metered entitlement the customer has (flags and entitlements outside the plan say otherwise). */
const METERED = new Set(["ok", "limit_exceeded", "rate_limited"]);

/** used / limit / remaining / resetsAt for each of the customer's metered entitlements; reads count nothing. */
export function usageReport(limitr, customer) {
  const entitlements = [];
  for (const entitlement of ENTITLEMENTS) {
    // A check of 0 units counts nothing and takes no rate tokens: it only says whether the plan has it.
    if (!METERED.has(limitr.check(customer, entitlement, 0).reason)) continue;
    const u = limitr.usage(customer, entitlement);
    entitlements.push({
      entitlement,
      used: u.used,
      held: u.held,
      limit: u.limit,
      remaining: u.remaining,
      resetsAt: u.resetsAt === null ? null : new Date(u.resetsAt).toISOString(),
    });
  }
  const status = limitr.status();
  return { customer, entitlements, policy: { version: status.activeVersion, digest: status.activeDigest } };
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const html = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const num = (n) => (n === null ? "unlimited" : n.toLocaleString("en-US"));

/** The same report as a page a customer could be shown. */
export function usageHtml(report) {
  const rows = report.entitlements
    .map(
      (e) =>
        `<tr><td>${html(e.entitlement)}</td><td>${num(e.used)}</td><td>${num(e.limit)}</td>` +
        `<td>${num(e.remaining)}</td><td>${e.resetsAt ?? "never"}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Usage: ${html(report.customer)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .8rem;text-align:right}td:first-child,th:first-child{text-align:left}</style>
</head>
<body>
<h1>Usage for ${html(report.customer)}</h1>
<table>
<tr><th>entitlement</th><th>used</th><th>limit</th><th>remaining</th><th>resets at</th></tr>
${rows}
</table>
<p>Policy version ${report.policy.version}, ${html(report.policy.digest)}</p>
</body>
</html>
`;
}

import type { DiffResponse } from "../types.js";

const show = (v: unknown) => (v === null || v === undefined ? "nothing" : JSON.stringify(v));
const VERB = { add: "Added", remove: "Removed", change: "Changed" } as const;

/** The semantic diff `limitr diff` computes, one change per line, breaking ones flagged. */
export function DiffList({ diff }: { diff: DiffResponse }) {
  const { summary } = diff;
  if (diff.changes.length === 0) return <p>No changes to the policy against {diff.base.ref}.</p>;
  return (
    <>
      <p>
        Against <code>{diff.base.ref}</code>: {summary.add} added, {summary.change} changed, {summary.remove}{" "}
        removed
        {summary.breaking > 0 && <strong class="breaking">, {summary.breaking} breaking</strong>}.
      </p>
      <ul class="diff">
        {diff.changes.map((c) => (
          <li key={c.path} class={c.breaking ? "breaking" : undefined}>
            {c.breaking && <span class="badge danger">Breaking</span>} {VERB[c.kind]} <code>{c.path}</code>:{" "}
            {show(c.before)} → {show(c.after)}
            {c.reason && <div class="muted">{c.reason}</div>}
          </li>
        ))}
      </ul>
    </>
  );
}

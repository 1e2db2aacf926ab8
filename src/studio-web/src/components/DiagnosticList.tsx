import type { Diagnostic } from "../types.js";

/** The validator's own messages, as `limitr validate` prints them (file:line, message, hint). */
export function DiagnosticList({ diagnostics }: { diagnostics: Diagnostic[] }) {
  if (diagnostics.length === 0) return null;
  return (
    <ul class="diagnostics">
      {diagnostics.map((d) => (
        <li key={`${d.file}:${d.line}:${d.column}:${d.code}`} class={d.severity}>
          <strong>{d.severity === "error" ? "Error" : "Warning"}:</strong> {d.message}{" "}
          <span class="muted">
            ({d.file}:{d.line}, {d.code})
          </span>
          {d.hint && <div class="muted">{d.hint}</div>}
        </li>
      ))}
    </ul>
  );
}

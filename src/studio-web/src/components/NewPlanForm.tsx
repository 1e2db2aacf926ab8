import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api } from "../api.js";
import type { CheckResponse, Overview } from "../types.js";
import { DiagnosticList } from "./DiagnosticList.js";

/** A new plan as a copy of an existing one: new id and name, validated as typed, written next to the original. */
export function NewPlanForm({
  overview,
  onClose,
  onCreated,
}: {
  overview: Overview;
  onClose: () => void;
  onCreated: (id: string) => void | Promise<void>;
}) {
  const [from, setFrom] = useState(overview.plans[0]?.id ?? "");
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [check, setCheck] = useState<CheckResponse | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const latest = useRef(0);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    setCheck(null);
    setProblem(null);
    if (id.trim() === "") return;
    const request = ++latest.current;
    const timer = setTimeout(() => {
      api.post<CheckResponse>("/api/plans/copy/check", { from, id, name }).then(
        (r) => request === latest.current && setCheck(r),
        (err: Error) => request === latest.current && setProblem(err.message),
      );
    }, 200);
    return () => clearTimeout(timer);
  }, [from, id, name]);

  const errors = check?.diagnostics.filter((d) => d.severity === "error") ?? [];
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const result = await api.post<CheckResponse>("/api/plans/copy", { from, id, name });
      if (result.valid) await onCreated(id.trim());
      else setCheck(result);
    } catch (err) {
      setProblem(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="editor" aria-labelledby="new-plan-heading">
      <h2 id="new-plan-heading" tabIndex={-1} ref={heading}>
        New plan from a copy
      </h2>
      <form onSubmit={create}>
        <div class="field">
          <label for="copy-from">Copy the terms of</label>
          <select id="copy-from" value={from} onChange={(e) => setFrom(e.currentTarget.value)}>
            {overview.plans.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.id})
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="copy-id">New plan id</label>
          <input
            id="copy-id"
            value={id}
            autoComplete="off"
            aria-describedby="copy-id-help"
            aria-invalid={problem ? "true" : undefined}
            onInput={(e) => setId(e.currentTarget.value)}
          />
          <small id="copy-id-help" class="muted">
            Lower-case letters, digits, "-" and "_"; customers and code refer to the plan by it.
          </small>
        </div>
        <div class="field">
          <label for="copy-name">Display name</label>
          <input
            id="copy-name"
            value={name}
            autoComplete="off"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <div aria-live="polite" class="check" data-testid="copy-check">
          {problem && <p class="error">{problem}</p>}
          {check && errors.length === 0 && (
            <p class="ok">
              Valid: {id.trim()} will be written to {check.file}, right after {from}.
            </p>
          )}
          <DiagnosticList diagnostics={check?.diagnostics ?? []} />
        </div>
        <div class="actions">
          <button type="submit" disabled={busy || !check || errors.length > 0 || problem !== null}>
            Create plan
          </button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

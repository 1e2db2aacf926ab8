import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.js";
import type { CheckResponse, FormField } from "../types.js";
import { DiagnosticList } from "./DiagnosticList.js";
import { FieldInput } from "./FieldInput.js";

const CHECK_DELAY_MS = 200;

/**
 * Change one entitlement's limit, mode and overage price. Every keystroke is
 * checked by the server's validator (the same one `limitr validate` runs)
 * against the whole policy with the change applied; nothing is written until
 * "Apply", which the validator must accept.
 */
export function EntitlementEditor({
  plan,
  entitlement,
  fields,
  onClose,
  onApplied,
}: {
  plan: string;
  entitlement: string;
  fields: FormField[];
  onClose: () => void;
  onApplied: () => void | Promise<void>;
}) {
  const [values, setValues] = useState<Record<string, string> | null>(null);
  const [check, setCheck] = useState<CheckResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const latest = useRef(0);
  const query = `plan=${encodeURIComponent(plan)}&entitlement=${encodeURIComponent(entitlement)}`;

  useEffect(() => {
    api.get<{ values: Record<string, string> }>(`/api/entitlement?${query}`).then(
      (r) => setValues(r.values),
      (err: Error) => setError(err.message),
    );
    heading.current?.focus();
  }, [query]);

  useEffect(() => {
    if (values === null) return;
    // Answers can arrive out of order; only the one for the latest values counts.
    const request = ++latest.current;
    const timer = setTimeout(() => {
      api.post<CheckResponse>("/api/check", { plan, entitlement, values }).then(
        (result) => request === latest.current && setCheck(result),
        (err: Error) => setError(err.message),
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [plan, entitlement, values]);

  const errors = check?.diagnostics.filter((d) => d.severity === "error") ?? [];
  const preview = check?.overview?.plans.find((p) => p.id === plan)?.entitlements[entitlement];
  const apply = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const result = await api.post<CheckResponse>("/api/apply", { plan, entitlement, values });
      if (result.valid) await onApplied();
      else setCheck(result);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="editor" aria-labelledby="editor-heading">
      <h2 id="editor-heading" tabIndex={-1} ref={heading}>
        Edit {entitlement} on the {plan} plan
      </h2>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {values && (
        <form onSubmit={apply}>
          {fields.map((f) => (
            <FieldInput
              key={f.key}
              field={f}
              id={`field-${f.key}`}
              value={values[f.key] ?? ""}
              invalid={errors.some((d) => d.path.endsWith(`.${entitlement}.${f.key}`))}
              onChange={(v) => setValues({ ...values, [f.key]: v })}
            />
          ))}
          <div aria-live="polite" class="check" data-testid="check">
            {check && errors.length === 0 && preview?.kind === "metered" && (
              <p class="ok">
                Valid. New terms: <strong>{preview.limit}</strong> per {preview.period}, {preview.mode};{" "}
                {preview.price}.
              </p>
            )}
            <DiagnosticList diagnostics={check?.diagnostics ?? []} />
          </div>
          <div class="actions">
            <button type="submit" disabled={busy || !check || errors.length > 0}>
              Apply change
            </button>
            <button type="button" class="secondary" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.js";
import type { CheckResponse, FormField, RowForm } from "../types.js";
import { DiagnosticList } from "./DiagnosticList.js";
import { FieldInput } from "./FieldInput.js";

const CHECK_DELAY_MS = 200;
const KEY = "__key";
type Row = Record<string, string>;
type Path = (string | number)[];

/**
 * A list of rows edited through a form drawn from the policy schema: a tier
 * table, a contract's overrides (a map keyed by entitlement), discounts,
 * credits, or one object (a wallet grant). Rows can be added and removed; every
 * change is validated by the server against the whole policy, as `limitr
 * validate` would, and written (comments kept) only when valid.
 */
export function RowsEditor({
  title,
  rowName,
  path,
  form,
  shape,
  keyField,
  onClose,
  onApplied,
}: {
  title: string;
  rowName: string;
  path: Path;
  form: RowForm;
  shape: "list" | "map" | "single";
  /** The key column of a map (the entitlement an override is for). */
  keyField?: FormField;
  onClose: () => void;
  onApplied: () => void | Promise<void>;
}) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [extras, setExtras] = useState<Record<string, unknown>[]>([]);
  const [check, setCheck] = useState<CheckResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const latest = useRef(0);
  const pathKey = JSON.stringify(path);
  const idBase = path.join("-").replace(/[^a-zA-Z0-9_-]/g, "_");
  const known = new Set(form.fields.map((f) => f.key));

  useEffect(() => {
    api.get<{ value: unknown }>(`/api/value?path=${encodeURIComponent(pathKey)}`).then(
      ({ value }) => {
        const items: [string | null, Record<string, unknown>][] =
          shape === "list"
            ? ((value as Record<string, unknown>[] | null) ?? []).map((v) => [null, v])
            : shape === "map"
              ? Object.entries((value as Record<string, Record<string, unknown>> | null) ?? {})
              : [[null, (value as Record<string, unknown> | null) ?? {}]];
        setRows(
          items.map(([key, item]) => {
            const row: Row = key === null ? {} : { [KEY]: key };
            for (const f of form.fields) row[f.key] = item?.[f.key] == null ? "" : String(item[f.key]);
            return row;
          }),
        );
        setExtras(
          items.map(([, item]) =>
            Object.fromEntries(Object.entries(item ?? {}).filter(([k]) => !known.has(k))),
          ),
        );
      },
      (err: Error) => setError(err.message),
    );
    heading.current?.focus();
  }, [pathKey]);

  const rowsValue = (all: Row[]): unknown => {
    const item = (row: Row, i: number) => {
      const out: Record<string, unknown> = { ...extras[i] };
      for (const f of form.fields) if (row[f.key] !== "") out[f.key] = row[f.key];
      return out;
    };
    if (shape === "list") return all.map(item);
    if (shape === "map") return Object.fromEntries(all.map((r, i) => [r[KEY] ?? "", item(r, i)]));
    const only = all[0] ? item(all[0], 0) : {};
    return Object.keys(only).length === 0 ? undefined : only;
  };

  useEffect(() => {
    if (rows === null) return;
    const request = ++latest.current;
    const timer = setTimeout(() => {
      api.post<CheckResponse>("/api/value/check", { path, value: rowsValue(rows) }).then(
        (result) => request === latest.current && setCheck(result),
        (err: Error) => setError(err.message),
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [rows]);

  const errors = check?.diagnostics.filter((d) => d.severity === "error") ?? [];
  const prefix = path.join(".");
  // The validator's paths read `...tiers[2].unit_price`, `...overrides.gpu.limit`, `...wallet.grant.amount`.
  const invalid = (i: number, row: Row, key: string) =>
    errors.some((d) => {
      const at = shape === "list" ? `${prefix}[${i}]` : shape === "map" ? `${prefix}.${row[KEY]}` : prefix;
      return (
        d.path === `${at}.${key}` || d.path.startsWith(`${at}.${key}.`) || d.path.startsWith(`${at}.${key}[`)
      );
    });
  const update = (i: number, key: string, value: string) =>
    setRows((rows ?? []).map((r, j) => (j === i ? { ...r, [key]: value } : r)));
  const add = () => {
    const blank: Row = Object.fromEntries(form.fields.map((f) => [f.key, ""]));
    if (shape === "map") blank[KEY] = "";
    setRows([...(rows ?? []), blank]);
    setExtras([...extras, {}]);
  };
  const remove = (i: number) => {
    setRows((rows ?? []).filter((_, j) => j !== i));
    setExtras(extras.filter((_, j) => j !== i));
  };
  const apply = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await api.post<CheckResponse>("/api/value/apply", {
        path,
        value: rowsValue(rows ?? []),
      });
      if (result.valid) await onApplied();
      else setCheck(result);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="editor" aria-labelledby={`${idBase}-heading`}>
      <h2 id={`${idBase}-heading`} tabIndex={-1} ref={heading}>
        {title}
      </h2>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {rows && (
        <form onSubmit={apply}>
          {rows.length === 0 && <p class="muted">None yet.</p>}
          {rows.map((row, i) => (
            <fieldset key={`${i}/${rows.length}`} class="row">
              <legend>{shape === "single" ? rowName : `${rowName} ${i + 1}`}</legend>
              <div class="row-fields">
                {keyField && (
                  <FieldInput
                    field={keyField}
                    id={`${idBase}-${i}-key`}
                    value={row[KEY] ?? ""}
                    invalid={false}
                    onChange={(v) => update(i, KEY, v)}
                  />
                )}
                {form.fields.map((f) => (
                  <FieldInput
                    key={f.key}
                    field={f}
                    id={`${idBase}-${i}-${f.key}`}
                    value={row[f.key] ?? ""}
                    invalid={invalid(i, row, f.key)}
                    onChange={(v) => update(i, f.key, v)}
                  />
                ))}
              </div>
              {shape !== "single" && (
                <button type="button" class="secondary" onClick={() => remove(i)}>
                  Remove {rowName.toLowerCase()} {i + 1}
                </button>
              )}
            </fieldset>
          ))}
          {shape !== "single" && (
            <p>
              <button type="button" class="secondary" onClick={add}>
                Add {rowName.toLowerCase()}
              </button>
            </p>
          )}
          <div aria-live="polite" class="check" data-testid="check">
            {check && errors.length === 0 && <p class="ok">Valid: the policy checks out with this change.</p>}
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

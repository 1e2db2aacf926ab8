import type { FormField } from "../types.js";

/** One form control drawn from a schema field: a number or date box, or a choice, labelled, with help text. */
export function FieldInput({
  field,
  id,
  value,
  invalid,
  onChange,
}: {
  field: FormField;
  id: string;
  value: string;
  invalid: boolean;
  onChange: (value: string) => void;
}) {
  const help = `${id}-help`;
  const common = {
    id,
    name: field.key,
    "aria-describedby": help,
    "aria-invalid": invalid ? ("true" as const) : undefined,
  };
  const suggestions = field.kind === "text" && field.choices ? `${id}-choices` : undefined;
  return (
    <div class="field">
      <label for={id}>{field.label}</label>
      {field.kind === "choice" ? (
        <select {...common} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
          <option value="">{field.empty}</option>
          {field.choices?.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      ) : (
        <input
          {...common}
          type={field.kind === "date" ? "date" : "text"}
          inputMode={field.kind === "count" ? "numeric" : field.kind === "decimal" ? "decimal" : undefined}
          autoComplete="off"
          list={suggestions}
          value={value}
          placeholder={field.kind === "date" ? "YYYY-MM-DD" : field.empty}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
      )}
      {suggestions && (
        <datalist id={suggestions}>
          {field.choices?.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      )}
      <small id={help} class="muted">
        {field.help}
        {field.help !== "" && !field.help.endsWith(".") && "."}
        {field.kind !== "choice" && ` Empty: ${field.empty}.`}
      </small>
    </div>
  );
}

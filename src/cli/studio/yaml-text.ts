import { parseDocument } from "yaml";

/**
 * Values as the studio writes them into policy YAML: decimal strings as YAML
 * numbers spelled exactly as typed (never `4e-6`), other strings quoted only
 * when they must be, maps and lists in the example policies' style.
 */
export const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

export const isCollection = (v: unknown): v is object => typeof v === "object" && v !== null;

/** The YAML text of a scalar value. */
export function scalarText(value: unknown): string {
  if (typeof value === "string" && DECIMAL.test(value)) return value;
  const doc = parseDocument("");
  doc.contents = doc.createNode(value) as never;
  return String(doc).trimEnd();
}

/** The JS value the text means, as a YAML reader will see it (decimal strings are numbers). */
export function meaning(value: unknown): unknown {
  if (typeof value === "string") return DECIMAL.test(value) ? Number(value) : value;
  if (Array.isArray(value)) return value.map(meaning);
  if (isCollection(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, meaning(v)]));
  return value;
}

const keyText = (key: string) => scalarText(key);

/** One line: `{ a: 1, b: [x, y] }`, `[1, 2]` or a scalar. */
export function flowText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flowText).join(", ")}]`;
  if (isCollection(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    return `{ ${entries.map(([k, v]) => `${keyText(k)}: ${flowText(v)}`).join(", ")} }`;
  }
  return scalarText(value);
}

/**
 * Block lines at `indent` (no trailing newline): a map's keys one per line,
 * a list's items as `- ` lines with maps of scalars in flow style.
 */
export function blockText(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        const flat =
          !isCollection(item) || (!Array.isArray(item) && Object.values(item).every((v) => !isCollection(v)));
        if (flat) return `${indent}- ${flowText(item)}`;
        return `${indent}- ${blockText(item, `${indent}  `).trimStart()}`;
      })
      .join("\n");
  }
  return Object.entries(value as object)
    .map(([k, v]) => {
      if (!isCollection(v) || (Array.isArray(v) && v.length === 0) || Object.keys(v).length === 0)
        return `${indent}${keyText(k)}: ${flowText(v)}`;
      const flatMap = !Array.isArray(v) && Object.values(v).every((x) => !isCollection(x));
      if (flatMap && Object.keys(v).length <= 3) return `${indent}${keyText(k)}: ${flowText(v)}`;
      return `${indent}${keyText(k)}:\n${blockText(v, `${indent}  `)}`;
    })
    .join("\n");
}

/**
 * The shape most alert conditions take: comparisons of one variable with a
 * literal, joined by `&&` and `||` (`usage_percent >= 80 && plan == "pro"`).
 * CEL's type check of such a condition is known without loading CEL: it
 * parses, and yields a bool. Validating a policy whose conditions all have
 * this shape therefore never loads the CEL interpreter (about 30 ms of CPU,
 * a tenth of a first `limitr validate`).
 *
 * The shape is narrow on purpose, and every form it admits is checked against
 * CEL itself (test/policy/simple-condition.test.ts): a number variable
 * ordered (`<`, `<=`, `>`, `>=`) against an int or a double, or compared
 * (`==`, `!=`) with a double (CEL has no `double == int`); a string variable
 * compared or ordered against a quoted string without escapes. A variable
 * that may be null (`limit`, `remaining`...) never matches. Anything else
 * (parentheses, `!`, arithmetic, other literals, whitespace other than spaces
 * and tabs) is for CEL to answer.
 */

/** Variables typed `double` and `string` among the alert variables (SPEC §2.5). */
export interface ConditionVariables {
  numbers: ReadonlySet<string>;
  strings: ReadonlySet<string>;
}

const IDENT = String.raw`([A-Za-z_][A-Za-z0-9_]*)`;
const INT = String.raw`(?:0|[1-9][0-9]{0,14})`;
const DOUBLE = String.raw`${INT}\.[0-9]{1,15}`;
const STRING = String.raw`(?:"[^"\\\r\n]*"|'[^'\\\r\n]*')`;
/** One comparison: variable, operator, literal. */
const TERM = new RegExp(
  String.raw`^[ \t]*${IDENT}[ \t]*(<=|>=|==|!=|<|>)[ \t]*(${DOUBLE}|${INT}|${STRING})[ \t]*$`,
);
const JOINER = /&&|\|\|/;
/** Comparisons in one condition: CEL nests `&&` chains (its limit is 250 levels deep). */
const MAX_TERMS = 16;

/** Does `expression` type-check as a bool in CEL, by its shape alone? False means: ask CEL. */
export function isSimpleCondition(expression: string, variables: ConditionVariables): boolean {
  const terms = expression.split(JOINER);
  if (terms.length > MAX_TERMS) return false;
  for (const term of terms) {
    const m = TERM.exec(term);
    if (!m) return false;
    const [, name, op, literal] = m as unknown as [string, string, string, string];
    const first = literal.charCodeAt(0);
    const quoted = first === 34 || first === 39;
    if (variables.strings.has(name)) {
      if (!quoted) return false;
    } else if (variables.numbers.has(name)) {
      if (quoted) return false;
      const equality = op === "==" || op === "!=";
      if (equality && !literal.includes(".")) return false;
    } else return false;
  }
  return true;
}

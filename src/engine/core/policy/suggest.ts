import { distance } from "fastest-levenshtein";

/**
 * The closest candidate to a misspelt name, or null when nothing is close
 * enough to be a plausible typo (so hints never suggest nonsense).
 */
export function closest(name: string, candidates: Iterable<string>): string | null {
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  let bestPrefix = 0;
  for (const c of candidates) {
    if (c === name) continue;
    const score = distance(lower, c.toLowerCase());
    // On a tie, the candidate sharing the longer prefix is the likelier intent (usage_pct -> usage_percent, not usage).
    const prefix = commonPrefix(lower, c.toLowerCase());
    if (score < bestScore || (score === bestScore && prefix > bestPrefix)) {
      best = c;
      bestScore = score;
      bestPrefix = prefix;
    }
  }
  if (best === null) return null;
  const budget = Math.max(2, Math.floor(Math.max(name.length, best.length) / 3));
  return bestScore <= budget ? best : null;
}

/** `did you mean "x"?`, or undefined when there is no close candidate. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const c = closest(name, candidates);
  return c === null ? undefined : `did you mean "${c}"?`;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

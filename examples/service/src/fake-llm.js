import { randomUUID } from "node:crypto";

/** Prepended to every prompt, so the tokens a completion uses exceed the caller's estimate. */
const SYSTEM_PROMPT = "You are a concise assistant for acme-ai customers. Answer in one sentence.";

/**
 * A rough token count (about four characters a token), the kind of estimate a
 * service makes before the call, when only the prompt is known.
 */
export function estimateTokens(text) {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * A stand-in for a model provider: deterministic, no network. Like a real
 * completion it returns an id and the tokens actually used, which are known
 * only after the call (the system prompt counts too; the answer is capped at
 * `maxTokens`).
 */
export async function complete({ model, prompt, maxTokens }) {
  const words = prompt.split(/\s+/).filter(Boolean);
  const longest = words.reduce((a, w) => (w.length > a.length ? w : a), "").slice(0, 40);
  const answer = `You sent ${words.length} words; the longest is "${longest}".`;
  const outputTokens = Math.min(maxTokens, estimateTokens(answer));
  return {
    id: `cmpl-${randomUUID()}`,
    model,
    text: answer.slice(0, outputTokens * 4),
    usage: { input: estimateTokens(SYSTEM_PROMPT) + estimateTokens(prompt), output: outputTokens },
  };
}

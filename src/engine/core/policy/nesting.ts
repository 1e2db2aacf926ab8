import type { CST } from "yaml";

/**
 * How deeply the collections of a YAML token stream nest, checked on the
 * parser's tokens before anything recursive (yaml's composer, our builder)
 * sees them: a hostile file nesting 10,000 levels would otherwise exhaust the
 * stack. The walk keeps its own stack, so its depth is bounded by the heap.
 *
 * Returns the offset of the first collection nested more than `max` levels
 * deep (the top-level map is level 1), or null when the stream stays within;
 * and whether any alias occurs (only then is alias expansion worth checking).
 */
export function scanTokens(
  tokens: readonly CST.Token[],
  max: number,
): { tooDeepAt: number | null; aliases: boolean } {
  let aliases = false;
  // Pushed in reverse so the walk visits in document order and reports the first offender.
  const pending: [CST.Token, number][] = tokens.map((t): [CST.Token, number] => [t, 0]).reverse();
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [token, level] = next;
    switch (token.type) {
      case "document":
        if (token.value) pending.push([token.value, level]);
        break;
      case "block-map":
      case "block-seq":
      case "flow-collection": {
        const inner = level + 1;
        if (inner > max) {
          const at = token.type === "flow-collection" ? token.start.offset : token.offset;
          return { tooDeepAt: at, aliases };
        }
        const items = token.items as CST.CollectionItem[];
        for (let i = items.length - 1; i >= 0; i--) {
          const item = items[i] as CST.CollectionItem;
          if (item.value) pending.push([item.value, inner]);
          if (item.key) pending.push([item.key, inner]);
        }
        break;
      }
      case "alias":
        aliases = true;
        break;
      default:
        break;
    }
  }
  return { tooDeepAt: null, aliases };
}

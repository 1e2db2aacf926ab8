import { Composer, type CST, type Document, Parser, YAMLParseError } from "yaml";

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

/**
 * One YAML 1.2 document with positions, or the offset of a collection nested
 * too deeply (checked on the tokens, before the recursive composer runs).
 * Duplicate keys are left to the builder, which knows their path.
 */
export function parseYaml(
  text: string,
  onNewLine: (offset: number) => void,
  maxDepth: number,
): { doc: Document.Parsed; aliases: boolean } | number {
  const tokens = Array.from(new Parser(onNewLine).parse(text));
  const { tooDeepAt, aliases } = scanTokens(tokens, maxDepth);
  if (tooDeepAt !== null) return tooDeepAt;
  const composer = new Composer({ uniqueKeys: false, version: "1.2" });
  let doc: Document.Parsed | null = null;
  for (const next of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = next;
    else {
      const range = next.range;
      doc.errors.push(new YAMLParseError([range[0], range[1]], "MULTIPLE_DOCS", "several documents"));
      break;
    }
  }
  // compose(..., forceDoc = true) always yields a document, even for an empty file.
  return { doc: doc as Document.Parsed, aliases };
}

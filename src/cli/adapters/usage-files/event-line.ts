import { MAX_VALUE } from "limitr-engine/core/usage/event";
import { eventTime } from "limitr-engine/core/usage/event-time";

/**
 * The fast path of NDJSON import: one line of the common shape read in place,
 * without `JSON.parse`, without building an object and without
 * `JSON.stringify` of its properties (their text is kept as it is in the line).
 *
 * It accepts only a line whose result is provably the one of the full path
 * (`JSON.parse` then `parseEventRecord`): string id/type/customer/timestamp
 * without escapes, a number or null value, and a flat properties object
 * already in the form `JSON.stringify` gives (no whitespace, no escapes, no
 * duplicate or index-like keys, numbers as JavaScript prints them). Anything
 * else, every error included, returns false and the caller takes the full
 * path, which finds the problem and words it as before.
 */
export interface EventFields {
  /** [start, end) in the text of id, type, customer, properties (propsStart -1: none). */
  idStart: number;
  idEnd: number;
  typeStart: number;
  typeEnd: number;
  customerStart: number;
  customerEnd: number;
  propsStart: number;
  propsEnd: number;
  ts: number;
  /** NaN: no value. */
  value: number;
}

export function newEventFields(): EventFields {
  return {
    idStart: 0,
    idEnd: 0,
    typeStart: 0,
    typeEnd: 0,
    customerStart: 0,
    customerEnd: 0,
    propsStart: -1,
    propsEnd: -1,
    ts: 0,
    value: Number.NaN,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const SPACE = 0x20;
const TAB = 0x09;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const ID = 1;
const TYPE = 2;
const CUSTOMER = 4;
const TIMESTAMP = 8;
const VALUE = 16;
const PROPERTIES = 32;

/** End (the closing quote) of a plain string starting after the opening quote at `p`, or -1. */
function plainString(t: string, p: number, end: number): number {
  for (; p < end; p++) {
    const c = t.charCodeAt(p);
    if (c === QUOTE) return p;
    // An escape, or a control character (invalid JSON): the full path decides.
    if (c === BACKSLASH || c < SPACE) return -1;
  }
  return -1;
}

/** End of a JSON number starting at `p` (grammar checked), or -1. */
function numberEnd(t: string, p: number, end: number): number {
  if (t.charCodeAt(p) === MINUS) p++;
  let c = t.charCodeAt(p);
  if (c === ZERO) p++;
  else if (c > ZERO && c <= NINE) {
    p++;
    while (p < end && (c = t.charCodeAt(p)) >= ZERO && c <= NINE) p++;
  } else return -1;
  if (p < end && t.charCodeAt(p) === DOT) {
    p++;
    const digits = p;
    while (p < end && (c = t.charCodeAt(p)) >= ZERO && c <= NINE) p++;
    if (p === digits) return -1;
  }
  c = t.charCodeAt(p);
  if (p < end && (c === 0x65 || c === 0x45)) {
    p++;
    c = t.charCodeAt(p);
    if (c === 0x2b || c === MINUS) p++;
    const digits = p;
    while (p < end && (c = t.charCodeAt(p)) >= ZERO && c <= NINE) p++;
    if (p === digits) return -1;
  }
  return p;
}

function literalAt(t: string, p: number, word: string): boolean {
  return t.startsWith(word, p);
}

// Keys of the properties object being read (start, end, hash), to refuse duplicates without allocating.
const MAX_KEYS = 64;
const keyStart = new Int32Array(MAX_KEYS);
const keyEnd = new Int32Array(MAX_KEYS);
const keyHash = new Int32Array(MAX_KEYS);

/**
 * A flat properties object at `p` ('{') in the form JSON.stringify gives, every
 * number within MAX_VALUE: its end (after '}'), or -1.
 */
function canonicalProperties(t: string, p: number, end: number): number {
  p++;
  if (t.charCodeAt(p) === CLOSE) return p + 1;
  let keys = 0;
  for (;;) {
    if (t.charCodeAt(p) !== QUOTE) return -1;
    const ks = p + 1;
    let c = t.charCodeAt(ks);
    // Index-like keys come first in a JavaScript object (the order would change); "__proto__" is refused.
    if ((c >= ZERO && c <= NINE) || t.startsWith('__proto__"', ks)) return -1;
    let h = 0;
    let q = ks;
    for (; q < end; q++) {
      c = t.charCodeAt(q);
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < SPACE) return -1;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (q >= end || keys === MAX_KEYS) return -1;
    const len = q - ks;
    for (let k = 0; k < keys; k++) {
      const other = keyStart[k] as number;
      if (keyHash[k] === h && (keyEnd[k] as number) - other === len && t.startsWith(t.slice(ks, q), other))
        return -1;
    }
    keyStart[keys] = ks;
    keyEnd[keys] = q;
    keyHash[keys] = h;
    keys++;
    p = q + 1;
    if (t.charCodeAt(p) !== COLON) return -1;
    p++;
    c = t.charCodeAt(p);
    if (c === QUOTE) {
      p = plainString(t, p + 1, end);
      if (p < 0) return -1;
      p++;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const ne = numberEnd(t, p, end);
      if (ne < 0) return -1;
      // A whole number of at most 15 digits is printed as written (and within MAX_VALUE).
      const neg = c === MINUS ? 1 : 0;
      let simple = ne - p - neg <= 15 && !(ne - p - neg > 1 && t.charCodeAt(p + neg) === ZERO);
      if (simple) {
        for (let i = p + neg; i < ne; i++) {
          const d = t.charCodeAt(i);
          if (d < ZERO || d > NINE) {
            simple = false;
            break;
          }
        }
      }
      if (!simple || (neg === 1 && ne - p === 2 && t.charCodeAt(p + 1) === ZERO)) {
        const lit = t.slice(p, ne);
        const n = Number(lit);
        if (!(n <= MAX_VALUE && n >= -MAX_VALUE) || String(n) !== lit) return -1;
      }
      p = ne;
    } else if (literalAt(t, p, "true")) p += 4;
    else if (literalAt(t, p, "false")) p += 5;
    else if (literalAt(t, p, "null")) p += 4;
    else return -1;
    c = t.charCodeAt(p);
    if (c === COMMA) p++;
    else if (c === CLOSE) return p + 1;
    else return -1;
  }
}

function skipSpace(t: string, p: number, end: number): number {
  while (p < end) {
    const c = t.charCodeAt(p);
    if (c !== SPACE && c !== TAB) break;
    p++;
  }
  return p;
}

/** Which field the key at `p` (after its opening quote) names, and its closing quote, or 0. */
function fieldAt(t: string, p: number): number {
  switch (t.charCodeAt(p)) {
    case 0x69:
      return t.startsWith('id"', p) ? ID : 0;
    case 0x74:
      return t.startsWith('type"', p) ? TYPE : t.startsWith('timestamp"', p) ? TIMESTAMP : 0;
    case 0x63:
      return t.startsWith('customer"', p) ? CUSTOMER : 0;
    case 0x76:
      return t.startsWith('value"', p) ? VALUE : 0;
    case 0x70:
      return t.startsWith('properties"', p) ? PROPERTIES : 0;
    default:
      return 0;
  }
}

const KEY_LENGTH: Record<number, number> = {
  [ID]: 2,
  [TYPE]: 4,
  [CUSTOMER]: 8,
  [TIMESTAMP]: 9,
  [VALUE]: 5,
  [PROPERTIES]: 10,
};

/**
 * Read the event on text[start, end) (one line, no newline) into `out`.
 * True: a valid event, read exactly as the full path would. False: take the full path.
 */
export function readEventLine(
  t: string,
  start: number,
  end: number,
  zone: string,
  out: EventFields,
): boolean {
  let p = skipSpace(t, start, end);
  if (t.charCodeAt(p) !== OPEN) return false;
  let seen = 0;
  out.propsStart = -1;
  out.value = Number.NaN;
  let tsStart = 0;
  let tsEnd = 0;
  p++;
  for (;;) {
    p = skipSpace(t, p, end);
    if (t.charCodeAt(p) !== QUOTE) return false;
    const field = fieldAt(t, p + 1);
    if (field === 0 || (seen & field) !== 0) return false;
    seen |= field;
    p = skipSpace(t, p + (KEY_LENGTH[field] as number) + 2, end);
    if (t.charCodeAt(p) !== COLON) return false;
    p = skipSpace(t, p + 1, end);
    const c = t.charCodeAt(p);
    if (field === VALUE) {
      if (literalAt(t, p, "null")) p += 4;
      else {
        const ne = numberEnd(t, p, end);
        if (ne < 0) return false;
        const v = Number(t.slice(p, ne));
        if (!(v <= MAX_VALUE && v >= -MAX_VALUE)) return false;
        out.value = v;
        p = ne;
      }
    } else if (field === PROPERTIES) {
      if (c === OPEN) {
        const pe = canonicalProperties(t, p, end);
        if (pe < 0) return false;
        out.propsStart = p;
        out.propsEnd = pe;
        p = pe;
      } else if (literalAt(t, p, "null")) p += 4;
      else return false;
    } else {
      if (c !== QUOTE) return false;
      const se = plainString(t, p + 1, end);
      if (se <= p + 1) return false;
      if (field === ID) {
        out.idStart = p + 1;
        out.idEnd = se;
      } else if (field === TYPE) {
        out.typeStart = p + 1;
        out.typeEnd = se;
      } else if (field === CUSTOMER) {
        out.customerStart = p + 1;
        out.customerEnd = se;
      } else {
        tsStart = p + 1;
        tsEnd = se;
      }
      p = se + 1;
    }
    p = skipSpace(t, p, end);
    const sep = t.charCodeAt(p);
    if (sep === CLOSE) break;
    if (sep !== COMMA) return false;
    p++;
  }
  if (skipSpace(t, p + 1, end) !== end) return false;
  if ((seen & (ID | TYPE | CUSTOMER | TIMESTAMP)) !== (ID | TYPE | CUSTOMER | TIMESTAMP)) return false;
  let ts = utcTime(t, tsStart, tsEnd);
  if (Number.isNaN(ts)) {
    const read = eventTime(t.slice(tsStart, tsEnd), zone);
    if (typeof read !== "number") return false;
    ts = read;
  }
  out.ts = ts;
  return true;
}

// The UTC day of the last timestamp read (files are mostly in time order): its date text and start.
let dayText = "";
let dayStart = 0;

const digit = (c: number) => c >= ZERO && c <= NINE;
const two = (t: string, p: number) => (t.charCodeAt(p) - ZERO) * 10 + t.charCodeAt(p + 1) - ZERO;

/**
 * Epoch ms of `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` on t[s, e), the
 * forms most files use, as eventTime reads them; NaN for anything else (eventTime decides).
 * The date is checked (and its start computed) by eventTime once per day seen.
 */
function utcTime(t: string, s: number, e: number): number {
  const len = e - s;
  if ((len !== 20 && len !== 24) || t.charCodeAt(e - 1) !== 0x5a) return Number.NaN;
  if (
    t.charCodeAt(s + 10) !== 0x54 ||
    t.charCodeAt(s + 13) !== COLON ||
    t.charCodeAt(s + 16) !== COLON ||
    !digit(t.charCodeAt(s + 11)) ||
    !digit(t.charCodeAt(s + 12)) ||
    !digit(t.charCodeAt(s + 14)) ||
    !digit(t.charCodeAt(s + 15)) ||
    !digit(t.charCodeAt(s + 17)) ||
    !digit(t.charCodeAt(s + 18))
  )
    return Number.NaN;
  let ms = 0;
  if (len === 24) {
    if (
      t.charCodeAt(s + 19) !== DOT ||
      !digit(t.charCodeAt(s + 20)) ||
      !digit(t.charCodeAt(s + 21)) ||
      !digit(t.charCodeAt(s + 22))
    )
      return Number.NaN;
    ms = (t.charCodeAt(s + 20) - ZERO) * 100 + two(t, s + 21);
  }
  const hour = two(t, s + 11);
  const minute = two(t, s + 14);
  const second = two(t, s + 17);
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  if (dayText === "" || !t.startsWith(dayText, s)) {
    const date = t.slice(s, s + 10);
    // Checks the form, that the day exists and that it lies in the accepted range (whole days).
    const start = eventTime(`${date}T00:00:00Z`, "UTC");
    if (typeof start !== "number") return Number.NaN;
    dayText = date;
    dayStart = start;
  }
  return dayStart + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms;
}

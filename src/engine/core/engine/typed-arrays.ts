type Column = Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;

/** A copy of `from` with room for `length` elements (the new ones zero): how the engine's tables grow. */
export function resized<T extends Column>(from: T, length: number): T {
  const to = new (from.constructor as new (n: number) => T)(length);
  to.set(from.length <= length ? from : (from.subarray(0, length) as T));
  return to;
}

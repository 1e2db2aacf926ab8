import type { BundleReader } from "../../core/bundles/port.js";
import { readCurrent } from "../../core/bundles/port.js";
import { InputError } from "../../core/errors.js";

/**
 * Read-only bundle store over HTTP(S): the directory layout served by any
 * static host or CDN. Versions are not listed by the server; they are
 * 1..current (versions are append-only and never deleted).
 */
export function httpReader(
  baseUrl: string,
  init: { headers?: Record<string, string>; timeoutMs?: number } = {},
): BundleReader {
  const base = baseUrl.replace(/\/+$/, "");
  const reader: BundleReader = {
    location: base,
    readText: async (path) => {
      let res: Response;
      try {
        res = await fetch(`${base}/${path}`, {
          headers: init.headers,
          signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new InputError(`cannot fetch ${base}/${path}: ${(err as Error).message}`);
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new InputError(`GET ${base}/${path}: HTTP ${res.status}`);
      return res.text();
    },
    listVersions: async () => {
      const current = await readCurrent(reader);
      const n = current?.manifest.version ?? 0;
      return Array.from({ length: n }, (_, i) => i + 1);
    },
  };
  return reader;
}

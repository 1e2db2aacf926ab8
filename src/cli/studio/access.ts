import { randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Who may talk to the studio: whoever holds the token printed at start. The
 * token arrives once in the URL's query, is then kept in an HttpOnly,
 * SameSite=Strict cookie (or sent as a header by scripts and tests). The Host
 * header must name the loopback address the studio listens on, so a page on
 * another site cannot reach it through a DNS name pointed at 127.0.0.1; and a
 * request that changes something must come from the studio's own origin.
 */
export const TOKEN_HEADER = "x-limitr-studio-token";
export const COOKIE = "limitr_studio";

export function newToken(): string {
  return randomBytes(24).toString("base64url");
}

export function sameToken(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function cookieToken(header: string | undefined): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === COOKIE) return value.join("=");
  }
  return undefined;
}

export function queryToken(url: string): string | undefined {
  return new URL(url, "http://studio.invalid").searchParams.get("token") ?? undefined;
}

/** The hosts a browser may name when it talks to the studio on `port`. */
export function hostAllowed(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/** A state-changing request must say it comes from the studio's own page. */
export function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  return origin !== undefined && host !== undefined && origin === `http://${host}`;
}

export function sessionCookie(token: string): string {
  return `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

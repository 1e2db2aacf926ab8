/**
 * Calls to the studio's JSON API. The access token travels in the HttpOnly
 * cookie the first visit set; the browser adds the Origin header the server checks.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
  if (response.status === 422 && data && !data.error) return data as T;
  if (!response.ok) throw new ApiError(response.status, data?.error?.message ?? response.statusText, data);
  return data as T;
}

export const api = {
  get: <T>(path: string) => call<T>("GET", path),
  post: <T>(path: string, body: unknown) => call<T>("POST", path, body),
};

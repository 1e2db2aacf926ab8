import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.js";
import type { HistoryResponse } from "../types.js";

/**
 * Policy commits (git log of the policy files) and the versions pushed to an
 * environment's bundle store, with a rollback that runs `limitr rollback`
 * after the person confirms it in a dialog.
 */
export function HistoryPage() {
  const [env, setEnv] = useState<string | undefined>(undefined);
  const [data, setData] = useState<HistoryResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [target, setTarget] = useState<number | null>(null);
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLElement | null>(null);

  const load = (which: string | undefined) =>
    api.get<HistoryResponse>(`/api/history${which ? `?env=${encodeURIComponent(which)}` : ""}`).then(
      (d) => {
        setData(d);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  useEffect(() => {
    void load(env);
  }, [env]);

  const bundles = data?.bundles ?? null;
  const environment = bundles?.environment ?? env ?? "";
  const ask = (version: number, event: Event) => {
    opener.current = event.currentTarget as HTMLElement;
    setTarget(version);
    setReason("");
    dialog.current?.showModal();
  };
  const close = () => {
    dialog.current?.close();
    opener.current?.focus();
  };
  const confirm = async (event: Event) => {
    event.preventDefault();
    if (target === null) return;
    setBusy(true);
    try {
      const result = await api.post<{ manifest: { version: number }; status: string }>("/api/rollback", {
        env: environment,
        to: target,
        reason,
      });
      setDone(
        result.status === "unchanged"
          ? `${environment} already serves version ${target}'s content: nothing published.`
          : `Rolled ${environment} back to version ${target}'s content as version ${result.manifest.version}; the environment is pinned until \`limitr unpin\`.`,
      );
      dialog.current?.close();
      await load(environment);
    } catch (err) {
      setError((err as Error).message);
      dialog.current?.close();
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <section aria-labelledby="bundles-heading">
        <h2 id="bundles-heading">Pushed versions</h2>
        {(data?.environments.length ?? 0) > 1 && (
          <div class="field">
            <label for="history-env">Environment</label>
            <select id="history-env" value={environment} onChange={(e) => setEnv(e.currentTarget.value)}>
              {data?.environments.map((e) => (
                <option key={e} value={e}>
                  {e}
                </option>
              ))}
            </select>
          </div>
        )}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {done && (
          <p role="status" class="ok" data-testid="rollback-done">
            {done}
          </p>
        )}
        {data?.bundlesError && <p class="muted">{data.bundlesError}</p>}
        {bundles && bundles.versions.length === 0 && (
          <p class="muted">Nothing has been pushed to {bundles.environment} yet.</p>
        )}
        {bundles && bundles.versions.length > 0 && (
          // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
          <section class="scroll" aria-label={`Versions of ${bundles.environment}`} tabIndex={0}>
            <table class="matrix narrow" data-testid="versions">
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Pushed</th>
                  <th scope="col">From</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {bundles.versions.map((v) => (
                  <tr key={v.version}>
                    <th scope="row">
                      {v.version}
                      {v.current && <span class="badge">current</span>}
                      {bundles.pinned?.version === v.version && <span class="badge">pinned</span>}
                    </th>
                    <td>
                      {v.manifest?.createdAt.slice(0, 16).replace("T", " ")} by {v.manifest?.createdBy}
                    </td>
                    <td>
                      {v.manifest?.rollbackOf != null
                        ? `rollback to version ${v.manifest.rollbackOf}`
                        : v.manifest?.source?.commit
                          ? `commit ${v.manifest.source.commit.slice(0, 7)}${v.manifest.source.dirty ? " (uncommitted changes)" : ""}`
                          : "work tree"}
                    </td>
                    <td>
                      {!v.current && v.manifest && (
                        <button type="button" class="secondary" onClick={(e) => ask(v.version, e)}>
                          Roll back to version {v.version}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </section>
      <section aria-labelledby="commits-heading">
        <h2 id="commits-heading">Policy changes in git</h2>
        {data && data.commits.length === 0 && <p class="muted">No commits touch the policy files.</p>}
        <ol class="commits" data-testid="commits">
          {data?.commits.map((c) => (
            <li key={c.commit}>
              <strong>{c.subject}</strong>{" "}
              <span class="muted">
                <code>{c.commit.slice(0, 7)}</code> by {c.author}, {c.date.slice(0, 10)}: {c.files.join(", ")}
              </span>
            </li>
          ))}
        </ol>
      </section>
      <dialog ref={dialog} aria-labelledby="rollback-title" onCancel={close}>
        <form onSubmit={confirm}>
          <h2 id="rollback-title">
            Roll {environment} back to version {target}?
          </h2>
          <p>
            Every running service picks up version {target}'s policy within seconds. This publishes it as a
            new version and pins {environment}, as <code>limitr rollback --to {target}</code> does.
          </p>
          <div class="field">
            <label for="rollback-reason">Reason (recorded with the pin)</label>
            <input id="rollback-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </div>
          <div class="actions">
            <button type="submit" disabled={busy}>
              Roll back
            </button>
            <button type="button" class="secondary" onClick={close}>
              Keep the current version
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

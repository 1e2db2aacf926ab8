import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import type { DiffResponse, GitStatus, SaveResponse } from "../types.js";
import { DiffList } from "./DiffList.js";
import { Simulation } from "./Simulation.js";

function suggestedBranch(): string {
  return `pricing/change-${new Date().toISOString().slice(0, 10)}`;
}

/** What changed against the default branch, and saving it as a commit on a new branch. */
export function Review({ git, onSaved }: { git: GitStatus | null; onSaved: () => void | Promise<void> }) {
  const [diff, setDiff] = useState<DiffResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [branch, setBranch] = useState(
    git && git.branch !== git.defaultBranch ? git.branch : suggestedBranch(),
  );
  const [message, setMessage] = useState("");
  const [push, setPush] = useState(false);
  const [saved, setSaved] = useState<SaveResponse | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (git) api.get<DiffResponse>("/api/diff").then(setDiff, (err: Error) => setError(err.message));
  }, [git]);

  if (!git)
    return <p>The policy directory is not in a git repository, so changes cannot be reviewed or saved.</p>;
  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setSaved(await api.post<SaveResponse>("/api/save", { branch, message, push }));
      await onSaved();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <section aria-labelledby="diff-heading">
        <h2 id="diff-heading">What changes</h2>
        {diff ? <DiffList diff={diff} /> : !error && <p>Comparing with {git.defaultBranch}…</p>}
      </section>
      {diff && diff.changes.length > 0 && (
        <section aria-labelledby="simulation-heading">
          <h2 id="simulation-heading">What it does to revenue</h2>
          <Simulation version={git.changedFiles.join(",")} />
        </section>
      )}
      <section aria-labelledby="save-heading">
        <h2 id="save-heading">Save as a branch</h2>
        <p class="muted">
          The change is committed on a branch of its own, never on {git.defaultBranch}; open a pull request
          from it for review.
        </p>
        {saved ? (
          <p role="status" class="ok" data-testid="saved">
            Saved on branch <code>{saved.branch}</code> as commit <code>{saved.commit.slice(0, 7)}</code> (
            {saved.files.join(", ")}).
            {saved.pushed && <> Pushed to origin.</>}
            {saved.pullRequestUrl && (
              <>
                {" "}
                <a href={saved.pullRequestUrl} target="_blank" rel="noreferrer" data-testid="pull-request">
                  {saved.pushed ? "Open the pull request" : "Open a pull request once the branch is pushed"}
                </a>
              </>
            )}
          </p>
        ) : (
          <form onSubmit={save}>
            <div class="field">
              <label for="branch">Branch name</label>
              <input id="branch" value={branch} onInput={(e) => setBranch(e.currentTarget.value)} required />
            </div>
            <div class="field">
              <label for="message">What changed and why</label>
              <textarea
                id="message"
                rows={3}
                value={message}
                onInput={(e) => setMessage(e.currentTarget.value)}
                required
              />
            </div>
            <div class="field checkbox">
              <input
                id="push"
                type="checkbox"
                checked={push}
                aria-describedby="push-help"
                onChange={(e) => setPush(e.currentTarget.checked)}
              />
              <label for="push">Push the branch to origin</label>
              <small id="push-help" class="muted">
                A plain <code>git push</code> of this branch only: never forced, never {git.defaultBranch}.
              </small>
            </div>
            <div class="actions">
              <button type="submit" disabled={busy || git.changedFiles.length === 0}>
                Save change
              </button>
            </div>
            {git.changedFiles.length === 0 && <p class="muted">There are no unsaved changes.</p>}
          </form>
        )}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </section>
    </>
  );
}

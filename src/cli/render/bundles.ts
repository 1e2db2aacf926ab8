import type { ChalkInstance } from "chalk";
import {
  type BundleManifest,
  type BundleRecord,
  type PinRecord,
  shortDigest,
} from "limitr-engine/core/bundles/manifest";
import type { PublishResult } from "../adapters/bundles/directory-store.js";
import { renderPlain, text, type View } from "./view.js";

interface PublishView {
  env: string;
  store: string;
  format: string;
  color: ChalkInstance;
  rollbackOf?: number;
}

/** Output of push and rollback. */
export function renderPublish(result: PublishResult, view: PublishView): string {
  const m = result.record.manifest;
  if (view.format === "json") {
    return JSON.stringify(
      {
        formatVersion: 1,
        status: result.status,
        environment: view.env,
        store: view.store,
        manifest: m,
        signature: result.record.signature,
        pinned: result.pinned,
      },
      null,
      2,
    );
  }
  const c = view.color;
  const lines: string[] = [];
  if (result.status === "unchanged") {
    lines.push(
      view.rollbackOf !== undefined
        ? `${view.env} already serves version ${view.rollbackOf}'s content (version ${m.version}, ${shortDigest(m.digest)}); nothing published.`
        : `No changes: ${view.env} is already at version ${m.version} (${shortDigest(m.digest)}); nothing published.`,
    );
  } else {
    const what =
      m.rollbackOf !== null
        ? `Rolled back ${view.env} to version ${m.rollbackOf}'s content`
        : `Pushed ${m.project} to ${view.env}`;
    lines.push(c.green(`${what}: version ${m.version} (${shortDigest(m.digest)})`));
    lines.push(
      `  parent:  ${m.parent ? `version ${m.parent.version} (${shortDigest(m.parent.digest)})` : "none (first version)"}`,
    );
    lines.push(
      `  source:  ${m.source.commit ? m.source.commit.slice(0, 7) : "no commit"}${m.source.ref ? ` on ${m.source.ref}` : ""}${m.source.dirty ? c.yellow(" (dirty)") : ""}`,
    );
    lines.push(
      `  signed:  ${result.record.signature ? `key ${result.record.signature.keyId}` : c.yellow("no (unsigned)")}`,
    );
    lines.push(`  store:   ${view.store}`);
  }
  if (result.unpinned) {
    lines.push(c.yellow(`Lifted the pin at version ${result.unpinned.version} (${result.unpinned.reason}).`));
  }
  if (result.pinned) {
    lines.push(
      c.yellow(
        `${view.env} is pinned at version ${result.pinned.version}: pushes are refused until \`limitr unpin${view.env ? ` --env ${view.env}` : ""}\` (or push --force).`,
      ),
    );
  }
  return lines.join("\n");
}

export interface HistoryEntry {
  version: number;
  record: BundleRecord | null;
  verified: { ok: boolean; message: string } | null;
}

export interface HistoryView {
  env: string;
  store: string;
  current: BundleManifest | null;
  pinned: PinRecord | null;
  /** Newest first. */
  entries: HistoryEntry[];
}

export function renderHistory(view: HistoryView, format: string, color: ChalkInstance): string {
  if (format === "json") {
    return JSON.stringify(
      {
        formatVersion: 1,
        environment: view.env,
        store: view.store,
        currentVersion: view.current?.version ?? null,
        pinned: view.pinned,
        versions: view.entries.map((e) => ({
          version: e.version,
          current: e.version === view.current?.version,
          manifest: e.record?.manifest ?? null,
          signature: e.record?.signature ?? null,
          verified: e.verified,
        })),
      },
      null,
      2,
    );
  }
  return renderPlain(historyView(view, color), color);
}

/** Newest version first; `*` marks the current one. */
export function historyView(view: HistoryView, color: ChalkInstance): View {
  if (view.entries.length === 0) return [text(`${view.env}: no versions published yet (${view.store})`)];
  const header = ["", "VERSION", "DIGEST", "COMMIT", "DIRTY", "SIGNED", "AUTHOR", "CREATED", "NOTE"];
  const rows = view.entries.map((e) => {
    const m = e.record?.manifest;
    const notes = [
      m?.rollbackOf != null ? `rollback of ${m.rollbackOf}` : "",
      view.pinned?.version === e.version ? "pinned" : "",
      e.verified ? (e.verified.ok ? "verified" : `FAILED ${e.verified.message}`) : "",
    ].filter(Boolean);
    return [
      e.version === view.current?.version ? "*" : "",
      String(e.version),
      m ? shortDigest(m.digest) : "?",
      m?.source.commit ? m.source.commit.slice(0, 7) : "-",
      m?.source.dirty ? "yes" : "no",
      e.record?.signature ? e.record.signature.keyId : "-",
      m?.createdBy ?? "?",
      m?.createdAt ?? "?",
      notes.join(", "),
    ];
  });
  const title = `${view.env} (${view.store})${view.pinned ? color.yellow(`  pinned at version ${view.pinned.version} by ${view.pinned.by}: ${view.pinned.reason}`) : ""}`;
  return [
    text(title),
    text(""),
    { kind: "table", columns: header.map((h) => ({ header: h })), rows, boldHeader: true },
  ];
}

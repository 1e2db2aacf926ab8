import type { Diagnostic } from "./diagnostics.js";

/**
 * SARIF 2.1.0, the format code-scanning services (GitHub code scanning,
 * Azure DevOps, most IDEs) read: one run, one rule per diagnostic code,
 * one result per diagnostic with its file, line and column.
 */
export function formatSarif(diagnostics: readonly Diagnostic[], toolVersion: string): string {
  const codes = [...new Set(diagnostics.map((d) => d.code))].sort();
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "limitr",
            version: toolVersion,
            rules: codes.map((id) => ({ id, shortDescription: { text: id.replace(/[/-]/g, " ") } })),
          },
        },
        results: diagnostics.map((d) => ({
          ruleId: d.code,
          ruleIndex: codes.indexOf(d.code),
          level: d.severity === "error" ? "error" : "warning",
          message: { text: d.hint ? `${d.message} (${d.hint})` : d.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: d.file.split("\\").join("/") },
                region: { startLine: d.line, startColumn: d.column },
              },
              ...(d.path ? { logicalLocations: [{ fullyQualifiedName: d.path, kind: "member" }] } : {}),
            },
          ],
        })),
      },
    ],
  };
  return JSON.stringify(log, null, 2);
}

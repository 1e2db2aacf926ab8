import { renderToString } from "ink";
import type { View } from "../view.js";
import { ViewScreen } from "./table.js";

/** A view drawn once for a terminal `columns` wide (no live app: nothing to unmount). */
export function viewToString(view: View, columns: number): string {
  return renderToString(<ViewScreen view={view} />, { columns });
}

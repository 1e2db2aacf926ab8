/** Engine conformance on the sqlite store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("sqlite");

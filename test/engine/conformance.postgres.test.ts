/** Engine conformance on the postgres store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("postgres");

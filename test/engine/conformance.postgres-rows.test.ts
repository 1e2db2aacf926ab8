/** Engine conformance on the postgres+rows store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("postgres+rows");

/** Engine conformance on the postgres+redis store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("postgres+redis");

/** Engine conformance on the memory store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("memory");

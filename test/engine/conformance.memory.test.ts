/** Engine conformance on the memory store (cases and runner: conformance-cases.ts). */
import { conformance } from "./conformance-cases.js";

conformance("memory");
// The same cases on the wall clock: allow() reads it per tick and takes its fast path.
conformance("memory", "wall");

/**
 * Refuse files larger than this before parsing them, by default: it bounds
 * memory (validating takes about 50 bytes of memory per byte of YAML) while a
 * 10 MB policy of 50,000 customers still fits in one file. Callers may pass
 * another limit (`LIMITR_MAX_POLICY_FILE_MIB` for the CLI).
 */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

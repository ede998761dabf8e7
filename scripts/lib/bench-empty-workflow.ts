/**
 * The Temporal dev server's own ceiling (`npm run bench`, lifecycle part): a workflow that does
 * nothing. Bundled by the bench's in-process worker via `workflowsPath`; one workflow task each.
 */
export async function empty(): Promise<void> {}

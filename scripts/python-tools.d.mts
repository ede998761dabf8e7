export interface PythonToolSpec {
  requirement: string;
  venv: string;
  bin: string;
  envVar?: string;
  usePath?: boolean;
}
export type PythonToolName = 'temporal' | 'scim2-tester' | 'schemathesis';
export declare const PYTHON_TOOLS: Record<PythonToolName, PythonToolSpec>;
export declare function findPythonTool(name: PythonToolName, env?: Record<string, string | undefined>): string | undefined;
export declare function ensurePythonTool(name: PythonToolName, options?: { quiet?: boolean }): string;

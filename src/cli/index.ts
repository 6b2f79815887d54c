export { POLICY_USAGE, runPolicyCli } from './policy_cli.js';
export type { CliIo } from './policy_cli.js';

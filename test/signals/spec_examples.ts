/**
 * The example SETs printed in the CAEP 1.0, RISC 1.0 and SSF 1.0
 * specifications (test/conformance/ssf/README.md), read as the claims a
 * verified SET carries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../conformance/ssf/', import.meta.url));

export interface SpecExample {
  readonly iss: string;
  readonly iat: number;
  readonly sub_id: unknown;
  readonly events: unknown;
}

/** Every example's file name, without `.json`. */
export const SPEC_EXAMPLE_NAMES: readonly string[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

export function specExample(name: string): SpecExample {
  return JSON.parse(readFileSync(`${DIR}${name}.json`, 'utf8')) as SpecExample;
}

import type { CompiledPolicy, TestSummary } from '../policy/index.js';
import { PolicyBundleInvalidError } from './errors.js';

/**
 * One uploaded policy version as stored in the catalog: its sources (so it
 * can be read back, diffed and audited) and the Wasm compiled from them (so
 * every sidecar runs the very same bytes, and needs no `opa`).
 */
export interface PolicyBundle {
  readonly v: 1;
  readonly tenant: string;
  readonly version: string;
  readonly modules: Readonly<Record<string, string>>;
  readonly data: Readonly<Record<string, unknown>>;
  /** The bundle's `data.json` as compiled. */
  readonly compiledData: Readonly<Record<string, unknown>>;
  readonly wasm: Uint8Array;
  readonly tests: TestSummary | null;
  /** Unix ms. */
  readonly createdAt: number;
  /** Where a promoted version came from: its sandbox, the version there, the review it was promoted on. */
  readonly promotedFrom?: PromotionProvenance;
}

/** A promoted version's origin (docs/sandbox.md). */
export interface PromotionProvenance {
  /** The sandbox's name (`acme.sandbox`). */
  readonly tenant: string;
  readonly version: string;
  /** The review's digest the promotion carried. */
  readonly review: string;
  /** Unix ms. */
  readonly at: number;
}

export function bundleOf(
  compiled: CompiledPolicy,
  modules: Readonly<Record<string, string>>,
  data: Readonly<Record<string, unknown>>,
  createdAt: number,
): PolicyBundle {
  return {
    v: 1,
    tenant: compiled.tenantId,
    version: compiled.version,
    modules,
    data,
    compiledData: compiled.data,
    wasm: compiled.wasm,
    tests: compiled.tests ?? null,
    createdAt,
  };
}

export function compiledOf(bundle: PolicyBundle): CompiledPolicy {
  return { tenantId: bundle.tenant, version: bundle.version, wasm: bundle.wasm, data: { ...bundle.compiledData } };
}

export function encodeBundle(bundle: PolicyBundle): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      tenant: bundle.tenant,
      version: bundle.version,
      modules: bundle.modules,
      data: bundle.data,
      compiled_data: bundle.compiledData,
      wasm: Buffer.from(bundle.wasm).toString('base64'),
      tests: bundle.tests,
      created_at: bundle.createdAt,
      ...(bundle.promotedFrom === undefined ? {} : { promoted_from: bundle.promotedFrom }),
    }),
  );
}

/** @throws {PolicyBundleInvalidError} */
export function decodeBundle(bytes: Uint8Array): PolicyBundle {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new PolicyBundleInvalidError('a stored policy bundle is not JSON', { cause });
  }
  const object = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (
    !object(raw) ||
    raw['v'] !== 1 ||
    typeof raw['tenant'] !== 'string' ||
    typeof raw['version'] !== 'string' ||
    !object(raw['modules']) ||
    !object(raw['data']) ||
    !object(raw['compiled_data']) ||
    typeof raw['wasm'] !== 'string' ||
    typeof raw['created_at'] !== 'number'
  ) {
    throw new PolicyBundleInvalidError('a stored policy bundle is not version 1 of the format');
  }
  return {
    v: 1,
    tenant: raw['tenant'],
    version: raw['version'],
    modules: raw['modules'] as Record<string, string>,
    data: raw['data'],
    compiledData: raw['compiled_data'],
    wasm: new Uint8Array(Buffer.from(raw['wasm'], 'base64')),
    tests: object(raw['tests']) ? (raw['tests'] as unknown as TestSummary) : null,
    createdAt: raw['created_at'],
    ...(provenanceOf(raw['promoted_from']) ?? {}),
  };
}

function provenanceOf(value: unknown): { promotedFrom: PromotionProvenance } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const { tenant, version, review, at } = v;
  if (typeof tenant !== 'string' || typeof version !== 'string' || typeof review !== 'string') return undefined;
  if (typeof at !== 'number') return undefined;
  return { promotedFrom: { tenant, version, review, at } };
}

import type { IdentifierResolver } from '../identifiers/index.js';
import type { Logger } from '../logging/index.js';
import { PolicyRegistry } from '../policy/index.js';
import type { CompiledPolicy, EvaluationPool, PolicyInput } from '../policy/index.js';
import type { EntitlementReader } from '../store/index.js';
import type { CheckRequest, CheckSubject } from './check_request.js';
import { Decider } from './decider.js';
import type { StoredResources } from './decider.js';
import { DryRunRequestError } from './errors.js';

export interface DryRunAnswer {
  readonly decision: string;
  readonly reasons: readonly string[];
  readonly policyVersion: string;
}

export interface DryRunOutcome {
  /** The request as given. */
  readonly request: unknown;
  /** Under the active version; null when the tenant has none. */
  readonly current: DryRunAnswer | null;
  readonly candidate: DryRunAnswer;
  /** Decision or reasons differ. */
  readonly changed: boolean;
}

export const DRY_RUN_MAX_REQUESTS = 1_000;

/**
 * Decides Check-shaped requests twice over the same store snapshot, with the
 * active version and with a candidate, so an administrator sees which
 * decisions an activation would change before it happens.
 *
 * @throws {DryRunRequestError}
 */
export async function dryRun(options: {
  readonly reader: EntitlementReader;
  readonly logger: Logger;
  /** Where both versions are evaluated (off the caller's event loop, within its budget). */
  readonly pool: EvaluationPool;
  readonly tenantId: string;
  readonly candidate: CompiledPolicy;
  readonly current: CompiledPolicy | undefined;
  readonly requests: readonly unknown[];
  /** Resolves `subject.identifier` (a subject type and id) as the sidecars do; without it such a request is refused. */
  readonly identifiers?: Pick<IdentifierResolver, 'resolveSubject'> | undefined;
  /** The app's stored resources, for `input.resource.stored` as the sidecars give it. */
  readonly resources?: StoredResources | undefined;
}): Promise<DryRunOutcome[]> {
  const { reader, logger, tenantId, requests } = options;
  if (requests.length === 0 || requests.length > DRY_RUN_MAX_REQUESTS) {
    throw new DryRunRequestError(`"requests" must hold 1 to ${DRY_RUN_MAX_REQUESTS} Check requests`);
  }
  const parsed = requests.map((r, i) => parseRequest(tenantId, r, i));
  const registries: PolicyRegistry[] = [];
  const decider = async (compiled: CompiledPolicy): Promise<Decider> => {
    const policies = new PolicyRegistry({ pool: options.pool });
    registries.push(policies);
    await policies.install(compiled);
    return new Decider({ reader, policies, logger, identifiers: options.identifiers, resources: options.resources });
  };
  try {
    const candidate = await decider(options.candidate);
    const current = options.current === undefined ? undefined : await decider(options.current);
    const answer = async (d: Decider, request: CheckRequest): Promise<DryRunAnswer> => {
      // check() resolves an identifier subject first; without a min_sequence it decides at once.
      const result = await d.check(request);
      return {
        decision: result.decision.kind,
        reasons: result.decision.reasons.map((r) => r.code),
        policyVersion: result.policyVersion,
      };
    };
    const outcomes: DryRunOutcome[] = [];
    for (const [i, request] of parsed.entries()) {
      const next = await answer(candidate, request);
      const now = current === undefined ? null : await answer(current, request);
      const changed = now?.decision !== next.decision || now.reasons.join('\n') !== next.reasons.join('\n');
      outcomes.push({ request: requests[i], current: now, candidate: next, changed });
    }
    return outcomes;
  } finally {
    await Promise.all(
      registries.map(async (r) => {
        await r.close();
      }),
    );
  }
}

/** A decision a sidecar recorded (the audit trail's sampled decisions), as a dry-run reads it. */
export interface RecordedDecision {
  readonly decisionId: string;
  readonly decision: string;
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  /** The input its policy evaluated; undefined when the sidecar decided without the policy. */
  readonly input: unknown;
}

export interface RecordedDryRunOutcome {
  readonly decisionId: string;
  /** As the sidecar decided it, under the version that was active then. */
  readonly recorded: DryRunAnswer;
  /** The same input under the candidate. */
  readonly candidate: DryRunAnswer;
  readonly changed: boolean;
}

/**
 * Decides the inputs production decisions recorded again under a candidate: which of the real traffic's
 * decisions an activation would change. Decisions the sidecar made without the policy (no input) are
 * skipped and counted; the inputs are evaluated as recorded (the state as of then, not the store's now).
 */
export async function dryRunRecorded(options: {
  readonly pool: EvaluationPool;
  readonly candidate: CompiledPolicy;
  readonly records: readonly RecordedDecision[];
}): Promise<{ readonly outcomes: RecordedDryRunOutcome[]; readonly skipped: number }> {
  const policies = new PolicyRegistry({ pool: options.pool });
  try {
    const policy = await policies.install(options.candidate);
    const outcomes: RecordedDryRunOutcome[] = [];
    let skipped = 0;
    for (const record of options.records) {
      if (typeof record.input !== 'object' || record.input === null) {
        skipped++;
        continue;
      }
      const decided = await policy.evaluate(record.input as PolicyInput);
      const candidate = {
        decision: decided.kind,
        reasons: decided.reasons.map((r) => r.code),
        policyVersion: options.candidate.version,
      };
      const recorded = { decision: record.decision, reasons: record.reasons, policyVersion: record.policyVersion };
      const changed =
        recorded.decision !== candidate.decision || recorded.reasons.join('\n') !== candidate.reasons.join('\n');
      outcomes.push({ decisionId: record.decisionId, recorded, candidate, changed });
    }
    return { outcomes, skipped };
  } finally {
    await policies.close();
  }
}

/** One request decided again, with the input the policy evaluated (none when the sidecar decided alone). */
export interface ReplayedDecision extends DryRunAnswer {
  readonly decisionId: string;
  readonly messages: readonly string[];
  readonly sequence: number;
  readonly input: PolicyInput | undefined;
}

/**
 * Decides one Check-shaped request under `policy` over the reader's current state, as a sidecar would,
 * keeping the input the policy saw: what an explanation evaluates again with `opa eval --explain`.
 *
 * @throws {DryRunRequestError}
 */
export async function replayDecision(options: {
  readonly reader: EntitlementReader;
  readonly logger: Logger;
  readonly pool: EvaluationPool;
  readonly tenantId: string;
  readonly policy: CompiledPolicy;
  readonly request: unknown;
  readonly identifiers?: Pick<IdentifierResolver, 'resolveSubject'> | undefined;
  /** The app's stored resources, for `input.resource.stored` as the sidecars give it. */
  readonly resources?: StoredResources | undefined;
}): Promise<ReplayedDecision> {
  const request = parseRequest(options.tenantId, options.request, 0, 'request');
  const policies = new PolicyRegistry({ pool: options.pool });
  try {
    await policies.install(options.policy);
    let input: PolicyInput | undefined;
    const decider = new Decider({
      reader: options.reader,
      policies,
      logger: options.logger,
      identifiers: options.identifiers,
      resources: options.resources,
      observer: {
        decided: (_tenant, _decision, about) => {
          input = about.input?.();
        },
        timed: () => undefined,
      },
    });
    const result = await decider.check(request);
    return {
      decisionId: result.decision.decisionId,
      decision: result.decision.kind,
      reasons: result.decision.reasons.map((r) => r.code),
      messages: result.decision.reasons.map((r) => r.message),
      policyVersion: result.policyVersion,
      sequence: result.sequence,
      input,
    };
  } finally {
    await policies.close();
  }
}

function parseRequest(tenantId: string, value: unknown, index: number, name?: string): CheckRequest {
  const at = name ?? `requests[${index}]`;
  const r = record(value, at);
  const subject = record(r['subject'], `${at}.subject`);
  let checkSubject: CheckSubject;
  if (typeof subject['user_id'] === 'string' && subject['user_id'] !== '') {
    checkSubject = { kind: 'user', userId: subject['user_id'] };
  } else if (typeof subject['session_id'] === 'string' && subject['session_id'] !== '') {
    checkSubject = { kind: 'session', sessionId: subject['session_id'] };
  } else if (typeof subject['identifier'] === 'object' && subject['identifier'] !== null) {
    const { type, id } = subject['identifier'] as Record<string, unknown>;
    if (typeof type !== 'string' || type === '' || typeof id !== 'string' || id === '') {
      throw new DryRunRequestError(`${at}.subject.identifier needs type and id`);
    }
    checkSubject = { kind: 'identifier', type, id };
  } else {
    throw new DryRunRequestError(`${at}.subject needs user_id, session_id or identifier`);
  }
  const action = record(r['action'], `${at}.action`);
  const resource = record(r['resource'], `${at}.resource`);
  const context = r['context'] === undefined ? {} : record(r['context'], `${at}.context`);
  if (typeof action['name'] !== 'string' || action['name'] === '') {
    throw new DryRunRequestError(`${at}.action.name is required`);
  }
  if (typeof resource['type'] !== 'string' || resource['type'] === '') {
    throw new DryRunRequestError(`${at}.resource.type is required`);
  }
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    tenantId,
    subject: checkSubject,
    action: { name: action['name'], properties: optionalRecord(action['properties']) },
    resource: {
      type: resource['type'],
      id: text(resource['id']) ?? '',
      properties: optionalRecord(resource['properties']),
    },
    context: {
      ip: text(context['ip']),
      userAgent: text(context['user_agent']),
      deviceId: text(context['device_id']),
      attributes: optionalRecord(context['attributes']),
    },
    minSequence: 0,
  };
}

function record(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DryRunRequestError(`${at} must be an object`);
  }
  return value as Record<string, unknown>;
}

function optionalRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

import type { Reason } from './policy_decision.js';

/** A rule of the bundle whose body succeeded while deciding. */
export interface FiredRule {
  /** `tenant`: the tenant's own modules; `platform`: the platform rules every tenant gets. */
  readonly origin: 'tenant' | 'platform';
  readonly rule: string;
  /** The module's file name as uploaded (tenant) or in the platform folder. */
  readonly file: string;
  readonly row: number;
  /** What the rule produced here, when it is a value (a reason, a requirement, `true`). */
  readonly value?: unknown;
}

/** One reason of the decision and the rules that produced it. */
export interface ExplainedReason extends Reason {
  readonly rules: readonly FiredRule[];
  /** Why no rule is listed (a decision made by the absence of a rule). */
  readonly note?: string;
}

/** `opa eval --explain full` of one input, read back as rules rather than trace events. */
export interface PolicyExplanation {
  /** The decision the evaluation reached (the same bundle, the same input as the Wasm's). */
  readonly decision: string;
  readonly reasons: readonly ExplainedReason[];
  /** Every rule that succeeded, in evaluation order, once per file, row and value. */
  readonly fired: readonly FiredRule[];
  /** More rules fired than are listed. */
  readonly truncated: boolean;
}

/** A trace event of `opa eval --format json --explain full` (only the members read here). */
interface TraceEvent {
  readonly Op?: string;
  readonly Node?: { readonly head?: RuleHead };
  readonly Location?: { readonly file?: string; readonly row?: number };
  readonly Locals?: readonly { readonly name?: string; readonly type?: string; readonly value?: unknown }[] | null;
}

interface RuleHead {
  readonly name?: string;
  readonly ref?: readonly Term[];
  readonly key?: Term;
  readonly value?: Term;
  readonly args?: readonly Term[];
}

interface Term {
  readonly type?: string | undefined;
  readonly value?: unknown;
}

export const MAX_LISTED_RULES = 200;

/** The tenant's rules the platform reads (the contract, policies/README.md). */
const REQUIREMENT_REASONS = new Set([
  'AUTHENTICATION_REQUIRED',
  'AUTHN_LEVEL_INSUFFICIENT',
  'AUTHN_METHOD_INSUFFICIENT',
  'AUTHN_TOO_OLD',
  'DEVICE_NOT_COMPLIANT',
  'RISK_TOO_HIGH',
]);

/**
 * Reads the rules that fired out of a full trace, and attributes each reason of the decision to the rules
 * that produced it: a platform rule whose head names the reason's code, and the tenant's contract rule it
 * came from (`deny` for a denial, `requirement` for a step-up, `allow` for an allowed request).
 *
 * @param files maps a trace's file path to where it came from and its name as the tenant knows it
 */
export function explainTrace(
  output: unknown,
  files: (path: string) => { readonly origin: FiredRule['origin']; readonly file: string } | undefined,
): PolicyExplanation {
  const { result, explanation } = output as { result?: unknown; explanation?: unknown };
  const value = (result as { expressions?: { value?: unknown }[] }[] | undefined)?.[0]?.expressions?.[0]?.value as
    { decision?: unknown; reasons?: unknown } | undefined;
  const decision = typeof value?.decision === 'string' ? value.decision : 'undefined';
  const reasons = Array.isArray(value?.reasons) ? (value.reasons as Reason[]) : [];

  const fired: FiredRule[] = [];
  const seen = new Set<string>();
  let truncated = false;
  for (const event of Array.isArray(explanation) ? (explanation as TraceEvent[]) : []) {
    const head = event.Node?.head;
    // Functions (the platform's reason() and the like) are how a rule computes, not what decided.
    if (event.Op !== 'Exit' || head === undefined || head.args !== undefined) continue;
    const where = files(event.Location?.file ?? '');
    if (where === undefined) continue;
    const rule = head.name ?? refName(head.ref) ?? '';
    const locals = new Map(
      (event.Locals ?? []).map((l): [string, Term] => [l.name ?? '', { type: l.type, value: l.value }]),
    );
    const produced = headValue(head, locals);
    const entry: FiredRule = {
      origin: where.origin,
      rule,
      file: where.file,
      row: event.Location?.row ?? 0,
      ...(produced === undefined ? {} : { value: produced }),
    };
    const key = JSON.stringify(entry);
    if (seen.has(key)) continue;
    seen.add(key);
    if (fired.length >= MAX_LISTED_RULES) {
      truncated = true;
      continue;
    }
    fired.push(entry);
  }
  return { decision, reasons: reasons.map((r) => explainReason(r, fired)), fired, truncated };
}

function explainReason(reason: Reason, fired: readonly FiredRule[]): ExplainedReason {
  const tenant = (name: string): FiredRule[] => fired.filter((r) => r.origin === 'tenant' && r.rule === name);
  const platform = fired.filter((r) => r.origin === 'platform' && codeOf(r.value) === reason.code);
  // The branch of the platform's `decision` that answered (which kind of outcome won).
  const rules = [...platform, ...fired.filter((r) => r.origin === 'platform' && r.rule === 'decision')];
  if (REQUIREMENT_REASONS.has(reason.code)) rules.push(...tenant('requirement'));
  if (reason.code === 'POLICY_ALLOWED') rules.push(...tenant('allow'));
  if (reason.code === 'POLICY_RESULT_INVALID') {
    rules.push(...fired.filter((r) => r.origin === 'platform' && r.rule === 'contract_violations'));
  }
  // A tenant denial: `deny` values are a code object, or a string that becomes POLICY_DENIED with it as message.
  rules.push(
    ...tenant('deny').filter((r) =>
      typeof r.value === 'string'
        ? reason.code === 'POLICY_DENIED' && r.value === reason.message
        : codeOf(r.value) === reason.code,
    ),
  );
  if (reason.code !== 'POLICY_DENIED' || rules.some((r) => r.origin === 'tenant')) return { ...reason, rules };
  return { ...reason, rules, note: "no `allow` rule of the tenant's policy succeeded for this input" };
}

/** A reason's code in what a rule produced: `{"code": ...}` or the platform's `reason("CODE", ...)`. */
function codeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function refName(ref: readonly Term[] | undefined): string | undefined {
  const first = ref?.[0]?.value;
  return typeof first === 'string' ? first : undefined;
}

/** The partial set's key or the rule's value, where the trace has it as a value. */
function headValue(head: RuleHead, locals: ReadonlyMap<string, Term | undefined>): unknown {
  const term = head.key ?? head.value;
  if (term === undefined) return undefined;
  if (term.type === 'var') return termValue(locals.get(String(term.value)));
  if (term.type === 'call') {
    // The platform's reasons: reason("CODE", "message").
    const [, code, message] = term.value as Term[];
    return code?.type === 'string' ? { code: code.value, message: message?.value } : undefined;
  }
  return termValue(term);
}

/** An AST term as a value, when it is one (no refs, vars or calls left). */
function termValue(term: Term | undefined): unknown {
  if (term === undefined) return undefined;
  switch (term.type) {
    case 'null':
    case 'boolean':
    case 'number':
    case 'string':
      return term.value;
    case 'array':
    case 'set': {
      const items = (term.value as Term[]).map(termValue);
      return items.includes(undefined) ? undefined : items;
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of term.value as [Term, Term][]) {
        const key = termValue(k);
        const value = termValue(v);
        if (typeof key !== 'string' || value === undefined) return undefined;
        out[key] = value;
      }
      return out;
    }
    default:
      return undefined;
  }
}

import { z } from 'zod';
import type { CompileProblem } from './errors.js';

/**
 * The rules of a tenant's package that the platform reads (policies/README.md),
 * and the type of each. The platform rules check the same contract on every
 * decision (policies/ipsie/authz.rego, `contract_violations`) for values
 * computed from the input; this module refuses, at upload, rules whose form
 * or constant values cannot fit. Published as JSON Schema in
 * docs/schemas/tenant-rules.schema.json.
 */

const reasonCode = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'a reason code is UPPER_SNAKE_CASE, at most 64 characters');

export const tenantReasonSchema = z.union([
  z.string().min(1).describe('a denial with reason POLICY_DENIED and this message'),
  z.strictObject({ code: reasonCode, message: z.string().optional() }),
]);

const nonEmptyStrings = z.array(z.string().min(1));

export const tenantRequirementSchema = z
  .strictObject({
    acr_values: nonEmptyStrings
      .describe('acceptable acr values; the session acr must be one or rank at least as high')
      .optional(),
    amr: nonEmptyStrings.describe('authentication methods the session must include').optional(),
    max_age: z.int().nonnegative().describe('seconds since auth_time').optional(),
    device_compliant: z.boolean().describe('true: the device must be reported compliant').optional(),
    max_risk: z.enum(['low', 'medium', 'high']).describe('the highest user risk level accepted').optional(),
  })
  .describe('what one request needs of the session and its posture');

/** One entry per rule the platform reads: its JSON type and the Rego forms that may define it. */
export const TENANT_RULES = {
  allow: {
    schema: z.boolean().describe('nothing is allowed unless allow is true'),
    forms: ['complete'],
  },
  deny: {
    schema: tenantReasonSchema,
    forms: ['multi-value'],
  },
  requirement: {
    schema: tenantRequirementSchema,
    forms: ['complete', 'multi-value'],
  },
  acr_rank: {
    schema: z.record(z.string().min(1), z.number()).describe('extra acr values and their strength'),
    forms: ['complete', 'partial-object'],
  },
} as const satisfies Record<string, { schema: z.ZodType; forms: readonly RuleForm[] }>;

export type TenantRuleName = keyof typeof TENANT_RULES;

/** How a rule is written: `p := v`, `p contains v`, `p[k] := v`, `f(x) := v`. */
type RuleForm = 'complete' | 'multi-value' | 'partial-object' | 'function';

/** The JSON Schema of the document the tenant's rules make up (a Rego set is an array here). */
export function tenantRulesJsonSchema(): Record<string, unknown> {
  const document = z
    .strictObject({
      allow: TENANT_RULES.allow.schema.optional(),
      deny: z.array(TENANT_RULES.deny.schema).describe('a set: `deny contains reason if { ... }`').optional(),
      requirement: z
        .union([tenantRequirementSchema, z.array(tenantRequirementSchema).describe('`requirement contains {...}`')])
        .describe('several requirements that apply to one request merge to the strictest')
        .optional(),
      acr_rank: TENANT_RULES.acr_rank.schema.optional(),
    })
    .describe("The rules of a tenant's package (tenants.<tenant>) that the ipsie-sidecar platform reads.");
  return {
    ...z.toJSONSchema(document, { target: 'draft-2020-12', io: 'input' }),
    $id: 'https://ipsie-sidecar.dev/schemas/tenant-rules.schema.json',
    title: 'ipsie-sidecar tenant rules',
  };
}

// --- checking parsed modules ---------------------------------------------------

/** The parts of `opa parse --format json` output this check reads. */
export interface ParsedModule {
  readonly package: { readonly path: readonly AstTerm[]; readonly location?: AstLocation };
  readonly rules?: readonly AstRule[];
}

interface AstRule {
  readonly head: AstHead;
  readonly default?: boolean;
  readonly else?: AstRule;
}

interface AstHead {
  readonly ref: readonly AstTerm[];
  readonly key?: AstTerm | null;
  readonly value?: AstTerm | null;
  readonly args?: readonly AstTerm[] | null;
  readonly location?: AstLocation;
}

interface AstTerm {
  readonly type: string;
  readonly value: unknown;
  readonly location?: AstLocation;
}

interface AstLocation {
  readonly row: number;
  readonly col: number;
}

/** A value the parser cannot know before evaluation (a variable, a reference, a call). */
const UNKNOWN: unique symbol = Symbol('unknown');
type Known = null | boolean | number | string | typeof UNKNOWN | Known[] | { [key: string]: Known };

const CONTRACT_ERROR = 'rego_contract_error';

/**
 * Every way the tenant's modules break the contract that can be seen before
 * evaluation: a contract rule written in the wrong form (`deny if`, a
 * function), a constant value of the wrong type or an unknown key, two
 * complete `requirement` rules (they would conflict when both apply), or a
 * sub-package that shadows a contract rule.
 *
 * @param modules file name (as the tenant named it) -> parsed module
 */
export function checkTenantRules(tenantId: string, modules: ReadonlyMap<string, ParsedModule>): CompileProblem[] {
  const problems: CompileProblem[] = [];
  const completeRequirements: { file: string; where: AstLocation | undefined }[] = [];
  for (const [file, module] of modules) {
    const pkg = packagePath(module);
    if (pkg[0] !== 'tenants' || pkg[1] !== tenantId) continue;
    if (pkg.length > 2) {
      const shadowed = pkg[2];
      if (shadowed !== undefined && Object.hasOwn(TENANT_RULES, shadowed)) {
        problems.push(
          located(
            file,
            module.package.location,
            `package ${pkg.join('.')} takes the place of the rule "${shadowed}" the platform reads`,
          ),
        );
      }
      continue;
    }
    for (const rule of module.rules ?? []) {
      const name = ruleName(rule);
      if (name === undefined || !Object.hasOwn(TENANT_RULES, name)) continue;
      const contract = TENANT_RULES[name as TenantRuleName];
      const form = ruleForm(rule);
      const where = rule.head.location ?? rule.head.ref[0]?.location;
      if (!(contract.forms as readonly RuleForm[]).includes(form)) {
        problems.push(located(file, where, formProblem(name as TenantRuleName, form)));
        continue;
      }
      if (name === 'requirement' && form === 'complete' && rule.default !== true) {
        completeRequirements.push({ file, where });
      }
      for (const definition of withElses(rule)) {
        const term = form === 'multi-value' ? definition.head.key : definition.head.value;
        if (term === undefined || term === null) continue;
        const schema = form === 'partial-object' ? TENANT_RULES.acr_rank.schema.valueType : contract.schema;
        const path = form === 'partial-object' ? `${name}[${JSON.stringify(known(definition.head.ref[1]))}]` : name;
        const problem = checkKnown(schema, known(term), path);
        if (problem !== undefined) {
          problems.push(located(file, term.location ?? definition.head.location ?? where, problem));
        }
      }
    }
  }
  if (completeRequirements.length > 1) {
    const [, second] = completeRequirements;
    problems.push(
      located(
        second?.file ?? '',
        second?.where,
        '"requirement" is defined by more than one complete rule; two that apply to the same request would ' +
          'conflict. Write each as `requirement contains {...} if { ... }`: requirements that apply together ' +
          'merge to the strictest',
      ),
    );
  }
  return problems;
}

function formProblem(name: TenantRuleName, form: RuleForm): string {
  switch (name) {
    case 'allow':
      return `"allow" must be a boolean rule (\`allow if { ... }\`), not ${describeForm(form)}`;
    case 'deny':
      return `"deny" must be a set of reasons (\`deny contains reason if { ... }\`), not ${describeForm(form)}`;
    case 'requirement':
      return `"requirement" must be an object (\`requirement := {...} if { ... }\`) or a set of them (\`requirement contains {...} if { ... }\`), not ${describeForm(form)}`;
    case 'acr_rank':
      return `"acr_rank" must be an object of acr -> number, not ${describeForm(form)}`;
  }
}

function describeForm(form: RuleForm): string {
  switch (form) {
    case 'complete':
      return 'a single value (`:=` / `if`)';
    case 'multi-value':
      return 'a set (`contains`)';
    case 'partial-object':
      return 'an object built key by key or a nested reference';
    case 'function':
      return 'a function';
  }
}

function ruleForm(rule: AstRule): RuleForm {
  const { head } = rule;
  if (head.args !== undefined && head.args !== null && head.args.length > 0) return 'function';
  if (head.ref.length > 1) return 'partial-object';
  if (head.key !== undefined && head.key !== null && (head.value === undefined || head.value === null)) {
    return 'multi-value';
  }
  return 'complete';
}

function ruleName(rule: AstRule): string | undefined {
  const first = rule.head.ref[0];
  return first?.type === 'var' && typeof first.value === 'string' ? first.value : undefined;
}

function* withElses(rule: AstRule): Generator<AstRule> {
  for (let r: AstRule | undefined = rule; r !== undefined; r = r.else) yield r;
}

function packagePath(module: ParsedModule): string[] {
  // The first term is `data`; the rest are string terms.
  return module.package.path.slice(1).map((t) => String(t.value));
}

/** The constant parts of a term; anything computed is UNKNOWN. */
function known(term: AstTerm | undefined): Known {
  if (term === undefined) return UNKNOWN;
  switch (term.type) {
    case 'null':
      return null;
    case 'boolean':
    case 'number':
    case 'string':
      return term.value as boolean | number | string;
    case 'array':
    case 'set':
      return (term.value as AstTerm[]).map(known);
    case 'object': {
      const entries = term.value as [AstTerm, AstTerm][];
      const object: Record<string, Known> = {};
      for (const [key, value] of entries) {
        // A computed key could be anything: nothing about the object's keys is known.
        if (key.type !== 'string') return UNKNOWN;
        object[key.value as string] = known(value);
      }
      return object;
    }
    default:
      return UNKNOWN;
  }
}

/**
 * Checks what is known of a value against a schema: unknown parts pass (the
 * platform checks them at evaluation), known ones must fit.
 */
function checkKnown(schema: z.ZodType, value: Known, path: string): string | undefined {
  if (value === UNKNOWN) return undefined;
  if (schema instanceof z.ZodOptional) return checkKnown(schema.unwrap() as z.ZodType, value, path);
  if (schema instanceof z.ZodUnion) {
    const problems = (schema.options as z.ZodType[]).map((option) => checkKnown(option, value, path));
    return problems.includes(undefined) ? undefined : problems[problems.length - 1];
  }
  if (schema instanceof z.ZodObject && isRecord(value)) {
    const shape = schema.shape as Record<string, z.ZodType>;
    for (const [key, member] of Object.entries(value)) {
      const memberSchema = shape[key];
      if (memberSchema === undefined) {
        return `${path} has the unknown key "${key}" (known: ${Object.keys(shape).join(', ')})`;
      }
      const problem = checkKnown(memberSchema, member, `${path}.${key}`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (schema instanceof z.ZodRecord && isRecord(value)) {
    for (const [key, member] of Object.entries(value)) {
      const problem = checkKnown(schema.valueType as z.ZodType, member, `${path}[${JSON.stringify(key)}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (schema instanceof z.ZodArray && Array.isArray(value)) {
    for (const [i, element] of value.entries()) {
      const problem = checkKnown(schema.element as z.ZodType, element, `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (containsUnknown(value)) return shapeProblem(schema, value, path);
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  const at = issue === undefined || issue.path.length === 0 ? '' : `.${issue.path.join('.')}`;
  return `${path}${at}: ${JSON.stringify(value)} does not fit (${issue?.message ?? 'invalid'})`;
}

/** A partly known value where the schema wants a scalar or another shape. */
function shapeProblem(schema: z.ZodType, value: Known, path: string): string | undefined {
  const kind = Array.isArray(value) ? 'an array or set' : 'an object';
  const result = schema.safeParse(Array.isArray(value) ? [] : {});
  return result.success ? undefined : `${path} is ${kind}, which does not fit`;
}

function containsUnknown(value: Known): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (isRecord(value)) return Object.values(value).some(containsUnknown);
  return false;
}

function isRecord(value: Known): value is Record<string, Known> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function located(file: string, where: AstLocation | undefined, message: string): CompileProblem {
  return { file, row: where?.row, col: where?.col, code: CONTRACT_ERROR, message };
}

import { AuthzenRequestError } from './errors.js';

export interface AuthzenSubject {
  readonly type: string;
  readonly id: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface AuthzenResource {
  readonly type: string;
  readonly id: string;
  readonly properties: Readonly<Record<string, unknown>>;
  /** Every other member the caller sent (the Todo interop's `userID`, for one): the policy sees them too. */
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface AuthzenAction {
  readonly name: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface AuthzenEvaluation {
  readonly subject: AuthzenSubject;
  readonly action: AuthzenAction;
  readonly resource: AuthzenResource;
  readonly context: Readonly<Record<string, unknown>>;
}

export type EvaluationsSemantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

/** One item of an evaluations request: its 4-tuple, or why it is not one (answered `decision: false`). */
export type EvaluationItem =
  { readonly ok: true; readonly value: AuthzenEvaluation } | { readonly ok: false; readonly message: string };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** @throws {AuthzenRequestError} naming the field */
export function parseEvaluation(body: unknown): AuthzenEvaluation {
  if (!isObject(body)) throw new AuthzenRequestError('the request body must be a JSON object');
  return evaluationOf(body, '');
}

/**
 * `POST /access/v1/evaluations`: the top-level subject, action, resource and
 * context are defaults for each item; without items it is one evaluation.
 *
 * @throws {AuthzenRequestError} for what concerns the whole payload
 */
export function parseEvaluations(body: unknown): {
  readonly items: readonly EvaluationItem[] | undefined;
  readonly single: AuthzenEvaluation | undefined;
  readonly semantic: EvaluationsSemantic;
} {
  if (!isObject(body)) throw new AuthzenRequestError('the request body must be a JSON object');
  const options = body['options'];
  if (options !== undefined && !isObject(options)) throw new AuthzenRequestError('"options" must be an object');
  const semantic = options?.['evaluations_semantic'] ?? 'execute_all';
  if (semantic !== 'execute_all' && semantic !== 'deny_on_first_deny' && semantic !== 'permit_on_first_permit') {
    throw new AuthzenRequestError(
      '"options.evaluations_semantic" must be execute_all, deny_on_first_deny or permit_on_first_permit',
    );
  }
  const evaluations = body['evaluations'];
  if (evaluations !== undefined && !Array.isArray(evaluations)) {
    throw new AuthzenRequestError('"evaluations" must be an array');
  }
  if (evaluations === undefined || evaluations.length === 0) {
    return { items: undefined, single: evaluationOf(body, ''), semantic };
  }
  const defaults: Json = {};
  for (const key of ['subject', 'action', 'resource', 'context']) {
    if (body[key] !== undefined) defaults[key] = body[key];
  }
  const items = evaluations.map((item: unknown, i): EvaluationItem => {
    try {
      if (!isObject(item)) throw new AuthzenRequestError(`evaluations[${i}] must be an object`);
      return { ok: true, value: evaluationOf({ ...defaults, ...item }, `evaluations[${i}].`) };
    } catch (error) {
      if (!(error instanceof AuthzenRequestError)) throw error;
      return { ok: false, message: error.message };
    }
  });
  return { items, single: undefined, semantic };
}

/** Subject search: subject `type` required, its `id` ignored. @throws {AuthzenRequestError} */
export function parseSubjectSearch(body: unknown): {
  readonly evaluation: Omit<AuthzenEvaluation, 'subject'> & { readonly subjectType: string };
  readonly pageToken: string | undefined;
  readonly limit: number | undefined;
} {
  if (!isObject(body)) throw new AuthzenRequestError('the request body must be a JSON object');
  const subject = body['subject'];
  if (!isObject(subject) || typeof subject['type'] !== 'string' || subject['type'] === '') {
    throw new AuthzenRequestError('"subject.type" is required (a string)');
  }
  const { action, resource, context } = evaluationOf({ ...body, subject: { type: subject['type'], id: '*' } }, '');
  const page = pageOf(body);
  return {
    evaluation: { subjectType: subject['type'], action, resource, context },
    pageToken: page.token,
    limit: page.limit,
  };
}

/** Resource search: resource `type` required, its `id` ignored. @throws {AuthzenRequestError} */
export function parseResourceSearch(body: unknown): {
  readonly evaluation: Omit<AuthzenEvaluation, 'resource'> & { readonly resourceType: string };
  readonly page: PageRequest;
} {
  if (!isObject(body)) throw new AuthzenRequestError('the request body must be a JSON object');
  const resource = body['resource'];
  if (!isObject(resource) || typeof resource['type'] !== 'string' || resource['type'] === '') {
    throw new AuthzenRequestError('"resource.type" is required (a string)');
  }
  const { subject, action, context } = evaluationOf({ ...body, resource: { ...resource, id: '*' } }, '');
  return { evaluation: { subject, action, context, resourceType: resource['type'] }, page: pageOf(body) };
}

/** Action search: no action. @throws {AuthzenRequestError} */
export function parseActionSearch(body: unknown): {
  readonly evaluation: Omit<AuthzenEvaluation, 'action'>;
  readonly page: PageRequest;
} {
  if (!isObject(body)) throw new AuthzenRequestError('the request body must be a JSON object');
  const { subject, resource, context } = evaluationOf({ ...body, action: { name: '*' } }, '');
  return { evaluation: { subject, resource, context }, page: pageOf(body) };
}

export interface PageRequest {
  readonly token: string | undefined;
  readonly limit: number | undefined;
}

function pageOf(body: Json): PageRequest {
  const page = body['page'];
  if (page !== undefined && !isObject(page)) throw new AuthzenRequestError('"page" must be an object');
  const token = page?.['next_token'] ?? page?.['token'];
  if (token !== undefined && typeof token !== 'string')
    throw new AuthzenRequestError('"page.next_token" must be a string');
  const limit = page?.['limit'];
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0)) {
    throw new AuthzenRequestError('"page.limit" must be a non-negative integer');
  }
  // 0 sets no limit of the caller's: the PDP's page size applies.
  return { token: token === '' ? undefined : token, limit: limit === 0 ? undefined : limit };
}

function evaluationOf(body: Json, at: string): AuthzenEvaluation {
  const subject = entity(body['subject'], `${at}subject`, 'id');
  const resource = entity(body['resource'], `${at}resource`, 'id');
  const action = body['action'];
  if (!isObject(action)) throw new AuthzenRequestError(`"${at}action" is required (an object)`);
  if (typeof action['name'] !== 'string' || action['name'] === '') {
    throw new AuthzenRequestError(`"${at}action.name" is required (a string)`);
  }
  const context = body['context'] ?? {};
  if (!isObject(context)) throw new AuthzenRequestError(`"${at}context" must be an object`);
  return {
    subject: { type: subject.type, id: subject.id, properties: subject.properties },
    resource: { type: resource.type, id: resource.id, properties: resource.properties, fields: resource.fields },
    action: { name: action['name'], properties: properties(action['properties'], `${at}action.properties`) },
    context,
  };
}

function entity(
  value: unknown,
  at: string,
  idKey: 'id',
): {
  type: string;
  id: string;
  properties: Readonly<Record<string, unknown>>;
  fields: Readonly<Record<string, unknown>>;
} {
  if (!isObject(value)) throw new AuthzenRequestError(`"${at}" is required (an object)`);
  if (typeof value['type'] !== 'string' || value['type'] === '') {
    throw new AuthzenRequestError(`"${at}.type" is required (a string)`);
  }
  if (typeof value[idKey] !== 'string' || value[idKey] === '') {
    throw new AuthzenRequestError(`"${at}.${idKey}" is required (a string)`);
  }
  const fields = Object.fromEntries(
    Object.entries(value).filter(([key]) => key !== 'type' && key !== idKey && key !== 'properties'),
  );
  return {
    type: value['type'],
    id: value[idKey],
    properties: properties(value['properties'], `${at}.properties`),
    fields,
  };
}

function properties(value: unknown, at: string): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new AuthzenRequestError(`"${at}" must be an object`);
  return value;
}

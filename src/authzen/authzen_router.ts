import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { CheckRequest, CheckResult, CheckSubject, Decider } from '../check/index.js';
import type { IdentifierResolver } from '../identifiers/index.js';
import { httpFailureOf, logFailure, readRequestBody } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { stepUpChallenge } from '../session/index.js';
import type { DirectoryReader, ResourceReader, UserRecord } from '../store/index.js';
import { isTenantKey } from '../tenant_id.js';
import { AuthzenRequestError } from './errors.js';
import {
  parseActionSearch,
  parseEvaluation,
  parseEvaluations,
  parseResourceSearch,
  parseSubjectSearch,
} from './authzen_request.js';
import type { AuthzenEvaluation, AuthzenSubject } from './authzen_request.js';
import { AuthzenPdpUnknownError, AuthzenUnauthorizedError } from './errors.js';
import { TokenDigests, bearerToken } from '../bearer_token.js';

export interface AuthzenRouterOptions {
  readonly decider: Pick<Decider, 'check'>;
  readonly directory: Pick<DirectoryReader, 'usersPage' | 'groupsPage' | 'user'>;
  /** The app's stored resources (docs/resources.md): resource search lists them, subject search may start from their relations. */
  readonly resources?: Pick<ResourceReader, 'resourcesAfter' | 'resourceIdsRelatedTo' | 'userIdsRelatedTo'>;
  /**
   * tenant id -> where search candidates come from: `all` (every user, every stored resource of the type) or
   * `related` (only those holding a relation: the subject's resources, the resource's users). Absent: `all`.
   */
  readonly searchCandidates?: ReadonlyMap<string, 'all' | 'related'>;
  /** Most candidates one search page decides by the policy. @defaultValue 1000 */
  readonly maxCandidates?: number;
  /** Most `parent` steps a relation is inherited over. @defaultValue 8 */
  readonly maxDepth?: number;
  /** What each tenant's subject types mean, and how its users are named in search results. */
  readonly identifiers: Pick<IdentifierResolver, 'subjectType' | 'identifierOf' | 'resolveSubject'>;
  /** tenant id -> the actions action search tries. */
  readonly actions: ReadonlyMap<string, readonly string[]>;
  /** tenant id -> SHA-256 (hex) of its PEPs' bearer tokens. */
  readonly tokens: ReadonlyMap<string, readonly string[]>;
  /**
   * Base URL of this PDP (`IPSIE_AUTHZEN_PUBLIC_URL`); a tenant's PDP identifier is `<base>/<tenant>`.
   * Undefined: the origin the client used.
   */
  readonly publicUrl: string | undefined;
  readonly logger: Logger;
  /** Largest request body, in bytes. @defaultValue 1048576 */
  readonly maxBodyBytes?: number;
}

/** AuthZEN answer for one evaluation. */
interface EvaluationResponse {
  readonly decision: boolean;
  readonly context?: Record<string, unknown>;
}

/** Results per search page unless the caller asks fewer. */
const SEARCH_PAGE = 50;
/** Rows read from the store at once while scanning candidates. */
const SEARCH_BATCH = 100;

/**
 * OpenID AuthZEN Authorization API 1.0 on the sidecar, one PDP per tenant at
 * `/<tenant>/access/v1/…` (metadata at `/.well-known/authzen-configuration/<tenant>`).
 * Each evaluation is a Check through the same Decider as gRPC, so both answer
 * alike; the decision's reasons, id and policy version are in `context`.
 * Callers authenticate with the tenant's AuthZEN bearer token.
 */
export function createAuthzenRouter(options: AuthzenRouterOptions): Middleware {
  const { decider, directory, logger } = options;
  const maxCandidates = options.maxCandidates ?? 1_000;
  const maxDepth = options.maxDepth ?? 8;
  const related = (tenant: string): boolean => options.searchCandidates?.get(tenant) === 'related';
  // Related candidates come from one recursive query over the subject's relations: read a page's worth at once.
  const relatedBatch = Math.min(maxCandidates, 1_000);
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  const tokens = new Map([...options.tokens].map(([tenant, hashes]) => [tenant, hashes]));
  const digests = new Map([...options.tokens].map(([tenant, hashes]) => [tenant, new TokenDigests(hashes)]));
  const router = new Router();

  router.get('/.well-known/authzen-configuration/:tenant', (ctx) => {
    const tenant = ctx.params['tenant'] ?? '';
    if ((tokens.get(tenant)?.length ?? 0) === 0) {
      fail(ctx, new AuthzenPdpUnknownError(`no PDP for tenant ${tenant}`), logger);
      return;
    }
    // Without a configured URL, the one the client used (AuthZEN 1.0 §Metadata: it names the PDP it asked).
    const pdp = `${options.publicUrl ?? `${ctx.protocol}://${ctx.host}`}/${tenant}`;
    ctx.body = {
      policy_decision_point: pdp,
      access_evaluation_endpoint: `${pdp}/access/v1/evaluation`,
      access_evaluations_endpoint: `${pdp}/access/v1/evaluations`,
      search_subject_endpoint: `${pdp}/access/v1/search/subject`,
      search_resource_endpoint: `${pdp}/access/v1/search/resource`,
      search_action_endpoint: `${pdp}/access/v1/search/action`,
    };
  });

  const handle = (path: string, answer: (tenant: string, body: unknown) => Promise<unknown>): void => {
    router.post(`/:tenant/access/v1/${path}`, async (ctx) => {
      const requestId = ctx.get('x-request-id');
      if (requestId !== '') ctx.set('X-Request-ID', requestId);
      const tenant = ctx.params['tenant'] ?? '';
      try {
        if ((tokens.get(tenant)?.length ?? 0) === 0) throw new AuthzenPdpUnknownError(`no PDP for tenant ${tenant}`);
        authenticate(ctx, tenant);
        if (!/^application\/json\s*(;|$)/i.test(ctx.get('content-type'))) {
          throw new AuthzenRequestError('send application/json');
        }
        const text = (await readRequestBody(ctx, limit)).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new AuthzenRequestError(
            text.trim() === '' ? 'the request body is empty' : 'the request body is not JSON',
          );
        }
        ctx.body = await answer(tenant, body);
      } catch (error) {
        fail(ctx, error, logger, { tenant, path });
      }
    });
  };

  handle('evaluation', async (tenant, body) => await evaluate(tenant, parseEvaluation(body)));

  handle('evaluations', async (tenant, body) => {
    const { items, single, semantic } = parseEvaluations(body);
    if (single !== undefined) return await evaluate(tenant, single);
    const evaluations: EvaluationResponse[] = [];
    for (const item of items ?? []) {
      const answer = item.ok
        ? await evaluate(tenant, item.value)
        : { decision: false, context: { error: { status: 400, message: item.message } } };
      evaluations.push(answer);
      if (semantic === 'deny_on_first_deny' && !answer.decision) break;
      if (semantic === 'permit_on_first_permit' && answer.decision) break;
    }
    return { evaluations };
  });

  handle('search/subject', async (tenant, body) => {
    const { evaluation, pageToken, limit: wanted } = parseSubjectSearch(body);
    const type = evaluation.subjectType;
    const settings = options.identifiers.subjectType(tenant, type);
    if (settings === undefined) return { results: [], page: { next_token: '' } };
    // Every result answers `decision: true` when evaluated with it; a user without the identifier results
    // are given in cannot be named to the caller, so it is not listed.
    const keep = async (user: UserRecord): Promise<{ type: string; id: string } | undefined> => {
      const id = options.identifiers.identifierOf(user, settings.resultsIn);
      if (id === undefined) return undefined;
      const answer = await decide(tenant, { kind: 'user', userId: user.id }, evaluation);
      return answer.decision.kind === 'allow' ? { type, id } : undefined;
    };
    const resources = options.resources;
    if (resources !== undefined && related(tenant)) {
      // Candidates from the resource's relations (named users, members of groups named, on it or an ancestor).
      const resource = { type: evaluation.resource.type, id: evaluation.resource.id };
      return await scanKeyed(
        pageToken,
        wanted,
        (after) =>
          resources
            .userIdsRelatedTo(tenant, resource, { after, limit: relatedBatch }, maxDepth)
            .map((id) => ({ key: id, user: directory.user(tenant, id) })),
        async (row) => (row.user === undefined ? undefined : await keep(row.user)),
      );
    }
    return await scan(pageToken, wanted, (offset) => directory.usersPage(tenant, offset, SEARCH_BATCH), keep);
  });

  // The store's users and groups, and the app's own resources of any other type.
  handle('search/resource', async (tenant, body) => {
    const { evaluation, page } = parseResourceSearch(body);
    const type = evaluation.resourceType;
    const ref = subjectOf(tenant, evaluation.subject);
    // A subject of a type the tenant does not declare may do nothing.
    if (ref === undefined) return { results: [], page: { next_token: '' } };
    const named = async (id: string): Promise<{ type: string; id: string } | undefined> => {
      const resource = { type, id, properties: {}, fields: {} };
      const answer = await decide(tenant, ref, { ...evaluation, resource }, evaluation.subject.properties);
      return answer.decision.kind === 'allow' ? { type, id } : undefined;
    };
    if (type === 'user') {
      // Users are named as the tenant's `user` subjects are.
      const resultsIn = options.identifiers.subjectType(tenant, 'user')?.resultsIn ?? 'id';
      return await scan(
        page.token,
        page.limit,
        (offset) => directory.usersPage(tenant, offset, SEARCH_BATCH),
        async (user) => {
          const id = options.identifiers.identifierOf(user, resultsIn);
          return id === undefined ? undefined : await named(id);
        },
      );
    }
    if (type === 'group') {
      return await scan(
        page.token,
        page.limit,
        (offset) => directory.groupsPage(tenant, offset, SEARCH_BATCH),
        async (group) => await named(group.id),
      );
    }
    const resources = options.resources;
    if (resources === undefined) return { results: [], page: { next_token: '' } };
    // A user subject's resources: every stored one of the type, or (`related`) those it holds a relation on.
    const userId = related(tenant) && ref.kind === 'identifier' ? userOf(tenant, ref) : undefined;
    if (related(tenant) && userId === undefined) return { results: [], page: { next_token: '' } };
    return await scanKeyed(
      page.token,
      page.limit,
      (after) =>
        userId === undefined
          ? resources.resourcesAfter(tenant, type, after, SEARCH_BATCH).map((r) => ({ key: r.id }))
          : resources
              .resourceIdsRelatedTo(tenant, userId, { type, relation: undefined, after, limit: relatedBatch }, maxDepth)
              .map((id) => ({ key: id })),
      async (row) => await named(row.key),
    );
  });

  // The policy cannot enumerate actions: the tenant's `authzen.actions` are the candidates.
  handle('search/action', async (tenant, body) => {
    const { evaluation } = parseActionSearch(body);
    const ref = subjectOf(tenant, evaluation.subject);
    // A subject of a type the tenant does not declare may do nothing.
    if (ref === undefined) return { results: [], page: { next_token: '' } };
    const results: { name: string }[] = [];
    for (const name of options.actions.get(tenant) ?? []) {
      const action = { name, properties: {} };
      const answer = await decide(tenant, ref, { ...evaluation, action }, evaluation.subject.properties);
      if (answer.decision.kind === 'allow') results.push({ name });
    }
    return { results, page: { next_token: '' } };
  });

  /** The user an identifier subject names, through the same resolver as a decision; undefined: none. */
  function userOf(tenant: string, ref: CheckSubject): string | undefined {
    if (ref.kind !== 'identifier') return undefined;
    const resolution = options.identifiers.resolveSubject(tenant, ref.type, ref.id);
    return resolution.kind === 'found' ? resolution.userId : undefined;
  }

  /**
   * Pages through a listing in key order, deciding each: at most `maxCandidates` decided per page, and the
   * token is the last key decided (a keyset, stable while rows come and go).
   */
  async function scanKeyed<R extends { readonly key: string }, T>(
    token: string | undefined,
    wanted: number | undefined,
    list: (after: string) => R[],
    keep: (row: R) => Promise<T | undefined>,
  ): Promise<{ results: T[]; page: { next_token: string } }> {
    const pageSize = Math.min(wanted ?? SEARCH_PAGE, 1_000);
    let after = token === undefined ? '' : decodeKey(token);
    const results: T[] = [];
    let decided = 0;
    while (results.length < pageSize && decided < maxCandidates) {
      const rows = list(after);
      if (rows.length === 0) return { results, page: { next_token: '' } };
      for (const row of rows) {
        after = row.key;
        decided++;
        const kept = await keep(row);
        if (kept !== undefined) results.push(kept);
        if (results.length >= pageSize || decided >= maxCandidates) break;
      }
    }
    return { results, page: { next_token: encodeKey(after) } };
  }

  /** Pages through a listing in id order, deciding each; the token is where the scan stopped. */
  async function scan<R, T>(
    token: string | undefined,
    wanted: number | undefined,
    list: (offset: number) => R[],
    keep: (row: R) => Promise<T | undefined>,
  ): Promise<{ results: T[]; page: { next_token: string } }> {
    const pageSize = Math.min(wanted ?? SEARCH_PAGE, 1_000);
    let offset = token === undefined ? 0 : decodeOffset(token);
    const results: T[] = [];
    let scanned = 0;
    while (results.length < pageSize && scanned < maxCandidates) {
      const rows = list(offset);
      if (rows.length === 0) return { results, page: { next_token: '' } };
      for (const row of rows) {
        offset++;
        scanned++;
        const kept = await keep(row);
        if (kept !== undefined) results.push(kept);
        if (results.length >= pageSize || scanned >= maxCandidates) break;
      }
    }
    return { results, page: { next_token: encodeOffset(offset) } };
  }

  function authenticate(ctx: Context, tenant: string): void {
    if (!isTenantKey(tenant) || digests.get(tenant)?.accepts(bearerToken(ctx.get('authorization'))) !== true) {
      throw new AuthzenUnauthorizedError("a Bearer token of this tenant's AuthZEN callers is required");
    }
  }

  async function evaluate(tenant: string, evaluation: AuthzenEvaluation): Promise<EvaluationResponse> {
    const ref = subjectOf(tenant, evaluation.subject);
    if (ref === undefined) {
      return {
        decision: false,
        context: {
          error: {
            status: 400,
            message: `subject type "${evaluation.subject.type}" is not one this tenant declares (nor session)`,
          },
        },
      };
    }
    const result = await decide(tenant, ref, evaluation, evaluation.subject.properties);
    const { decision } = result;
    const context: Record<string, unknown> = {
      decision_id: decision.decisionId,
      policy_version: result.policyVersion,
      reasons: decision.reasons.map((r) => ({ code: r.code, message: r.message })),
    };
    if (decision.kind === 'step_up' && decision.stepUp !== undefined) {
      context['step_up'] = {
        acr_values: decision.stepUp.acrValues,
        ...(decision.stepUp.maxAge === undefined ? {} : { max_age: decision.stepUp.maxAge }),
        authorization_params: decision.stepUp.authorizationParams,
        www_authenticate: stepUpChallenge(decision.stepUp),
      };
    }
    return { decision: decision.kind === 'allow', context };
  }

  async function decide(
    tenant: string,
    subject: CheckSubject,
    evaluation: Omit<AuthzenEvaluation, 'subject'>,
    subjectProperties?: Readonly<Record<string, unknown>>,
  ): Promise<CheckResult> {
    const request: CheckRequest = {
      tenantId: tenant,
      subject,
      action: { name: evaluation.action.name, properties: evaluation.action.properties },
      resource: {
        type: evaluation.resource.type,
        id: evaluation.resource.id,
        properties: evaluation.resource.properties,
        fields: evaluation.resource.fields,
      },
      context: {
        ip: textOf(evaluation.context['ip']),
        userAgent: textOf(evaluation.context['user_agent']),
        deviceId: textOf(evaluation.context['device_id']),
        attributes: evaluation.context,
      },
      minSequence: 0,
      subjectProperties,
    };
    return await decider.check(request);
  }

  /**
   * `session`: a session id; a subject type the tenant declares (`user` and `identity` by default): the one
   * user its identifiers name, resolved by the Decider; any other type: undefined.
   */
  function subjectOf(tenant: string, subject: AuthzenSubject): CheckSubject | undefined {
    if (subject.type === 'session') return { kind: 'session', sessionId: subject.id };
    if (options.identifiers.subjectType(tenant, subject.type) === undefined) return undefined;
    return { kind: 'identifier', type: subject.type, id: subject.id };
  }

  return router.routes() as unknown as Middleware;
}

const textOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** AuthZEN errors: the status of the error's kind, and the body is the error string. */
function fail(ctx: Context, error: unknown, logger: Logger, where: Record<string, unknown> = {}): void {
  const failure = httpFailureOf(error);
  logFailure(logger, failure, error, where, 'AuthZEN request not done');
  if (failure.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="authzen"');
  if (failure.retryAfterS !== undefined) ctx.set('Retry-After', String(failure.retryAfterS));
  ctx.status = failure.status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(failure.message);
}

function encodeKey(key: string): string {
  return Buffer.from(`k:${key}`).toString('base64url');
}

function decodeKey(token: string): string {
  const text = Buffer.from(token, 'base64url').toString();
  if (!text.startsWith('k:')) throw new AuthzenRequestError('"page.next_token" is not a token this PDP issued');
  return text.slice(2);
}

function encodeOffset(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeOffset(token: string): number {
  const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  if (match?.[1] === undefined) throw new AuthzenRequestError('"page.next_token" is not a token this PDP issued');
  return Number(match[1]);
}

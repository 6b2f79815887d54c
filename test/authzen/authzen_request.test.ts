/**
 * AuthZEN 1.0 request bodies (evaluation, evaluations, searches) read into
 * their 4-tuples: what a PEP may leave out, what it may not, and what a
 * hostile body cannot do.
 */
import { describe, expect, it } from 'vitest';
import {
  parseActionSearch,
  parseEvaluation,
  parseEvaluations,
  parseResourceSearch,
  parseSubjectSearch,
} from '../../src/authzen/authzen_request.js';

const subject = { type: 'identity', id: 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' };
const action = { name: 'can_read_todos' };
const resource = { type: 'todo', id: 'todo-1' };

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('not refused');
};

describe('parseEvaluation', () => {
  it('reads the 4-tuple, with empty properties and context when left out', () => {
    expect(parseEvaluation({ subject, action, resource })).toEqual({
      subject: { ...subject, properties: {} },
      action: { name: 'can_read_todos', properties: {} },
      resource: { ...resource, properties: {}, fields: {} },
      context: {},
    });
  });

  it("keeps a resource's other members apart from type, id and properties: none of them can be replaced", () => {
    const parsed = parseEvaluation({
      subject,
      action,
      resource: { ...resource, ownerID: 'rick@the-citadel.com', properties: { x: 1 } },
    });
    expect(parsed.resource).toEqual({
      type: 'todo',
      id: 'todo-1',
      properties: { x: 1 },
      fields: { ownerID: 'rick@the-citadel.com' },
    });
  });

  it('keeps a "__proto__" member as a plain field, polluting nothing', () => {
    const body = JSON.parse(
      '{"subject":{"type":"user","id":"u"},"action":{"name":"a"},"resource":{"type":"t","id":"r","__proto__":{"admin":true}}}',
    ) as unknown;
    const parsed = parseEvaluation(body);
    expect(Object.hasOwn(parsed.resource.fields, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
    expect((parsed.resource.fields as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it.each([
    [[], 'the request body must be a JSON object'],
    [{ action, resource }, '"subject" is required (an object)'],
    [{ subject: { type: 'user' }, action, resource }, '"subject.id" is required (a string)'],
    [{ subject: { type: '', id: 'x' }, action, resource }, '"subject.type" is required (a string)'],
    [{ subject, action: { name: '' }, resource }, '"action.name" is required (a string)'],
    [{ subject, action, resource: { type: 'todo', id: 7 } }, '"resource.id" is required (a string)'],
    [{ subject, action, resource, context: [] }, '"context" must be an object'],
    [{ subject: { ...subject, properties: 'admin' }, action, resource }, '"subject.properties" must be an object'],
  ])('refuses %j, naming the field', (body, message) => {
    expect(refusal(() => parseEvaluation(body))).toBe(message);
  });
});

describe('parseEvaluations', () => {
  it('applies the top-level subject, action, resource and context as defaults an item overrides', () => {
    const { items, semantic } = parseEvaluations({
      subject,
      context: { time: 't' },
      evaluations: [
        { action, resource },
        { action: { name: 'can_delete_todo' }, resource, context: {} },
      ],
    });
    expect(semantic).toBe('execute_all');
    expect(items?.map((i) => (i.ok ? [i.value.action.name, i.value.subject.id, i.value.context] : i))).toEqual([
      ['can_read_todos', subject.id, { time: 't' }],
      ['can_delete_todo', subject.id, {}],
    ]);
  });

  it('answers an item that is not a 4-tuple by itself, naming its index, and reads the others', () => {
    const { items } = parseEvaluations({ subject, evaluations: [{ action, resource }, { resource }, 'x'] });
    expect(items).toEqual([
      expect.objectContaining({ ok: true }),
      { ok: false, message: '"evaluations[1].action" is required (an object)' },
      { ok: false, message: 'evaluations[2] must be an object' },
    ]);
  });

  it('without items (or with none) is one evaluation', () => {
    for (const body of [
      { subject, action, resource },
      { subject, action, resource, evaluations: [] },
    ]) {
      const parsed = parseEvaluations(body);
      expect(parsed.items).toBeUndefined();
      expect(parsed.single?.action.name).toBe('can_read_todos');
    }
  });

  it.each([
    [
      { options: { evaluations_semantic: 'first_match' } },
      'must be execute_all, deny_on_first_deny or permit_on_first_permit',
    ],
    [{ options: 'fast' }, '"options" must be an object'],
    [{ evaluations: {} }, '"evaluations" must be an array'],
  ])('refuses the whole payload for %j', (body, message) => {
    expect(refusal(() => parseEvaluations({ subject, action, resource, ...body }))).toContain(message);
  });
});

describe('searches', () => {
  it('subject search needs the subject type only, and reads page.limit 0 as the PDP page size', () => {
    const parsed = parseSubjectSearch({ subject: { type: 'identity' }, action, resource, page: { limit: 0 } });
    expect(parsed.evaluation.subjectType).toBe('identity');
    expect(parsed.limit).toBeUndefined();
    expect(refusal(() => parseSubjectSearch({ subject: {}, action, resource }))).toBe(
      '"subject.type" is required (a string)',
    );
  });

  it('resource search needs the resource type only; action search needs no action', () => {
    const resources = parseResourceSearch({ subject, action, resource: { type: 'todo' }, page: { next_token: 'p2' } });
    expect(resources.evaluation.resourceType).toBe('todo');
    expect(resources.page).toEqual({ token: 'p2', limit: undefined });
    expect(parseActionSearch({ subject, resource }).evaluation.resource.id).toBe('todo-1');
  });

  it.each([
    [{ limit: -1 }, '"page.limit" must be a non-negative integer'],
    [{ limit: 1.5 }, '"page.limit" must be a non-negative integer'],
    [{ next_token: 5 }, '"page.next_token" must be a string'],
  ])('refuses the page %j', (page, message) => {
    expect(refusal(() => parseActionSearch({ subject, resource, page }))).toBe(message);
  });
});

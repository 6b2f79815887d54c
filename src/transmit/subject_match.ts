/**
 * SSF §8.1.3.1: whether two subjects match. Simple subjects match when
 * identical; complex ones when every member defined in both is identical
 * (a member one of them leaves out is a wildcard). A simple subject and a
 * complex one match when the simple one is identical to one of its members
 * (a receiver names the user it removed; our SETs name user and session).
 */
export function subjectsMatch(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const complexA = a['format'] === 'complex';
  const complexB = b['format'] === 'complex';
  if (!complexA && !complexB) return canonical(a) === canonical(b);
  if (complexA && complexB) {
    const names = new Set([...Object.keys(a), ...Object.keys(b)]);
    names.delete('format');
    return [...names].every((n) => a[n] === undefined || b[n] === undefined || canonical(a[n]) === canonical(b[n]));
  }
  const [simple, complex] = complexA ? [b, a] : [a, b];
  const key = canonical(simple);
  return Object.entries(complex).some(([name, member]) => name !== 'format' && canonical(member) === key);
}

/**
 * A subject as a stream keeps it for a tenant with a customer-managed key: each identifier (the subject, or
 * each member of a complex one) replaced by its keyed lookup hash, so the stream record names nobody, and
 * {@link subjectsMatch} of two keyed subjects says what it says of the subjects themselves.
 */
export function keyedSubject(
  subject: Readonly<Record<string, unknown>>,
  sealer: { lookup(value: string): string } | undefined,
): Readonly<Record<string, unknown>> {
  if (sealer === undefined) return subject;
  const keyed = (identifier: unknown): Record<string, unknown> => ({
    format: 'keyed',
    hash: sealer.lookup(`ssf_subject:${canonical(identifier)}`),
  });
  if (subject['format'] !== 'complex') return keyed(subject);
  return Object.fromEntries(
    Object.entries(subject).map(([name, member]) => [name, name === 'format' ? member : keyed(member)]),
  );
}

/** JSON with object keys sorted: two identical identifiers read the same whatever their member order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

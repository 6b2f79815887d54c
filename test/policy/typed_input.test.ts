/**
 * Policy uploads typed by the tenant's attribute catalog (`opa check --schema` with the real opa): a policy
 * reading an attribute the catalog does not name, or comparing one with a value of another type, is refused
 * with the file and line; a correct one compiles, and the platform rules and the examples fit the schema.
 */
import { describe, expect, it } from 'vitest';
import { attributeCatalog, attributesJsonSchema } from '../../src/attribute_catalog.js';
import type { CatalogAttribute } from '../../src/attribute_catalog.js';
import { PolicyCompiler, policyInputJsonSchema } from '../../src/policy/index.js';
import { examplePolicy, opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';

const compiler = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 30_000 });

const clearance: CatalogAttribute = {
  name: 'clearance_level',
  type: 'integer',
  enum: [1, 2, 3],
  description: 'clearance',
  source: { claim: 'clearance_level' },
  origin: 'tenant',
};
const projects: CatalogAttribute = {
  name: 'projects',
  type: 'string[]',
  description: 'projects',
  source: { claim: 'projects' },
  origin: 'tenant',
};
const inputSchema = policyInputJsonSchema(attributesJsonSchema(attributeCatalog([clearance, projects])));

async function refusal(rego: string, tenantId = 'acme'): Promise<unknown> {
  try {
    await compiler.compile({ tenantId, modules: new Map([['authz.rego', rego]]) }, { inputSchema });
  } catch (error) {
    return error;
  }
  throw new Error('the policy was accepted');
}

describe('policy uploads typed by the attribute catalog', () => {
  it('refuses a policy reading a misspelt attribute, naming its file and line', async () => {
    const error = await refusal(
      'package tenants.acme\n\nallow if {\n\tinput.subject.attributes.departmnet == "R&D"\n}\n',
    );
    expect(error).toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [
        expect.objectContaining({
          file: 'authz.rego',
          row: 4,
          code: 'rego_type_error',
          message: 'undefined ref: input.subject.attributes.departmnet',
        }),
      ],
    });
  });

  it('refuses comparing an integer attribute with a string, naming its file and line', async () => {
    const error = await refusal(
      'package tenants.acme\n\nallow if input.action.name == "read"\n\nallow if {\n\tinput.subject.attributes.clearance_level == "high"\n}\n',
    );
    expect(error).toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row: 6, code: 'rego_type_error' })],
    });
  });

  it('refuses a misspelt member of the input contract itself', async () => {
    const error = await refusal('package tenants.acme\n\nallow if input.subject.user_nmae == "alice"\n');
    expect(error).toMatchObject({ problems: [expect.objectContaining({ file: 'authz.rego', row: 3 })] });
  });

  it('compiles a policy that uses the catalogued attributes as typed, and the open members freely', async () => {
    const compiled = await compiler.compile(
      {
        tenantId: 'acme',
        modules: new Map([
          [
            'authz.rego',
            [
              'package tenants.acme',
              '',
              'allow if {',
              '\tinput.subject.attributes.clearance_level >= 2',
              '\tinput.subject.attributes.department == input.resource.properties.department',
              '\t"apollo" in input.subject.attributes.projects',
              '\tinput.context.ip != "10.0.0.1"',
              '\tinput.session.acr == "phr"',
              '}',
              '',
            ].join('\n'),
          ],
        ]),
      },
      { inputSchema },
    );
    expect(compiled.version).toMatch(/^sha256:/);
  });

  it.each(['acme', 'globex'])('the example policy %s fits the platform defaults', async (tenant) => {
    const schema = policyInputJsonSchema(attributesJsonSchema(attributeCatalog([])));
    await expect(
      compiler.compile(await examplePolicy(tenant), { inputSchema: schema, runTests: true }),
    ).resolves.toMatchObject({ tenantId: tenant });
  });

  it('typeCheck says whether stored sources still fit a changed catalog', async () => {
    const source = {
      tenantId: 'acme',
      modules: new Map([
        ['authz.rego', 'package tenants.acme\n\nallow if input.subject.attributes.clearance_level > 1\n'],
      ]),
    };
    await expect(compiler.typeCheck(source, inputSchema)).resolves.toBeUndefined();
    const without = policyInputJsonSchema(attributesJsonSchema(attributeCatalog([projects])));
    await expect(compiler.typeCheck(source, without)).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row: 3 })],
    });
  });
});

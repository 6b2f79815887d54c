/**
 * The example tenants' people, groups and sessions, as their IdPs would
 * provision them. Used by the demo and the end-to-end tests.
 */
import { randomUUID } from 'node:crypto';
import type { Change } from '../src/changes/index.js';
import type { EntitlementWriter } from '../src/store/index.js';

export interface ExamplePerson {
  readonly id: string;
  readonly userName: string;
  readonly groups: readonly string[];
  readonly attributes: Record<string, unknown>;
}

export interface ExampleTenant {
  readonly id: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly people: Readonly<Record<string, ExamplePerson>>;
}

const person = (
  id: string,
  userName: string,
  groups: string[],
  attributes: Record<string, unknown> = {},
): ExamplePerson => ({
  id,
  userName,
  groups,
  attributes,
});

export const ACME: ExampleTenant = {
  id: 'acme',
  displayName: 'Acme Corp (Entra ID)',
  issuer: 'https://login.microsoftonline.com/acme/v2.0',
  people: {
    alice: person('3f7c1e2a-0001-4a8e-9a51-acme00000001', 'alice@acme.example', ['Engineering Leads'], {
      department: 'R&D',
    }),
    bob: person('3f7c1e2a-0002-4a8e-9a51-acme00000002', 'bob@acme.example', ['Engineering'], { department: 'R&D' }),
    carol: person('3f7c1e2a-0003-4a8e-9a51-acme00000003', 'carol@acme.example', ['Finance'], { department: 'Finance' }),
  },
};

export const GLOBEX: ExampleTenant = {
  id: 'globex',
  displayName: 'Globex (Okta)',
  issuer: 'https://globex.okta.example',
  people: {
    erin: person('7b0d9c44-0001-4f1e-8d2c-globex000001', 'erin@globex.example', ['Engineering'], {
      department: 'R&D',
      title: 'Engineer',
      userType: 'Employee',
    }),
    frank: person('7b0d9c44-0002-4f1e-8d2c-globex000002', 'frank@globex.example', ['Engineering'], {
      department: 'R&D',
      title: 'Manager',
      userType: 'Employee',
    }),
    grace: person('7b0d9c44-0003-4f1e-8d2c-globex000003', 'grace@globex.example', ['Engineering'], {
      department: 'R&D',
      title: 'Manager',
      userType: 'Contractor',
    }),
  },
};

export const EXAMPLE_TENANTS: readonly ExampleTenant[] = [ACME, GLOBEX];

/** Writes the example tenants: users, their IdP bindings, groups and memberships. */
export function provisionExampleTenants(writer: EntitlementWriter): void {
  writer.transaction(() => {
    for (const tenant of EXAMPLE_TENANTS) {
      writer.upsertTenant({ id: tenant.id, displayName: tenant.displayName });
      for (const [handle, p] of Object.entries(tenant.people)) {
        writer.upsertUser({
          tenantId: tenant.id,
          id: p.id,
          userName: p.userName,
          externalId: handle,
          active: true,
          attributes: p.attributes,
          roles: [],
        });
        writer.bindIdentity({ tenantId: tenant.id, issuer: tenant.issuer, subject: `sub-${handle}`, userId: p.id });
        for (const name of p.groups) {
          const groupId = exampleGroupId(tenant, name);
          writer.upsertGroup({ tenantId: tenant.id, id: groupId, displayName: name, externalId: undefined });
          writer.addMember(tenant.id, groupId, p.id);
        }
      }
    }
  });
}

/** A stable id per group name within a tenant. */
export function exampleGroupId(tenant: ExampleTenant, name: string): string {
  const names = [...new Set(Object.values(tenant.people).flatMap((p) => p.groups))];
  return `${tenant.id}-group-${names.indexOf(name) + 1}`;
}

/** The example tenants as the normalized changes an IdP's provisioning would produce. */
export function exampleDirectoryChanges(at = Date.now()): Change[] {
  const envelope = (tenant: string): { v: 1; id: string; tenant: string; at: number } => ({
    v: 1,
    id: randomUUID(),
    tenant,
    at,
  });
  const changes: Change[] = [];
  for (const tenant of EXAMPLE_TENANTS) {
    changes.push({ ...envelope(tenant.id), kind: 'tenant.upsert', data: { display_name: tenant.displayName } });
    const groups = [...new Set(Object.values(tenant.people).flatMap((p) => p.groups))];
    for (const name of groups) {
      changes.push({
        ...envelope(tenant.id),
        kind: 'group.upsert',
        data: { id: exampleGroupId(tenant, name), display_name: name, external_id: null },
      });
    }
    for (const [handle, p] of Object.entries(tenant.people)) {
      changes.push({
        ...envelope(tenant.id),
        kind: 'user.upsert',
        data: {
          id: p.id,
          user_name: p.userName,
          external_id: handle,
          active: true,
          attributes: p.attributes,
          roles: [],
        },
      });
      changes.push({
        ...envelope(tenant.id),
        kind: 'binding.upsert',
        data: { issuer: tenant.issuer, subject: `sub-${handle}`, user_id: p.id },
      });
      for (const name of p.groups) {
        changes.push({
          ...envelope(tenant.id),
          kind: 'member.add',
          data: { group_id: exampleGroupId(tenant, name), user_id: p.id },
        });
      }
    }
  }
  return changes;
}

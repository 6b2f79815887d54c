# The tenant's rules the platform reads, and nothing else of its package.
#
# This module serves `opa test policies/`, where one folder holds several
# tenants and `input.tenant` picks one. A compiled bundle holds exactly one
# tenant: there the compiler replaces this module with one that names the
# tenant's package statically (`data.tenants.acme.allow`), so that
# `opa check` type-checks the tenant's rules where the platform uses them.
# Keep the two in step: src/policy/tenant_binding.ts.
package ipsie.tenant

allow := data.tenants[input.tenant].allow

deny := data.tenants[input.tenant].deny

requirement := data.tenants[input.tenant].requirement

acr_rank := data.tenants[input.tenant].acr_rank

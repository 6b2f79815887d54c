# Platform rules: the IPSIE guardrails every tenant gets and cannot override.
#
# Entry point `ipsie/authz/decision` combines them with the tenant's own
# package `tenants.<tenant>`, read through `data.ipsie.tenant` (tenant.rego;
# policies/README.md for the contract).
# Order of precedence:
#   0. the tenant's rules answered something outside the contract -> deny
#   1. account or session state that makes any access wrong  -> deny
#   2. a session the IdP must renew first                      -> step_up
#   3. the tenant's explicit denials                           -> deny
#   4. nothing in the tenant policy allows the request         -> deny
#   5. the tenant's authentication requirement is not met      -> step_up
#      (or deny, for requirements re-authentication cannot fix)
#   6. allow
# Step-up for a requirement is only asked when the tenant would otherwise
# allow: re-authenticating for a request that stays denied helps nobody.
package ipsie.authz

import data.ipsie.tenant

# --- 0. the tenant's results fit the contract ----------------------------------
#
# Upload refuses rules whose form or constant values do not fit
# (src/policy/tenant_rules_contract.ts); values computed from the input are
# checked here, on every decision. A result that does not fit decides
# nothing: it is never read as "no denial" or "no requirement".

contract_violations contains sprintf("allow is %v, not a boolean", [type_name(value)]) if {
	value := tenant.allow
	not is_boolean(value)
}

contract_violations contains sprintf("deny is %v, not a set of reasons", [type_name(value)]) if {
	value := tenant.deny
	not is_set(value)
}

contract_violations contains sprintf("deny holds %v, not a string or {\"code\", \"message\"}", [json.marshal(d)]) if {
	is_set(tenant.deny)
	some d in tenant.deny
	not valid_reason(d)
}

valid_reason(d) if {
	is_string(d)
	d != ""
}

valid_reason(d) if {
	is_object(d)
	is_string(d.code)
	regex.match(`^[A-Z][A-Z0-9_]{0,63}$`, d.code)
	is_string(object.get(d, "message", ""))
	every key, _ in d {
		key in {"code", "message"}
	}
}

contract_violations contains sprintf("requirement is %v, not an object or a set of objects", [type_name(value)]) if {
	value := tenant.requirement
	not is_object(value)
	not is_set(value)
}

contract_violations contains sprintf("requirement holds %v, not an object", [json.marshal(r)]) if {
	is_set(tenant.requirement)
	some r in tenant.requirement
	not is_object(r)
}

contract_violations contains sprintf("requirement has the unknown key %s", [json.marshal(key)]) if {
	some r in requirements
	some key, _ in r
	not key in requirement_keys
}

contract_violations contains sprintf("requirement.%v must be an array of strings", [key]) if {
	some r in requirements
	some key in {"acr_values", "amr"}
	value := r[key]
	not string_array(value)
}

contract_violations contains "requirement.max_age must be a non-negative integer (seconds)" if {
	some r in requirements
	value := r.max_age
	not non_negative_integer(value)
}

contract_violations contains "requirement.device_compliant must be a boolean" if {
	some r in requirements
	value := r.device_compliant
	not is_boolean(value)
}

contract_violations contains `requirement.max_risk must be one of "low", "medium", "high"` if {
	some r in requirements
	value := r.max_risk
	not valid_risk(value)
}

contract_violations contains "requirements ask for acr values that no single authentication satisfies" if {
	count(required_acr_lists) > 0
	count(merged_acr_values) == 0
}

contract_violations contains sprintf("acr_rank is %v, not an object of acr -> number", [type_name(value)]) if {
	value := tenant.acr_rank
	not is_object(value)
}

contract_violations contains sprintf("acr_rank[%s] is not a number", [json.marshal(acr)]) if {
	is_object(tenant.acr_rank)
	some acr, rank in tenant.acr_rank
	not is_number(rank)
}

requirement_keys := {"acr_values", "amr", "max_age", "device_compliant", "max_risk"}

string_array(value) if {
	is_array(value)
	every v in value {
		is_string(v)
		v != ""
	}
}

non_negative_integer(value) if {
	is_number(value)
	value >= 0
	round(value) == value
}

valid_risk(value) if value in {"low", "medium", "high"}

# --- 1. platform denials ----------------------------------------------------

# Only an explicit `true` is active: a missing or null flag is not.
platform_denials contains reason("ACCOUNT_INACTIVE", "the account is deactivated") if {
	not account_active
}

account_active if input.subject.active == true

platform_denials contains reason("ACCOUNT_DISABLED", "the identity provider reported the account disabled") if {
	input.posture.account.disabled == true
}

platform_denials contains reason("SESSION_REVOKED", "the session was revoked") if {
	input.session.revoked == true
}

# --- 2. session renewal ------------------------------------------------------

# IPSIE SL1: the app session never outlives the assertion's session_expiry.
session_renewals contains reason("SESSION_EXPIRED", "the session has reached its expiry; authenticate again") if {
	input.session.expires_at <= input.now
}

# IPSIE SL2: the IdP (or an admin) asked for re-authentication; only an
# assertion with auth_time after that request satisfies it.
session_renewals contains reason("REAUTHENTICATION_REQUIRED", "re-authentication was requested for this user") if {
	input.session.auth_time < input.subject.reauthenticate_after
}

session_renewals contains reason("REAUTHENTICATION_REQUIRED", "re-authentication was requested for this user") if {
	has_session
	input.subject.reauthenticate_after
	not is_number(input.session.auth_time)
}

# CAEP assurance-level-change with change_direction "decrease": a session
# authenticated before the decrease no longer shows what the IdP now asserts.
session_renewals contains reason("ASSURANCE_LEVEL_DECREASED", "the identity provider lowered the user's assurance level") if {
	has_session
	object.get(input.session, "auth_time", 0) < input.posture.assurance.decreased_at
}

# `null` is a value in Rego, not absence: test the type.
has_session if is_object(input.session)

# --- 3/4. the tenant's rules ---------------------------------------------------

tenant_denials contains r if {
	is_set(tenant.deny)
	some d in tenant.deny
	r := as_reason(d)
}

tenant_allows if tenant.allow == true

# --- 5. authentication requirements -----------------------------------------

# A tenant states requirements as one object (`requirement := {...}`) or as
# several (`requirement contains {...}`); several that apply to one request
# merge to the strictest: every acr list must be met, every amr is needed,
# the smallest max_age, the lowest max_risk, and device compliance if any asks.
requirements := [tenant.requirement] if {
	is_object(tenant.requirement)
} else := [r | some r in tenant.requirement; is_object(r)] if {
	is_set(tenant.requirement)
} else := []

required_acr_lists := [list | some r in requirements; list := object.get(r, "acr_values", []); count(list) > 0]

required_amr := {m | some r in requirements; some m in object.get(r, "amr", [])}

required_max_age := min(ages) if {
	ages := {age | some r in requirements; age := r.max_age}
	count(ages) > 0
}

required_max_risk := min(ranks) if {
	ranks := {rank | some r in requirements; rank := risk_rank[r.max_risk]}
	count(ranks) > 0
}

device_compliance_required if {
	some r in requirements
	r.device_compliant == true
}

# The acr values a step-up asks for: those, from any requirement, that meet
# every requirement (in the order the tenant wrote them).
merged_acr_values := [v |
	some i, v in requested_acr_values
	not v in array.slice(requested_acr_values, 0, i)
	every list in required_acr_lists {
		acr_meets(v, list)
	}
]

requested_acr_values := [v | some list in required_acr_lists; some v in list]

requirement_failures contains reason("AUTHENTICATION_REQUIRED", "this request needs an authenticated session") if {
	authentication_required
	not has_session
}

requirement_failures contains reason("AUTHN_LEVEL_INSUFFICIENT", "the session's authentication level (acr) is too low") if {
	has_session
	some list in required_acr_lists
	not acr_meets(input.session.acr, list)
}

requirement_failures contains reason("AUTHN_METHOD_INSUFFICIENT", "the session lacks a required authentication method (amr)") if {
	has_session
	some m in required_amr
	not m in object.get(input.session, "amr", [])
}

requirement_failures contains reason("AUTHN_TOO_OLD", "the authentication is older than the allowed maximum age") if {
	has_session
	input.now - input.session.auth_time > required_max_age
}

requirement_failures contains reason("AUTHN_TOO_OLD", "the authentication time is unknown and a maximum age applies") if {
	has_session
	required_max_age
	not is_number(input.session.auth_time)
}

authentication_required if count(required_acr_lists) > 0

authentication_required if count(required_amr) > 0

authentication_required if required_max_age

# Requirements no re-authentication can meet deny outright.
requirement_denials contains reason("DEVICE_NOT_COMPLIANT", "this request needs a compliant device") if {
	device_compliance_required
	not device_compliant
}

device_compliant if input.posture.device.compliant == true

# CAEP risk-level-change: the tenant names the highest user risk it accepts.
requirement_denials contains reason("RISK_TOO_HIGH", "the identity provider reports a risk level above what this request accepts") if {
	risk_rank[lower(input.posture.risk.level)] > required_max_risk
}

risk_rank := {"low": 1, "medium": 2, "high": 3}

# An acr meets a requested list when it is one of the values, or ranks at
# least as high as the lowest-ranked value of the list.
acr_meets(acr, list) if acr in list

acr_meets(acr, list) if {
	have := acr_rank[acr]
	want := [rank | some v in list; rank := acr_rank[v]]
	count(want) > 0
	have >= min(want)
}

# Known acr values by strength. Tenants may add their own in `acr_rank`.
default_acr_rank := {
	"phrh": 40, # OIDC EAP: phishing-resistant, hardware-protected
	"phr": 30, # OIDC EAP: phishing-resistant
	"urn:okta:loa:2fa:any": 20,
	"http://schemas.openid.net/pape/policies/2007/06/multi-factor": 20,
	"mfa": 20,
	"urn:okta:loa:2fa:any:ifpossible": 10,
	"urn:okta:loa:1fa:any": 10,
	"urn:okta:loa:1fa:pwd": 10,
}

acr_rank := object.union(default_acr_rank, tenant.acr_rank) if {
	is_object(tenant.acr_rank)
} else := default_acr_rank

# --- the decision ------------------------------------------------------------------

decision := {"decision": "deny", "reasons": [reason("POLICY_RESULT_INVALID", concat("; ", contract_violations))]} if {
	count(contract_violations) > 0
} else := {"decision": "deny", "reasons": sorted(platform_denials)} if {
	count(platform_denials) > 0
} else := {"decision": "step_up", "reasons": sorted(session_renewals), "step_up": renewal_challenge} if {
	count(session_renewals) > 0
} else := {"decision": "deny", "reasons": sorted(tenant_denials)} if {
	count(tenant_denials) > 0
} else := {"decision": "deny", "reasons": [reason("POLICY_DENIED", "no rule of the tenant policy allows this request")]} if {
	not tenant_allows
} else := {"decision": "deny", "reasons": sorted(requirement_denials)} if {
	count(requirement_denials) > 0
} else := {"decision": "step_up", "reasons": sorted(requirement_failures), "step_up": requirement_challenge} if {
	count(requirement_failures) > 0
} else := {"decision": "allow", "reasons": [reason("POLICY_ALLOWED", "the tenant policy allows this request")]}

# A forced re-authentication must not be satisfied by the IdP's existing
# session, hence max_age 0; an expired session only needs a new assertion.
renewal_challenge := object.union(renewal_base, {"max_age": 0}) if {
	some r in session_renewals
	r.code in {"REAUTHENTICATION_REQUIRED", "ASSURANCE_LEVEL_DECREASED"}
} else := renewal_base

# A renewed session should be at least as strong as the one it replaces: with
# no requirement of its own, the request asks the IdP for the session's acr.
renewal_base := base_challenge if {
	count(merged_acr_values) > 0
} else := {"acr_values": [input.session.acr]} if {
	is_string(input.session.acr)
	input.session.acr != ""
} else := base_challenge

requirement_challenge := object.union(base_challenge, {"max_age": required_max_age}) if {
	required_max_age
} else := base_challenge

base_challenge := {"acr_values": merged_acr_values}

# BatchCheck: every item of `input.items` decided in one evaluation, over one
# parse of the subject. Each item is exactly the `decision` its request would get.
batch_decisions := [d |
	some item in input.items
	d := decision with input.action as item.action
		with input.resource as item.resource
		with input.context as item.context
]

# --- helpers ---------------------------------------------------------------------

reason(code, message) := {"code": code, "message": message}

sorted(reasons) := [r | some r in reasons]

as_reason(d) := d if is_object(d)

as_reason(d) := reason("POLICY_DENIED", d) if is_string(d)

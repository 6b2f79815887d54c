# Platform rules: the IPSIE guardrails every tenant gets and cannot override.
#
# Entry point `ipsie/authz/decision` combines them with the tenant's own
# package `tenants.<tenant>` (see policies/README.md for the contract).
# Order of precedence:
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

tenant := data.tenants[input.tenant]

# --- 1. platform denials ----------------------------------------------------

platform_denials contains reason("ACCOUNT_INACTIVE", "the account is deactivated") if {
	input.subject.active == false
}

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
	not input.session.auth_time
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
	some d in tenant.deny
	r := as_reason(d)
}

tenant_allows if tenant.allow == true

# --- 5. authentication requirements -----------------------------------------

requirement := object.get(tenant, "requirement", {})

required_acr_values := object.get(requirement, "acr_values", [])

required_amr := object.get(requirement, "amr", [])

required_max_age := requirement.max_age

requirement_failures contains reason("AUTHENTICATION_REQUIRED", "this request needs an authenticated session") if {
	authentication_required
	not has_session
}

requirement_failures contains reason("AUTHN_LEVEL_INSUFFICIENT", "the session's authentication level (acr) is too low") if {
	has_session
	count(required_acr_values) > 0
	not acr_satisfied
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
	not input.session.auth_time
}

authentication_required if count(required_acr_values) > 0

authentication_required if count(required_amr) > 0

authentication_required if required_max_age

# Requirements no re-authentication can meet deny outright.
requirement_denials contains reason("DEVICE_NOT_COMPLIANT", "this request needs a compliant device") if {
	requirement.device_compliant == true
	not device_compliant
}

device_compliant if input.posture.device.compliant == true

# CAEP risk-level-change: the tenant names the highest user risk it accepts.
requirement_denials contains reason("RISK_TOO_HIGH", "the identity provider reports a risk level above what this request accepts") if {
	risk_rank[lower(input.posture.risk.level)] > risk_rank[lower(requirement.max_risk)]
}

risk_rank := {"low": 1, "medium": 2, "high": 3}

# The session's acr meets the requirement when it is one of the requested
# values, or ranks at least as high as the lowest-ranked requested value.
acr_satisfied if input.session.acr in required_acr_values

acr_satisfied if {
	have := acr_rank[input.session.acr]
	want := [rank | some v in required_acr_values; rank := acr_rank[v]]
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

acr_rank := object.union(default_acr_rank, object.get(tenant, "acr_rank", {}))

# --- the decision ------------------------------------------------------------------

decision := {"decision": "deny", "reasons": sorted(platform_denials)} if {
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
renewal_challenge := object.union(base_challenge, {"max_age": 0}) if {
	some r in session_renewals
	r.code in {"REAUTHENTICATION_REQUIRED", "ASSURANCE_LEVEL_DECREASED"}
} else := base_challenge

requirement_challenge := object.union(base_challenge, {"max_age": required_max_age}) if {
	required_max_age
} else := base_challenge

base_challenge := {"acr_values": required_acr_values}

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

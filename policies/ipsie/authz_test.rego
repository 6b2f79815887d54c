package ipsie.authz_test

import data.ipsie.authz

now := 1800000000

# A minimal tenant that allows everything, so only platform rules decide.
permissive := {"allow": true}

user := {"id": "u1", "active": true, "groups": [], "attributes": {}}

session := {"id": "s1", "acr": "phr", "amr": ["hwk"], "auth_time": now - 60, "expires_at": now + 3600}

request(subject, s) := {
	"tenant": "t",
	"now": now,
	"subject": subject,
	"session": s,
	"posture": {},
	"action": {"name": "read"},
	"resource": {"type": "doc", "id": "1", "properties": {}},
	"context": {},
}

decide(inp, tenant) := d if {
	d := authz.decision with input as inp with data.tenants.t as tenant
}

test_allows_when_tenant_allows if {
	decide(request(user, session), permissive).decision == "allow"
}

test_default_deny_without_tenant_rules if {
	d := decide(request(user, session), {})
	d.decision == "deny"
	d.reasons == [{"code": "POLICY_DENIED", "message": "no rule of the tenant policy allows this request"}]
}

test_inactive_account_denied_whatever_the_tenant_says if {
	d := decide(request(object.union(user, {"active": false}), session), permissive)
	d.decision == "deny"
	d.reasons[0].code == "ACCOUNT_INACTIVE"
}

test_disabled_account_posture_denied if {
	inp := object.union(request(user, session), {"posture": {"account": {"disabled": true}}})
	decide(inp, permissive).reasons[0].code == "ACCOUNT_DISABLED"
}

test_revoked_session_denied if {
	d := decide(request(user, object.union(session, {"revoked": true})), permissive)
	d.decision == "deny"
	d.reasons[0].code == "SESSION_REVOKED"
}

test_expired_session_steps_up if {
	d := decide(request(user, object.union(session, {"expires_at": now})), permissive)
	d.decision == "step_up"
	d.reasons[0].code == "SESSION_EXPIRED"

	# The new session should be as strong as the expired one: its acr is asked for.
	d.step_up == {"acr_values": ["phr"]}
}

test_renewal_asks_for_the_requirement_or_else_the_sessions_acr if {
	decreased := object.union(request(user, session), {"posture": {"assurance": {"decreased_at": now - 10}}})
	decide(decreased, permissive).step_up == {"acr_values": ["phr"], "max_age": 0}
	strict := {"allow": true, "requirement": {"acr_values": ["phrh"]}}
	decide(decreased, strict).step_up == {"acr_values": ["phrh"], "max_age": 0}
	no_acr := object.union(request(user, object.remove(session, ["acr"])), {"posture": {"assurance": {"decreased_at": now - 10}}})
	decide(no_acr, permissive).step_up == {"acr_values": [], "max_age": 0}
}

test_forced_reauthentication_steps_up_with_max_age_zero if {
	subject := object.union(user, {"reauthenticate_after": now - 10})
	d := decide(request(subject, session), permissive)
	d.decision == "step_up"
	d.reasons[0].code == "REAUTHENTICATION_REQUIRED"
	d.step_up.max_age == 0
}

test_fresh_authentication_satisfies_forced_reauthentication if {
	subject := object.union(user, {"reauthenticate_after": now - 120})
	decide(request(subject, session), permissive).decision == "allow"
}

test_tenant_cannot_allow_past_platform_denial if {
	d := decide(request(object.union(user, {"active": false}), session), {"allow": true, "deny": []})
	d.decision == "deny"
}

test_tenant_string_denial_becomes_reason if {
	d := decide(request(user, session), {"allow": true, "deny": {"blocked by tenant"}})
	d.reasons == [{"code": "POLICY_DENIED", "message": "blocked by tenant"}]
}

test_required_amr_missing_steps_up if {
	d := decide(request(user, session), {"allow": true, "requirement": {"amr": ["otp"]}})
	d.decision == "step_up"
	d.reasons[0].code == "AUTHN_METHOD_INSUFFICIENT"
}

test_tenant_acr_rank_extends_defaults if {
	custom := object.union(session, {"acr": "urn:acme:gold"})
	tenant := {"allow": true, "requirement": {"acr_values": ["phr"]}, "acr_rank": {"urn:acme:gold": 35}}
	decide(request(user, custom), tenant).decision == "allow"
}

test_unranked_acr_does_not_satisfy if {
	custom := object.union(session, {"acr": "urn:unknown"})
	d := decide(request(user, custom), {"allow": true, "requirement": {"acr_values": ["phr"]}})
	d.decision == "step_up"
}

test_step_up_not_asked_when_tenant_denies_anyway if {
	d := decide(request(user, null), {"requirement": {"acr_values": ["phr"]}})
	d.decision == "deny"
}

test_batch_decides_each_item_as_a_single_request_would if {
	tenant := {"allow": true, "requirement": {"acr_values": ["phrh"]}}
	base := request(user, session)
	items := [
		{"action": {"name": "read"}, "resource": {"type": "doc", "id": "1", "properties": {}}, "context": {}},
		{"action": {"name": "write"}, "resource": {"type": "doc", "id": "2", "properties": {}}, "context": {"ip": "x"}},
	]
	batch := authz.batch_decisions with input as object.union(base, {"items": items}) with data.tenants.t as tenant
	count(batch) == 2
	every i, item in items {
		batch[i] == decide(object.union(base, item), tenant)
	}
}

test_batch_of_nothing_is_empty if {
	authz.batch_decisions == [] with input as object.union(request(user, session), {"items": []})
		with data.tenants.t as permissive
}

test_assurance_decrease_steps_up_sessions_authenticated_before_it if {
	inp := object.union(request(user, session), {"posture": {"assurance": {"decreased_at": now - 10}}})
	d := decide(inp, permissive)
	d.decision == "step_up"
	d.reasons[0].code == "ASSURANCE_LEVEL_DECREASED"
	d.step_up.max_age == 0
}

test_authentication_after_the_assurance_decrease_is_allowed if {
	inp := object.union(request(user, session), {"posture": {"assurance": {"decreased_at": now - 600}}})
	decide(inp, permissive).decision == "allow"
}

test_risk_above_the_tenant_maximum_is_denied if {
	tenant := {"allow": true, "requirement": {"max_risk": "medium"}}
	high := object.union(request(user, session), {"posture": {"risk": {"level": "high"}}})
	d := decide(high, tenant)
	d.decision == "deny"
	d.reasons[0].code == "RISK_TOO_HIGH"
	medium := object.union(request(user, session), {"posture": {"risk": {"level": "MEDIUM"}}})
	decide(medium, tenant).decision == "allow"
	decide(high, permissive).decision == "allow"
}

# --- the tenant's results must fit the contract ---------------------------------

result_invalid(d) if {
	d.decision == "deny"
	[r.code | some r in d.reasons] == ["POLICY_RESULT_INVALID"]
}

test_boolean_deny_is_result_invalid_not_ignored if {
	result_invalid(decide(request(user, session), {"allow": true, "deny": true}))
}

test_deny_as_an_array_is_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": true, "deny": ["no"]}))
}

test_deny_reason_of_a_wrong_shape_is_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": true, "deny": {{"reason": "x"}}}))
	result_invalid(decide(request(user, session), {"allow": true, "deny": {{"code": "X", "message": "m", "extra": 1}}}))
	result_invalid(decide(request(user, session), {"allow": true, "deny": {{"code": 7}}}))
	result_invalid(decide(request(user, session), {"allow": true, "deny": {""}}))
}

test_non_boolean_allow_is_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": "yes"}))
	result_invalid(decide(request(user, session), {"allow": 1}))
}

test_misspelt_max_risk_is_result_invalid_not_dropped if {
	d := decide(request(user, session), {"allow": true, "requirement": {"max_risk": "meduim"}})
	result_invalid(d)
	contains(d.reasons[0].message, "max_risk")
}

test_device_compliant_as_a_string_is_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"device_compliant": "true"}}))
}

test_unknown_requirement_key_is_result_invalid if {
	d := decide(request(user, session), {"allow": true, "requirement": {"acr_value": "phr"}})
	result_invalid(d)
	contains(d.reasons[0].message, `"acr_value"`)
}

test_mistyped_requirement_values_are_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"acr_values": "phr"}}))
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"amr": [1]}}))
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"max_age": -1}}))
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"max_age": 1.5}}))
	result_invalid(decide(request(user, session), {"allow": true, "requirement": "strong"}))
	result_invalid(decide(request(user, session), {"allow": true, "requirement": {"phr"}}))
}

test_non_numeric_acr_rank_is_result_invalid if {
	result_invalid(decide(request(user, session), {"allow": true, "acr_rank": {"urn:x": "high"}}))
	result_invalid(decide(request(user, session), {"allow": true, "acr_rank": ["urn:x"]}))
}

test_result_invalid_wins_over_every_other_answer if {
	# Even a request the platform would deny for its own reasons says the policy is broken.
	inactive := object.union(user, {"active": false})
	result_invalid(decide(request(inactive, session), {"allow": true, "deny": true}))
	result_invalid(decide(request(user, null), {"allow": true, "requirement": {"max_risk": "meduim"}}))
}

test_overlapping_requirements_merge_to_the_strictest if {
	tenant := {"allow": true, "requirement": {
		{"acr_values": ["mfa"], "max_age": 900, "max_risk": "high"},
		{"acr_values": ["phr"], "max_age": 300, "amr": ["hwk"]},
		{"max_risk": "low", "device_compliant": true},
	}}
	weak := object.union(session, {"acr": "mfa", "amr": ["otp"], "auth_time": now - 600})
	device := {"device": {"compliant": true}}
	d := decide(object.union(request(user, weak), {"posture": device}), tenant)
	d.decision == "step_up"
	d.step_up == {"acr_values": ["phr"], "max_age": 300}
	{r.code | some r in d.reasons} == {"AUTHN_LEVEL_INSUFFICIENT", "AUTHN_METHOD_INSUFFICIENT", "AUTHN_TOO_OLD"}

	# the strictest max_risk and the device requirement deny outright
	risky := object.union(request(user, session), {"posture": {"risk": {"level": "medium"}, "device": {"compliant": true}}})
	decide(risky, tenant).reasons[0].code == "RISK_TOO_HIGH"
	decide(request(user, session), tenant).reasons[0].code == "DEVICE_NOT_COMPLIANT"

	# meeting all of them allows
	strong := object.union(session, {"acr": "phr", "amr": ["hwk"], "auth_time": now - 60})
	decide(object.union(request(user, strong), {"posture": device}), tenant).decision == "allow"
}

test_requirements_no_single_acr_can_meet_are_result_invalid if {
	tenant := {"allow": true, "requirement": {{"acr_values": ["urn:a"]}, {"acr_values": ["urn:b"]}}}
	result_invalid(decide(request(user, session), tenant))
}

# --- absent values are never read as "fine" -------------------------------------

test_unknown_auth_time_fails_a_max_age_requirement if {
	# IdPs omit auth_time unless max_age was requested: null must not pass an age requirement.
	no_time := object.union(session, {"auth_time": null})
	d := decide(request(user, no_time), {"allow": true, "requirement": {"max_age": 300}})
	d.decision == "step_up"
	d.reasons[0].code == "AUTHN_TOO_OLD"
	d.step_up.max_age == 300
}

test_unknown_auth_time_fails_a_forced_reauthentication if {
	no_time := object.union(session, {"auth_time": null})
	subject := object.union(user, {"reauthenticate_after": now - 10})
	d := decide(request(subject, no_time), permissive)
	d.decision == "step_up"
	d.reasons[0].code == "REAUTHENTICATION_REQUIRED"
}

test_an_account_is_active_only_when_it_says_so if {
	decide(request(object.union(user, {"active": null}), session), permissive).reasons[0].code == "ACCOUNT_INACTIVE"
	decide(request(object.remove(user, ["active"]), session), permissive).reasons[0].code == "ACCOUNT_INACTIVE"
}

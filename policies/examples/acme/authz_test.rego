package tenants_test.acme

import data.ipsie.authz

now := 1800000000

developer := {
	"id": "u-dev",
	"active": true,
	"groups": [{"id": "g1", "display_name": "Engineering"}],
	"attributes": {},
}

lead := object.union(developer, {"groups": [{"id": "g2", "display_name": "Engineering Leads"}]})

strong_session := {"id": "s1", "acr": "phr", "amr": ["hwk", "mfa"], "auth_time": now - 60, "expires_at": now + 3600}

weak_session := object.union(strong_session, {"acr": "urn:okta:loa:1fa:pwd", "amr": ["pwd"]})

request(subject, session, action, type) := {
	"tenant": "acme",
	"now": now,
	"subject": subject,
	"session": session,
	"posture": {},
	"action": {"name": action},
	"resource": {"type": type, "id": "r1", "properties": {}},
	"context": {},
}

test_developer_writes_repository if {
	authz.decision.decision == "allow" with input as request(developer, weak_session, "write", "repository")
}

test_developer_cannot_pay_invoice if {
	d := authz.decision with input as request(developer, strong_session, "pay", "invoice")
	d.decision == "deny"
	d.reasons[0].code == "POLICY_DENIED"
}

test_approve_needs_phishing_resistant_mfa if {
	d := authz.decision with input as request(lead, weak_session, "approve", "deployment")
	d.decision == "step_up"
	d.step_up == {"acr_values": ["phr"], "max_age": 900}
	d.reasons[0].code == "AUTHN_LEVEL_INSUFFICIENT"
}

test_approve_with_stale_authentication_steps_up if {
	old := object.union(strong_session, {"auth_time": now - 3600})
	d := authz.decision with input as request(lead, old, "approve", "deployment")
	d.decision == "step_up"
	d.reasons[0].code == "AUTHN_TOO_OLD"
}

test_approve_with_fresh_phr_allowed if {
	authz.decision.decision == "allow" with input as request(lead, strong_session, "approve", "deployment")
}

test_phrh_outranks_phr if {
	hardware := object.union(strong_session, {"acr": "phrh"})
	authz.decision.decision == "allow" with input as request(lead, hardware, "approve", "deployment")
}

test_approve_without_session_needs_authentication if {
	d := authz.decision with input as request(lead, null, "approve", "deployment")
	d.decision == "step_up"
	d.reasons[0].code == "AUTHENTICATION_REQUIRED"
}

package tenants_test.globex

import data.ipsie.authz

now := 1800000000

engineer := {
	"id": "u-eng",
	"active": true,
	"groups": [{"id": "g1", "display_name": "Engineering"}],
	"attributes": {"department": "R&D", "title": "Engineer", "userType": "Employee"},
}

manager := object.union(engineer, {"attributes": {"department": "R&D", "title": "Manager", "userType": "Employee"}})

contractor := object.union(manager, {"attributes": {"department": "R&D", "title": "Manager", "userType": "Contractor"}})

request(subject, action, properties, posture) := {
	"tenant": "globex",
	"now": now,
	"subject": subject,
	"session": null,
	"posture": posture,
	"action": {"name": action},
	"resource": {"type": "document", "id": "d1", "properties": properties},
	"context": {},
}

test_reads_own_department if {
	authz.decision.decision == "allow" with input as request(engineer, "read", {"department": "R&D"}, {})
}

test_cannot_read_other_department if {
	authz.decision.decision == "deny" with input as request(engineer, "read", {"department": "Sales"}, {})
}

test_only_managers_write_department_documents if {
	authz.decision.decision == "deny" with input as request(engineer, "write", {"department": "R&D"}, {})
	authz.decision.decision == "allow" with input as request(manager, "write", {"department": "R&D"}, {})
}

test_owner_writes_own_document if {
	authz.decision.decision == "allow" with input as request(engineer, "write", {"department": "Sales", "owner": "u-eng"}, {})
}

test_contractor_export_denied_with_tenant_reason if {
	d := authz.decision with input as request(contractor, "export", {"department": "R&D"}, {})
	d.decision == "deny"
	d.reasons[0].code == "CONTRACTOR_EXPORT_FORBIDDEN"
}

test_confidential_needs_compliant_device if {
	props := {"department": "R&D", "classification": "confidential"}
	d := authz.decision with input as request(engineer, "read", props, {})
	d.decision == "deny"
	d.reasons[0].code == "DEVICE_NOT_COMPLIANT"
	authz.decision.decision == "allow" with input as request(engineer, "read", props, {"device": {"compliant": true}})
}

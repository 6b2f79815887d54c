package tenants_test.records

import data.ipsie.authz

user(id, department, groups) := {
	"id": id,
	"user_name": id,
	"external_id": null,
	"active": true,
	"attributes": {"department": department},
	"roles": [],
	"groups": [{"id": g, "display_name": g} | some g in groups],
}

record(department, relations) := {
	"type": "record",
	"id": "101",
	"properties": {},
	"stored": {"attributes": {"department": department}, "relations": [], "subject_relations": relations},
}

allowed(subject, action, resource) if {
	request := {
		"tenant": "records",
		"now": 1800000000,
		"subject": subject,
		"session": null,
		"posture": {},
		"action": {"name": action},
		"resource": resource,
		"context": {},
	}
	authz.decision.decision == "allow" with input as request
}

bob := user("bob", "Legal", ["employee"])

dan := user("dan", "Finance", ["manager"])

test_owner_views_edits_and_deletes if {
	allowed(bob, "view", record("Sales", ["owner"]))
	allowed(bob, "edit", record("Sales", ["owner"]))
	allowed(bob, "delete", record("Sales", ["owner"]))
}

test_department_views_only if {
	allowed(bob, "view", record("Legal", []))
	not allowed(bob, "edit", record("Legal", []))
	not allowed(bob, "delete", record("Legal", []))
}

test_manager_views_any_and_edits_its_department if {
	allowed(dan, "view", record("Legal", []))
	not allowed(dan, "edit", record("Legal", []))
	allowed(dan, "edit", record("Finance", []))
	not allowed(dan, "delete", record("Finance", []))
}

test_a_viewer_relation_lets_view_only if {
	allowed(bob, "view", record("Sales", ["viewer"]))
	not allowed(bob, "edit", record("Sales", ["viewer"]))
}

test_a_record_the_app_never_stored_is_nothing_even_with_the_callers_properties if {
	not allowed(dan, "view", {"type": "record", "id": "9", "properties": {"department": "Finance"}})
}

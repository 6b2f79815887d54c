package tenants_test.todo

import data.ipsie.authz

user(name, groups) := {
	"id": name,
	"user_name": sprintf("%s@acmecorp.com", [name]),
	"active": true,
	"attributes": {},
	"groups": [{"id": g, "display_name": g} | some g in groups],
}

request(subject, action, resource) := {
	"tenant": "todo",
	"now": 1800000000,
	"subject": subject,
	"session": null,
	"posture": {},
	"action": {"name": action},
	"resource": resource,
	"context": {},
}

todo_of(owner) := {"type": "todo", "id": "t1", "properties": {"ownerID": owner}}

test_viewer_reads_but_cannot_create if {
	authz.decision.decision == "allow" with input as request(user("carol", ["viewer"]), "can_read_todos", {"type": "todo", "id": "", "properties": {}})
	authz.decision.decision == "deny" with input as request(user("carol", ["viewer"]), "can_create_todo", {"type": "todo", "id": "", "properties": {}})
}

test_editor_updates_own_todo_only if {
	authz.decision.decision == "allow" with input as request(user("bob", ["editor"]), "can_update_todo", todo_of("bob@acmecorp.com"))
	authz.decision.decision == "deny" with input as request(user("bob", ["editor"]), "can_update_todo", todo_of("alice@acmecorp.com"))
}

test_admin_deletes_any_todo if {
	authz.decision.decision == "allow" with input as request(user("alice", ["admin"]), "can_delete_todo", todo_of("bob@acmecorp.com"))
}

test_confidential_document_is_not_readable if {
	authz.decision.decision == "deny" with input as request(user("alice", ["admin"]), "read", {"type": "document", "id": "2", "properties": {}})
	authz.decision.decision == "allow" with input as request(user("alice", ["admin"]), "read", {"type": "document", "id": "1", "properties": {}})
}

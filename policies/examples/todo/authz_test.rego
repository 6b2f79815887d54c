package tenants_test.todo

import data.ipsie.authz

# The scenario's users: userName and e-mail are the directory's id; roles are groups.
user(email, groups) := {
	"id": sprintf("id-%s", [email]),
	"user_name": email,
	"external_id": "pid",
	"active": true,
	"attributes": {"emails": [{"value": email, "primary": true}]},
	"roles": [],
	"groups": [{"id": g, "display_name": g} | some g in groups],
}

rick := user("rick@the-citadel.com", ["admin", "evil_genius"])

morty := user("morty@the-citadel.com", ["editor"])

beth := user("beth@the-smiths.com", ["viewer"])

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

allowed(subject, action, resource) if {
	authz.decision.decision == "allow" with input as request(subject, action, resource)
}

test_every_user_reads_users_and_todos if {
	allowed(beth, "can_read_user", {"type": "user", "id": "rick@the-citadel.com", "properties": {}})
	allowed(beth, "can_read_todos", {"type": "todo", "id": "todo-1", "properties": {}})
}

test_viewer_cannot_create_update_or_delete_even_its_own if {
	not allowed(beth, "can_create_todo", {"type": "todo", "id": "todo-1", "properties": {}})
	not allowed(beth, "can_update_todo", todo_of("beth@the-smiths.com"))
	not allowed(beth, "can_delete_todo", todo_of("beth@the-smiths.com"))
}

test_editor_creates_and_changes_only_its_own_todos if {
	allowed(morty, "can_create_todo", {"type": "todo", "id": "todo-1", "properties": {}})
	allowed(morty, "can_update_todo", todo_of("morty@the-citadel.com"))
	allowed(morty, "can_delete_todo", todo_of("Morty@the-citadel.com"))
	not allowed(morty, "can_update_todo", todo_of("rick@the-citadel.com"))
	not allowed(morty, "can_delete_todo", todo_of("rick@the-citadel.com"))
}

test_evil_genius_updates_any_todo_and_admin_deletes_any if {
	allowed(rick, "can_update_todo", todo_of("morty@the-citadel.com"))
	allowed(rick, "can_delete_todo", todo_of("morty@the-citadel.com"))
}

test_admin_alone_deletes_any_but_updates_only_its_own if {
	admin := user("ann@the-citadel.com", ["admin"])
	allowed(admin, "can_delete_todo", todo_of("morty@the-citadel.com"))
	allowed(admin, "can_update_todo", todo_of("ann@the-citadel.com"))
	not allowed(admin, "can_update_todo", todo_of("morty@the-citadel.com"))
}

test_evil_genius_alone_deletes_only_its_own if {
	genius := user("gene@the-citadel.com", ["evil_genius"])
	allowed(genius, "can_update_todo", todo_of("morty@the-citadel.com"))
	allowed(genius, "can_delete_todo", todo_of("gene@the-citadel.com"))
	not allowed(genius, "can_delete_todo", todo_of("morty@the-citadel.com"))
}

test_confidential_document_is_not_readable if {
	not allowed(rick, "read", {"type": "document", "id": "2", "properties": {}})
	allowed(rick, "read", {"type": "document", "id": "1", "properties": {}})
}

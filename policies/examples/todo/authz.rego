# Todo: the OpenID AuthZEN interop "Todo" scenario (todo-1.0-id), written from its scenario text
# (test/conformance/authzen/todo-1.0-id-scenario.md), plus the AuthZEN 1.0 spec's document and account
# examples. A user's roles are the names of its IdP groups (SCIM groups the IdP provisions).
package tenants.todo

roles contains group.display_name if some group in input.subject.groups

# editor = viewer + create, and edit or delete its own todos; admin and evil_genius are editors and more.
editor if "editor" in roles

editor if "admin" in roles

editor if "evil_genius" in roles

# A todo's `ownerID` is its owner's id in the scenario's directory: the e-mail address, which the IdP
# provisions as userName and in `emails`.
owner_ids contains lower(input.subject.user_name)

owner_ids contains lower(email.value) if some email in input.subject.attributes.emails

owner if lower(input.resource.properties.ownerID) in owner_ids

# "For simplicity, the policy always returns true" for every user.
allow if input.action.name in {"can_read_user", "can_read_todos"}

allow if {
	input.action.name == "can_create_todo"
	editor
}

# evil_genius edits todos that are not its own; an editor only its own.
allow if {
	input.action.name == "can_update_todo"
	"evil_genius" in roles
}

allow if {
	input.action.name == "can_update_todo"
	editor
	owner
}

# admin deletes any todo; an editor only its own.
allow if {
	input.action.name == "can_delete_todo"
	"admin" in roles
}

allow if {
	input.action.name == "can_delete_todo"
	editor
	owner
}

# The AuthZEN spec's examples: documents and accounts are readable, but for the confidential ones.
allow if {
	input.action.name in {"read", "can_read"}
	input.resource.type in {"document", "account"}
	not input.resource.id in confidential
}

confidential := {"2"}

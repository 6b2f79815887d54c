# Todo: the AuthZEN interop "todo" app, plus the AuthZEN 1.0 spec's
# document and account examples. Roles are the user's IdP groups.
package tenants.todo

roles contains group.display_name if some group in input.subject.groups

# Everyone signed in may read users and the todo list.
allow if input.action.name in {"can_read_user", "can_read_todos"}

allow if {
	input.action.name == "can_create_todo"
	some role in {"admin", "editor"}
	role in roles
}

# Admins update and delete any todo; editors only their own.
allow if {
	input.action.name in {"can_update_todo", "can_delete_todo"}
	"admin" in roles
}

allow if {
	input.action.name in {"can_update_todo", "can_delete_todo"}
	"editor" in roles
	input.resource.properties.ownerID == input.subject.user_name
}

# The spec's examples: documents and accounts are readable, but for the confidential ones.
allow if {
	input.action.name in {"read", "can_read"}
	input.resource.type in {"document", "account"}
	not input.resource.id in confidential
}

confidential := {"2"}

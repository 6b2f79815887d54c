# Records: the OpenID AuthZEN search interop scenario (users, records owned and in departments), decided over
# what the app stored (docs/resources.md): a record's owner is its `owner` relation, its department a stored
# attribute; a user's role is the name of an IdP group, its department an enterprise attribute. A `viewer`
# relation, on the record or a folder above it (`parent`), lets view too.
package tenants.records

roles contains group.display_name if some group in input.subject.groups

manager if "manager" in roles

stored := input.resource.stored

record if {
	input.resource.type == "record"
	stored
}

owner if "owner" in stored.subject_relations

viewer if "viewer" in stored.subject_relations

same_department if stored.attributes.department == input.subject.attributes.department

# A user views the records it owns, those of its department, and any when a manager.
allow if {
	record
	input.action.name == "view"
	owner
}

allow if {
	record
	input.action.name == "view"
	same_department
}

allow if {
	record
	input.action.name == "view"
	manager
}

allow if {
	record
	input.action.name == "view"
	viewer
}

# A user edits the records it owns; a manager those of its department.
allow if {
	record
	input.action.name == "edit"
	owner
}

allow if {
	record
	input.action.name == "edit"
	manager
	same_department
}

# Only the owner deletes.
allow if {
	record
	input.action.name == "delete"
	owner
}

# Globex: attribute-based access. Documents belong to a department; the
# IdP's enterprise attributes (department, title, userType) decide.
package tenants.globex

same_department if {
	input.resource.properties.department == input.subject.attributes.department
}

manager if input.subject.attributes.title == "Manager"

allow if {
	input.resource.type == "document"
	input.action.name == "read"
	same_department
}

allow if {
	input.resource.type == "document"
	input.action.name in {"read", "write"}
	input.resource.properties.owner == input.subject.id
}

allow if {
	input.resource.type == "document"
	input.action.name in {"write", "export"}
	same_department
	manager
}

deny contains {"code": "CONTRACTOR_EXPORT_FORBIDDEN", "message": "contractors may not export documents"} if {
	input.action.name == "export"
	input.subject.attributes.userType == "Contractor"
}

# Confidential documents only from a compliant (managed) device.
requirement := {"device_compliant": true} if {
	input.resource.properties.classification == "confidential"
}

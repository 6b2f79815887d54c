# Acme Corp: role-based access. Roles come from the IdP's groups (SCIM
# groups pushed by Entra ID); permissions hang off roles.
package tenants.acme

group_roles := {
	"Engineering": {"developer"},
	"Engineering Leads": {"developer", "approver"},
	"Finance": {"accountant"},
	"Acme Admins": {"admin"},
}

role_permissions := {
	"developer": {
		{"type": "repository", "action": "read"},
		{"type": "repository", "action": "write"},
	},
	"approver": {{"type": "deployment", "action": "approve"}},
	"accountant": {
		{"type": "invoice", "action": "read"},
		{"type": "invoice", "action": "pay"},
	},
	"admin": {
		{"type": "repository", "action": "delete"},
		{"type": "user", "action": "read"},
	},
}

roles contains role if {
	some group in input.subject.groups
	some role in group_roles[group.display_name]
}

allow if {
	some role in roles
	some permission in role_permissions[role]
	permission.type == input.resource.type
	permission.action == input.action.name
}

# Irreversible actions need phishing-resistant MFA within the last 15 minutes.
requirement := {"acr_values": ["phr"], "max_age": 900} if {
	input.action.name in {"delete", "approve", "pay"}
}

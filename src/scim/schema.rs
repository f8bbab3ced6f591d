//! The schemas Rollcall implements (RFC 7643 §4, §7): one static description used both to
//! answer `/Schemas` and `/ResourceTypes` and to type PATCH values (booleans sent as strings,
//! read-only attributes, case-exactness). Pure: no I/O.

use serde_json::{Map, Value, json};

use super::{AGENT_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Integer,
    DateTime,
    Reference,
    Complex,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub description: &'static str,
    pub sub_attributes: &'static [AttrDef],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        description,
        sub_attributes: &[],
        canonical_values: &[],
        reference_types: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

impl AttrDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    const fn subs(mut self, sub: &'static [AttrDef]) -> Self {
        self.sub_attributes = sub;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    /// A sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        o.insert("type".into(), json!(self.ty.as_str()));
        o.insert("multiValued".into(), json!(self.multi_valued));
        o.insert("description".into(), json!(self.description));
        o.insert("required".into(), json!(self.required));
        if matches!(self.ty, AttrType::String | AttrType::Reference) {
            o.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            o.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            o.insert("referenceTypes".into(), json!(self.reference_types));
        }
        o.insert("mutability".into(), json!(self.mutability.as_str()));
        let returned = match self.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
        };
        o.insert("returned".into(), json!(returned));
        if self.ty != AttrType::Complex {
            o.insert(
                "uniqueness".into(),
                json!(if self.unique { "server" } else { "none" }),
            );
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(AttrDef::to_json).collect();
            o.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(o)
    }
}

/// One schema: its URN and top-level attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttrDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/scim/v2/Schemas/{}", self.id),
            },
        })
    }
}

const MULTI_TYPE_PRIMARY_DISPLAY: [AttrDef; 3] = [
    attr(
        "primary",
        AttrType::Boolean,
        "Whether this is the preferred value; at most one is.",
    ),
    string("display", "A human-readable name, primarily for display."),
    string("type", "A label indicating the value's function."),
];

const EMAIL_SUBS: &[AttrDef] = &[
    string("value", "An email address."),
    string("display", "A human-readable name, primarily for display."),
    string("type", "A label indicating the address's function.")
        .canonical(&["work", "home", "other"]),
    attr(
        "primary",
        AttrType::Boolean,
        "Whether this is the preferred address.",
    ),
];

const PHONE_SUBS: &[AttrDef] = &[
    string("value", "A phone number."),
    string("display", "A human-readable name, primarily for display."),
    string("type", "A label indicating the number's function.")
        .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    attr(
        "primary",
        AttrType::Boolean,
        "Whether this is the preferred number.",
    ),
];

const ROLE_SUBS: &[AttrDef] = &[
    string("value", "A role name as sent by the identity provider."),
    MULTI_TYPE_PRIMARY_DISPLAY[1],
    MULTI_TYPE_PRIMARY_DISPLAY[2],
    MULTI_TYPE_PRIMARY_DISPLAY[0],
];

const USER_GROUP_SUBS: &[AttrDef] = &[
    string("value", "The id of a group the user belongs to.").read_only(),
    attr("$ref", AttrType::Reference, "The URI of the group.")
        .refs(&["Group"])
        .read_only(),
    string("display", "The group's displayName.").read_only(),
    string("type", "How the membership was derived.")
        .canonical(&["direct", "indirect"])
        .read_only(),
];

const NAME_SUBS: &[AttrDef] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
];

const USER_ATTRS: &[AttrDef] = &[
    string(
        "userName",
        "Unique identifier of the agent, typically the sign-in name.",
    )
    .required()
    .unique(),
    attr(
        "name",
        AttrType::Complex,
        "The components of the agent's name.",
    )
    .subs(NAME_SUBS),
    string("displayName", "The name shown to customers and colleagues."),
    string("nickName", "The casual name the agent goes by."),
    string("title", "The agent's job title."),
    string(
        "preferredLanguage",
        "The agent's preferred language (e.g. zh-CN, or a list as in Accept-Language): \
         the language of its mail.",
    ),
    attr(
        "active",
        AttrType::Boolean,
        "Whether the agent may sign in; false suspends the agent.",
    )
    .required(),
    string("password", "A new password; never returned.").write_only(),
    attr("emails", AttrType::Complex, "Email addresses.")
        .multi()
        .subs(EMAIL_SUBS),
    attr("phoneNumbers", AttrType::Complex, "Phone numbers.")
        .multi()
        .subs(PHONE_SUBS),
    attr(
        "roles",
        AttrType::Complex,
        "Roles sent by the identity provider.",
    )
    .multi()
    .subs(ROLE_SUBS),
    attr(
        "groups",
        AttrType::Complex,
        "Groups the agent belongs to directly.",
    )
    .multi()
    .read_only()
    .subs(USER_GROUP_SUBS),
];

const MANAGER_SUBS: &[AttrDef] = &[
    string("value", "The id of the manager's User."),
    attr(
        "$ref",
        AttrType::Reference,
        "The URI of the manager's User.",
    )
    .refs(&["User"]),
    string("displayName", "The manager's displayName.").read_only(),
];

const ENTERPRISE_ATTRS: &[AttrDef] = &[
    string(
        "employeeNumber",
        "The employee number assigned by the organisation.",
    ),
    string("department", "The department the agent works in."),
    attr("manager", AttrType::Complex, "The agent's manager.").subs(MANAGER_SUBS),
];

const AGENT_ATTRS: &[AttrDef] = &[
    string(
        "role",
        "The Rollcall role (a built-in one or a custom role created from a template).",
    )
    .case_exact()
    .required()
    .canonical(&[
        "agent",
        "senior_agent",
        "team_lead",
        "qa_inspector",
        "admin",
    ]),
    string(
        "skillGroups",
        "Skill groups the agent is routed conversations for.",
    )
    .multi()
    .case_exact(),
    attr(
        "maxConcurrentChats",
        AttrType::Integer,
        "Most conversations the agent handles at once (0 or more).",
    ),
    string(
        "channels",
        "Channels the agent serves (web, wechat, phone, email, ticket …).",
    )
    .multi()
    .case_exact(),
    attr(
        "loginBlocked",
        AttrType::Boolean,
        "Whether sign-in is blocked while the account stays active.",
    )
    .required(),
];

const MEMBER_SUBS: &[AttrDef] = &[
    string("value", "The id of a member User or Group.").case_exact(),
    attr("$ref", AttrType::Reference, "The URI of the member.").refs(&["User", "Group"]),
    string("type", "The member's resource type.").canonical(&["User", "Group"]),
];

const GROUP_ATTRS: &[AttrDef] = &[
    string("displayName", "The group's name.").required(),
    attr(
        "members",
        AttrType::Complex,
        "Users and groups in the group.",
    )
    .multi()
    .subs(MEMBER_SUBS),
];

pub const USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "A Rollcall agent account",
    attributes: USER_ATTRS,
};

pub const ENTERPRISE: SchemaDef = SchemaDef {
    id: ENTERPRISE_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};

pub const AGENT: SchemaDef = SchemaDef {
    id: AGENT_SCHEMA,
    name: "Agent",
    description: "Customer-service settings of a Rollcall agent",
    attributes: AGENT_ATTRS,
};

pub const GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "A team or directory group of agents",
    attributes: GROUP_ATTRS,
};

/// The attributes every resource has (RFC 7643 §3.1), which schemas do not list.
const EXTERNAL_ID: AttrDef =
    string("externalId", "The identifier the provisioning client uses.").case_exact();
const ID: AttrDef = string("id", "Rollcall's identifier of the resource.")
    .case_exact()
    .read_only();
const META: AttrDef = attr("meta", AttrType::Complex, "Resource metadata.").read_only();
const SCHEMAS: AttrDef = string("schemas", "Schema URNs of the resource.")
    .multi()
    .case_exact();

impl ResourceKind {
    /// Core schema first, then extensions.
    pub fn schemas(self) -> &'static [&'static SchemaDef] {
        match self {
            ResourceKind::User => &[&USER, &ENTERPRISE, &AGENT],
            ResourceKind::Group => &[&GROUP],
        }
    }

    pub fn core(self) -> &'static SchemaDef {
        self.schemas()[0]
    }

    /// The extension schema with this URN (any case).
    pub fn extension(self, urn: &str) -> Option<&'static SchemaDef> {
        self.schemas()[1..]
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute; `urn` picks the schema (the core schema when `None`).
    /// Returns the schema the attribute belongs to (`None` for common attributes).
    pub fn lookup(
        self,
        urn: Option<&str>,
        name: &str,
    ) -> Option<(Option<&'static SchemaDef>, &'static AttrDef)> {
        let schema = match urn {
            None => self.core(),
            Some(u) if u.eq_ignore_ascii_case(self.core().id) => self.core(),
            Some(u) => {
                let ext = self.extension(u)?;
                return ext.attr(name).map(|a| (Some(ext), a));
            }
        };
        if let Some(a) = schema.attr(name) {
            return Some((Some(schema), a));
        }
        [&EXTERNAL_ID, &ID, &META, &SCHEMAS]
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| (None, a))
    }
}

/// `/Schemas`: every schema Rollcall implements.
pub fn all_schemas_json(base_url: &str) -> Vec<Value> {
    [&USER, &ENTERPRISE, &AGENT, &GROUP]
        .iter()
        .map(|s| s.to_json(base_url))
        .collect()
}

/// `/ResourceTypes`: User (with its two extensions) and Group.
pub fn resource_types_json(base_url: &str) -> Vec<Value> {
    let rt = |id: &str, endpoint: &str, description: &str, schema: &str, exts: &[&str]| {
        let mut v = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": id,
            "name": id,
            "endpoint": endpoint,
            "description": description,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/scim/v2/ResourceTypes/{id}"),
            },
        });
        if !exts.is_empty() {
            let list: Vec<Value> = exts
                .iter()
                .map(|e| json!({"schema": e, "required": *e == AGENT_SCHEMA}))
                .collect();
            v["schemaExtensions"] = Value::Array(list);
        }
        v
    };
    vec![
        rt(
            "User",
            "/Users",
            "Agent accounts",
            USER_SCHEMA,
            &[ENTERPRISE_SCHEMA, AGENT_SCHEMA],
        ),
        rt(
            "Group",
            "/Groups",
            "Teams and directory groups",
            GROUP_SCHEMA,
            &[],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_schema_aware() {
        let (s, a) = ResourceKind::User
            .lookup(None, "USERNAME")
            .expect("userName");
        assert_eq!(s.map(|s| s.id), Some(USER_SCHEMA));
        assert!(a.required && a.unique);
        let (s, a) = ResourceKind::User
            .lookup(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
                "department",
            )
            .expect("department");
        assert_eq!(s.map(|s| s.id), Some(ENTERPRISE_SCHEMA));
        assert_eq!(a.ty, AttrType::String);
        assert!(ResourceKind::User.lookup(None, "department").is_none());
        assert!(ResourceKind::Group.lookup(None, "userName").is_none());
        let (s, a) = ResourceKind::Group
            .lookup(None, "externalId")
            .expect("common");
        assert!(s.is_none() && a.case_exact);
        assert_eq!(
            ResourceKind::User
                .lookup(None, "groups")
                .map(|x| x.1.mutability),
            Some(Mutability::ReadOnly)
        );
    }

    #[test]
    fn advertised_roles_are_the_built_in_ones() {
        let role = AGENT.attr("role").expect("role");
        let builtin: Vec<&str> = crate::domain::roles::BUILTIN_ROLES
            .iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(role.canonical_values, builtin.as_slice());
    }

    #[test]
    fn schema_json_follows_rfc_7643_section_7() {
        let all = all_schemas_json("http://h");
        assert_eq!(all.len(), 4);
        let user = &all[0];
        assert_eq!(user["id"], USER_SCHEMA);
        let emails = user["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "emails"))
            .expect("emails");
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["type"], "complex");
        assert!(emails.get("uniqueness").is_none());
        assert_eq!(emails["subAttributes"].as_array().map(Vec::len), Some(4));
        let pw = user["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "password"));
        assert_eq!(pw.map(|p| p["returned"].clone()), Some(json!("never")));
        let types = resource_types_json("http://h");
        assert_eq!(
            types[0]["schemaExtensions"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(types[1].get("schemaExtensions").is_none());
    }
}

//! From a person to an agent: the group rules (role, skill groups), the managed profile, and
//! which managed fields differ from an agent's.

use std::collections::HashSet;

use super::Mapping;
use crate::domain::{AgentProfile, MultiValue, SourcedAgent};
use crate::fast_hash::FastMap;
use crate::sources::SourceRecord;

fn lower_set(groups: &[String]) -> HashSet<String> {
    groups.iter().map(|g| g.to_ascii_lowercase()).collect()
}

/// `cn=Team Leads,ou=groups,…` matches a rule naming the DN or `Team Leads`.
fn rule_matches(rule: &str, groups: &HashSet<String>) -> bool {
    let rule = rule.to_ascii_lowercase();
    groups.contains(&rule)
        || groups.iter().any(|dn| {
            dn.split(',')
                .next()
                .and_then(|rdn| rdn.split_once('='))
                .is_some_and(|(_, cn)| cn.trim() == rule)
        })
}

/// The role, skill groups and the group that decided the role.
pub(super) fn apply_rules(
    mapping: &Mapping,
    groups: &[String],
) -> (String, Vec<String>, Option<String>) {
    let set = lower_set(groups);
    let mut role = None;
    let mut skills: Vec<String> = Vec::new();
    for rule in &mapping.rules {
        if !rule_matches(&rule.group, &set) {
            continue;
        }
        if role.is_none()
            && let Some(r) = &rule.role
        {
            role = Some((r.clone(), rule.group.clone()));
        }
        for s in &rule.skill_groups {
            if !skills.contains(s) {
                skills.push(s.clone());
            }
        }
    }
    skills.sort();
    match role {
        Some((r, g)) => (r, skills, Some(g)),
        None => (mapping.default_role.clone(), skills, None),
    }
}

/// The rules' outcome for a set of groups, worked out once per distinct set.
pub(super) fn rules_for<'m>(
    ruled: &'m mut FastMap<Vec<String>, Ruled>,
    mapping: &Mapping,
    groups: &[String],
) -> &'m Ruled {
    if !ruled.contains_key(groups) {
        ruled.insert(groups.to_vec(), apply_rules(mapping, groups));
    }
    &ruled[groups]
}

/// What the rules give a person: role, skill groups and the group that decided the role.
pub(super) type Ruled = (String, Vec<String>, Option<String>);

/// The managed part of an agent as the source describes the person. Fields the source does
/// not manage (channels, chat limit, IdP roles, external id) are taken from `base`.
pub fn desired_profile(
    record: &SourceRecord,
    mapping: &Mapping,
    manager_id: Option<String>,
    base: Option<&AgentProfile>,
) -> (AgentProfile, Option<String>) {
    let (role, skill_groups, role_group) = apply_rules(mapping, &record.groups);
    let mut record = record.clone();
    mapping.templates.apply(&mut record);
    let managed = managed_profile(record, manager_id, role, skill_groups);
    let profile = match base {
        Some(base) => with_managed(base.clone(), managed),
        None => managed,
    };
    (profile, role_group)
}

/// The fields a source manages, as the source describes the person (whose record it takes
/// apart); the rest left empty.
pub(super) fn managed_profile(
    record: SourceRecord,
    manager_id: Option<String>,
    role: String,
    skill_groups: Vec<String>,
) -> AgentProfile {
    let work = |value: Option<String>| -> Vec<MultiValue> {
        value
            .into_iter()
            .map(|value| MultiValue {
                value,
                kind: Some("work".into()),
                primary: true,
                display: None,
            })
            .collect()
    };
    AgentProfile {
        user_name: record.user_name,
        given_name: record.given_name,
        family_name: record.family_name,
        display_name: record.display_name,
        nickname: record.nickname,
        title: record.title,
        employee_number: record.employee_number,
        department: record.department,
        manager_id,
        emails: work(record.email),
        phones: work(record.phone),
        role: Some(role),
        skill_groups,
        ..AgentProfile::default()
    }
}

/// `base` with the fields a source manages taken from `managed` (an update's profile holds
/// only those: the rest stays as stored).
pub fn with_managed(mut base: AgentProfile, managed: AgentProfile) -> AgentProfile {
    base.user_name = managed.user_name;
    base.given_name = managed.given_name;
    base.family_name = managed.family_name;
    base.display_name = managed.display_name;
    base.nickname = managed.nickname;
    base.title = managed.title;
    base.employee_number = managed.employee_number;
    base.department = managed.department;
    base.manager_id = managed.manager_id;
    base.emails = managed.emails;
    base.phones = managed.phones;
    base.role = managed.role;
    base.skill_groups = managed.skill_groups;
    base
}

/// Names of the managed fields that differ between the agent and the person (compared in
/// place: an unchanged person costs no allocation).
pub(super) fn changed_fields(
    current: &SourcedAgent,
    r: &SourceRecord,
    manager_id: Option<&str>,
    (role, skill_groups, _): &Ruled,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            out.push(name.to_owned());
        }
    };
    check("userName", current.user_name != r.user_name);
    check("name.givenName", current.given_name != r.given_name);
    check("name.familyName", current.family_name != r.family_name);
    check("displayName", current.display_name != r.display_name);
    check("nickName", current.nickname != r.nickname);
    check("title", current.title != r.title);
    check(
        "employeeNumber",
        current.employee_number != r.employee_number,
    );
    check("department", current.department != r.department);
    check("manager", current.manager_id.as_deref() != manager_id);
    check("emails", !current.emails.is_work(r.email.as_ref()));
    check("phoneNumbers", !current.phones.is_work(r.phone.as_ref()));
    check("role", current.role != *role);
    check("skillGroups", current.skill_groups != *skill_groups);
    out
}

/// Whether the agent's field named `field` (a plan's name) holds nothing: what a `weak`
/// owner may fill.
pub(super) fn field_is_empty(current: &SourcedAgent, field: &str) -> bool {
    use crate::domain::SyncedValues;
    match field {
        "userName" => current.user_name.is_empty(),
        "name.givenName" => current.given_name.is_none(),
        "name.familyName" => current.family_name.is_none(),
        "displayName" => current.display_name.is_none(),
        "nickName" => current.nickname.is_none(),
        "title" => current.title.is_none(),
        "employeeNumber" => current.employee_number.is_none(),
        "department" => current.department.is_none(),
        "manager" => current.manager_id.is_none(),
        "emails" => current.emails == SyncedValues::Empty,
        "phoneNumbers" => current.phones == SyncedValues::Empty,
        "role" => current.role.is_empty(),
        "skillGroups" => current.skill_groups.is_empty(),
        _ => false,
    }
}

/// `base` with the named fields (a plan's names, see [`changed_fields`]) taken from
/// `managed`: what an update writes, leaving the fields the source may not write as they
/// are.
pub fn with_fields(
    mut base: AgentProfile,
    managed: AgentProfile,
    fields: &[String],
) -> AgentProfile {
    crate::domain::take_fields(&mut base, &managed, fields);
    base
}

/// Whether the person, as the source describes them, has no value for the field named
/// `field` (a plan's name).
pub(super) fn offers_nothing(
    r: &SourceRecord,
    manager_id: Option<&str>,
    (_, skill_groups, _): &Ruled,
    field: &str,
) -> bool {
    match field {
        "name.givenName" => r.given_name.is_none(),
        "name.familyName" => r.family_name.is_none(),
        "displayName" => r.display_name.is_none(),
        "nickName" => r.nickname.is_none(),
        "title" => r.title.is_none(),
        "employeeNumber" => r.employee_number.is_none(),
        "department" => r.department.is_none(),
        "manager" => manager_id.is_none(),
        "emails" => r.email.is_none(),
        "phoneNumbers" => r.phone.is_none(),
        "skillGroups" => skill_groups.is_empty(),
        _ => false,
    }
}

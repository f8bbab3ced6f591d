//! The planner when several sources describe one person: link keys and disputes, joining
//! another source's agent, and `[ownership]` (fields by strength, status).

use std::collections::{HashMap, HashSet};

use super::super::digest::digest;
use super::super::mapping::apply_rules;
use super::*;
use crate::config::Strength;

fn linking(keys: &[LinkKey]) -> Mapping {
    let mut m = mapping();
    m.link_by = keys.to_vec();
    m
}

/// An agent another door made for `r` (an admin, an IdP): no source key.
fn made_elsewhere(r: &SourceRecord, m: &Mapping, id: &str, source: &str) -> SourcedAgent {
    let mut a = agent_for(r, m);
    a.id = id.into();
    a.key = None;
    a.source = source.into();
    a
}

#[test]
fn two_candidates_link_neither_and_nothing_is_created() {
    let m = linking(&[LinkKey::EmployeeNumber, LinkKey::Email]);
    let ana = record("1", "ana", &[]);
    let first = made_elsewhere(&ana, &m, "a1", "scim");
    let mut second = made_elsewhere(&ana, &m, "a2", "admin");
    second.user_name = "ana.2".into();
    let p = run(&[ana], vec![], vec![first, second], &m);
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    let [d] = &p.disputes[..] else {
        panic!("one dispute: {:?}", p.disputes)
    };
    assert_eq!(
        (d.key.as_str(), d.by, d.value.as_str()),
        ("1", LinkKey::EmployeeNumber, "E1")
    );
    let ids: Vec<&str> = d.candidates.iter().map(|c| c.agent_id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2"]);
    assert!(d.why.contains("2 agents"), "{}", d.why);
}

#[test]
fn an_agent_two_people_match_goes_to_the_first_and_the_second_is_disputed() {
    let m = linking(&[LinkKey::Email]);
    let ana = record("1", "ana", &[]);
    let mut twin = record("2", "ana-twin", &[]);
    twin.email = ana.email.clone();
    let agent = made_elsewhere(&ana, &m, "a1", "scim");
    let p = run(&[ana, twin], vec![], vec![agent], &m);
    assert_eq!(p.count("link"), 1);
    assert_eq!(
        p.count("create"),
        0,
        "the second person is not created twice"
    );
    assert_eq!(p.disputes.len(), 1);
    assert_eq!(p.disputes[0].key, "2");
    assert!(p.disputes[0].why.contains("another person"));
}

#[test]
fn the_external_id_an_idp_set_links_to_the_persons_key() {
    let m = linking(&[LinkKey::ExternalId]);
    let ana = record("1", "ana", &[]);
    let mut agent = made_elsewhere(&ana, &m, "a1", "scim");
    agent.employee_number = None;
    agent.external_id = Some("1".into());
    let p = run(&[ana], vec![], vec![agent], &m);
    assert!(
        matches!(&p.changes[0], Change::Link { by: LinkKey::ExternalId, agent_id, .. } if agent_id == "a1"),
        "{:?}",
        p.changes
    );
}

#[test]
fn a_joined_agent_gets_only_the_fields_it_lacks_by_default() {
    let m = linking(&[LinkKey::EmployeeNumber]);
    let mut ana = record("1", "ana", &[]);
    ana.title = Some("Lead".into());
    let mut theirs = made_elsewhere(&ana, &m, "a1", "hr:people");
    theirs.department = Some("Sales".into());
    theirs.title = None;
    let p = run(&[ana], vec![], vec![theirs], &m);
    match &p.changes[..] {
        [Change::Link { .. }, Change::Update { fields, .. }] => assert_eq!(fields, &["title"]),
        other => panic!("{other:?}"),
    }
}

/// Plans `r` against its owned agent `a`, whose source last wrote `offered`.
fn plan_owned(r: &SourceRecord, a: &SourcedAgent, offered: Option<String>, m: &Mapping) -> Plan {
    let mut owned = owned_of(a);
    owned.offered = offered;
    let mut planner = Planner::new(Inputs {
        source: "ldap:corp",
        mapping: m,
        owned: vec![owned],
        linkable: Vec::new(),
        manager_keys: HashMap::new(),
        now: now(),
    });
    planner.push(r.clone());
    match planner.finish(&HashSet::new(), true, &mut fetch_from(vec![a.clone()])) {
        Ok(plan) => plan,
        Err(e) => match e {},
    }
}

fn owning(fields: &[(&'static str, Option<Strength>)]) -> Mapping {
    let mut m = mapping();
    m.ownership.fields = fields.iter().copied().collect();
    m
}

#[test]
fn a_source_writes_only_the_fields_it_owns() {
    let m = owning(&[("department", Some(Strength::Strong)), ("title", None)]);
    let mut ana = record("1", "ana", &[]);
    ana.title = Some("Lead".into());
    let mut agent = agent_for(&ana, &m);
    agent.department = Some("Sales".into());
    agent.title = Some("Agent".into());
    match &plan_owned(&ana, &agent, None, &m).changes[..] {
        [Change::Update { fields, .. }] => assert_eq!(fields, &["department"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_normal_owner_writes_a_value_only_once_it_changed_at_the_source() {
    let m = owning(&[("department", Some(Strength::Normal))]);
    let ana = record("1", "ana", &[]);
    let mut agent = agent_for(&ana, &m);
    agent.department = Some("Edited by an admin".into());
    let ruled = apply_rules(&m, &ana.groups);
    let same = digest(&ana, None, &ruled);
    assert!(
        plan_owned(&ana, &agent, Some(same), &m).changes.is_empty(),
        "the source's value did not change: the admin's edit stays"
    );
    let before = SourceRecord {
        department: Some("Old".into()),
        ..ana.clone()
    };
    let earlier = digest(&before, None, &ruled);
    match &plan_owned(&ana, &agent, Some(earlier), &m).changes[..] {
        [Change::Update { fields, .. }] => assert_eq!(fields, &["department"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_status_owners_disable_and_only_those_allowed_enable() {
    let mut m = mapping();
    m.ownership.disables = false;
    m.ownership.enables = false;
    let mut ana = record("1", "ana", &[]);
    ana.disabled = true;
    let agent = agent_for(&ana, &m);
    assert!(plan_owned(&ana, &agent, None, &m).changes.is_empty());
    assert!(
        run(&[], vec![agent.clone()], vec![], &m).changes.is_empty(),
        "a source that does not own status never disables a leaver"
    );
    m.ownership.disables = true;
    ana.disabled = false;
    let mut suspended = agent;
    suspended.status = Status::Suspended;
    suspended.disabled_reason = Some("ldap:corp: disabled in the directory".into());
    assert!(
        plan_owned(&ana, &suspended, None, &m).changes.is_empty(),
        "may disable, may not enable"
    );
    m.ownership.enables = true;
    assert_eq!(plan_owned(&ana, &suspended, None, &m).count("enable"), 1);
}

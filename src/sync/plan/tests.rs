//! Unit tests of the planner: mapping, rules, linking, digests, leavers.

use std::collections::HashSet;

use super::digest::digest;
use super::mapping::{Ruled, apply_rules};
use super::*;
use crate::domain::{Status, SyncedValues};
use crate::sources::SourceRecord;

fn record(key: &str, user: &str, groups: &[&str]) -> SourceRecord {
    SourceRecord {
        key: key.into(),
        dn: format!("uid={user},ou=people,dc=example,dc=com"),
        user_name: user.into(),
        given_name: Some("G".into()),
        family_name: Some(user.into()),
        display_name: None,
        nickname: None,
        email: Some(format!("{user}@example.com")),
        phone: None,
        employee_number: Some(format!("E{key}")),
        department: Some("Support".into()),
        title: None,
        manager_dn: None,
        disabled: false,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        employment: None,
    }
}

fn mapping() -> Mapping {
    Mapping {
        rules: vec![
            Rule {
                group: "cn=leads,ou=groups,dc=example,dc=com".into(),
                role: Some("team_lead".into()),
                skill_groups: vec![],
            },
            Rule {
                group: "vip".into(),
                role: None,
                skill_groups: vec!["vip".into()],
            },
            Rule {
                group: "cn=qa,ou=groups,dc=example,dc=com".into(),
                role: Some("qa_inspector".into()),
                skill_groups: vec!["audit".into()],
            },
        ],
        default_role: "agent".into(),
        link_by: vec![LinkKey::EmployeeNumber],
        leaver: LeaverPolicy::Disable,
        templates: Default::default(),
        dated: None,
        ownership: crate::config::SourceOwnership::unconfigured(),
    }
}

fn now() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}

/// The agent a previous run would have created for `r`.
fn agent_for(r: &SourceRecord, m: &Mapping) -> SourcedAgent {
    let (p, _) = desired_profile(r, m, None, None);
    SourcedAgent {
        id: format!("id-{}", r.key),
        key: Some(r.key.clone()),
        version: 1,
        status: Status::Active,
        disabled_at: None,
        disabled_reason: None,
        role: p.role.clone().unwrap_or_default(),
        user_name: p.user_name,
        given_name: p.given_name,
        family_name: p.family_name,
        display_name: p.display_name,
        nickname: p.nickname,
        title: p.title,
        employee_number: p.employee_number,
        department: p.department,
        manager_id: p.manager_id,
        emails: SyncedValues::of(p.emails),
        phones: SyncedValues::of(p.phones),
        skill_groups: p.skill_groups,
        external_id: None,
        source: "ldap:corp".into(),
    }
}

/// How a run first sees `a`: without a recorded digest, so it is compared in full.
fn owned_of(a: &SourcedAgent) -> OwnedAgent {
    OwnedAgent {
        id: a.id.clone(),
        key: a.key.clone(),
        version: a.version,
        status: a.status,
        disabled_at: a.disabled_at,
        disabled_reason: a.disabled_reason.clone(),
        user_name: a.user_name.clone(),
        digest: None,
        offered: None,
        joined: false,
        shared: false,
    }
}

/// Loads the given agents from `all`, as the database would.
fn fetch_from(
    all: Vec<SourcedAgent>,
) -> impl FnMut(&[String]) -> Result<Vec<SourcedAgent>, std::convert::Infallible> {
    move |ids| {
        Ok(all
            .iter()
            .filter(|a| ids.contains(&a.id))
            .cloned()
            .collect())
    }
}

fn plan_with(
    records: &[SourceRecord],
    owned: Vec<SourcedAgent>,
    linkable: Vec<SourcedAgent>,
    m: &Mapping,
    gone: Option<&HashSet<String>>,
    manager_keys: HashMap<String, String>,
) -> Plan {
    let mut planner = Planner::new(Inputs {
        source: "ldap:corp",
        mapping: m,
        owned: owned.iter().map(owned_of).collect(),
        linkable,
        manager_keys,
        now: now(),
    });
    planner.push_all(records.to_vec());
    let empty = HashSet::new();
    let result = planner.finish(
        gone.unwrap_or(&empty),
        gone.is_none(),
        &mut fetch_from(owned),
    );
    match result {
        Ok(plan) => plan,
        Err(e) => match e {},
    }
}

fn run(
    records: &[SourceRecord],
    owned: Vec<SourcedAgent>,
    linkable: Vec<SourcedAgent>,
    m: &Mapping,
) -> Plan {
    plan_with(records, owned, linkable, m, None, HashMap::new())
}

#[test]
fn incremental_runs_find_managers_outside_the_changed_set() {
    let m = mapping();
    let boss = record("1", "boss", &[]);
    let mut worker = record("2", "worker", &[]);
    worker.manager_dn = Some(boss.dn.to_uppercase());
    let boss_agent = agent_for(&boss, &m);
    let mut worker_agent = agent_for(&worker, &m);
    worker_agent.manager_id = Some(boss_agent.id.clone());
    worker_agent.title = Some("Old".into());
    worker.title = Some("New".into());
    let gone = HashSet::new();
    let plan_with = |keys: HashMap<String, String>| {
        plan_with(
            &[worker.clone()],
            vec![boss_agent.clone(), worker_agent.clone()],
            vec![],
            &m,
            Some(&gone),
            keys,
        )
    };
    // Known by key: only the title changes; the manager stays.
    let keys = HashMap::from([(boss.dn.to_ascii_lowercase(), boss.key.clone())]);
    let plan = plan_with(keys);
    match &plan.changes[..] {
        [Change::Update { fields, .. }] => assert_eq!(fields, &["title"]),
        other => panic!("{other:?}"),
    }
    // Unknown: the manager cannot be resolved and is cleared.
    let plan = plan_with(HashMap::new());
    match &plan.changes[..] {
        [Change::Update { fields, .. }] => assert!(fields.contains(&"manager".to_string())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn digests_stay_what_earlier_runs_recorded() {
    // Agents carry the digests of earlier runs: the layout must not change, or every
    // agent is compared field by field once more (as it was once, when the digest became
    // one hash per field for `normal` owners).
    let mut r = record("1", "ana", &[]);
    r.given_name = Some("Ana".into());
    r.family_name = None;
    r.employee_number = None;
    r.department = None;
    r.email = Some("ana@x".into());
    let ruled: Ruled = ("agent".into(), vec!["chat".into()], None);
    assert_eq!(
        digest(&r, Some("m-1"), &ruled),
        "f6ee91f1edf1e17165e17165e17165e17165e17165e1716573852eb394dbe17165b3a910d89216"
    );
}

#[test]
fn recorded_digests_spare_the_comparison_and_missing_ones_are_recorded() {
    let m = mapping();
    let ana = record("1", "ana", &[]);
    let mut bo = record("2", "bo", &[]);
    let agents = vec![agent_for(&ana, &m), agent_for(&bo, &m)];
    // First run: nothing recorded, both compared in full, both unchanged and stamped.
    let first = run(&[ana.clone(), bo.clone()], agents.clone(), vec![], &m);
    assert!(first.changes.is_empty());
    assert_eq!(first.unchanged, 2);
    let stamps: HashMap<&str, &Stamp> = first
        .stamps
        .iter()
        .map(|s| (s.agent_id.as_str(), s))
        .collect();
    assert_eq!(stamps.len(), 2);
    // Next run, with the stamps recorded: only bo, whose title changed, is loaded.
    bo.title = Some("Lead".into());
    let owned: Vec<OwnedAgent> = agents
        .iter()
        .map(|a| OwnedAgent {
            digest: Some(stamps[a.id.as_str()].digest.clone()),
            ..owned_of(a)
        })
        .collect();
    let mut planner = Planner::new(Inputs {
        source: "ldap:corp",
        mapping: &m,
        owned,
        linkable: vec![],
        manager_keys: HashMap::new(),
        now: now(),
    });
    planner.push_all(vec![ana.clone(), bo.clone()]);
    let mut asked: Vec<String> = Vec::new();
    let mut fetch = |ids: &[String]| -> Result<Vec<SourcedAgent>, std::convert::Infallible> {
        asked.extend(ids.iter().cloned());
        Ok(agents
            .iter()
            .filter(|a| ids.contains(&a.id))
            .cloned()
            .collect())
    };
    let plan = match planner.finish(&HashSet::new(), true, &mut fetch) {
        Ok(p) => p,
        Err(e) => match e {},
    };
    assert_eq!(asked, vec!["id-2".to_string()]);
    match &plan.changes[..] {
        [
            Change::Update {
                agent_id, fields, ..
            },
        ] => {
            assert_eq!(agent_id, "id-2");
            assert_eq!(fields, &["title"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.unchanged, 1);
    assert!(plan.stamps.is_empty());
    // A digest recorded for another version of the person does not spare anything.
    let mut ana_moved = ana.clone();
    ana_moved.department = Some("Billing".into());
    let p = run(&[ana_moved], vec![agents[0].clone()], vec![], &m);
    assert!(matches!(&p.changes[..], [Change::Update { .. }]));
}

#[test]
fn rules_first_role_wins_and_skills_add_up() {
    let m = mapping();
    let groups = vec![
        "cn=vip,ou=groups,dc=example,dc=com".to_string(),
        "cn=qa,ou=groups,dc=example,dc=com".to_string(),
        "cn=leads,ou=groups,dc=example,dc=com".to_string(),
    ];
    let (role, skills, group) = apply_rules(&m, &groups);
    assert_eq!(role, "team_lead");
    assert_eq!(skills, vec!["audit", "vip"]);
    assert_eq!(
        group.as_deref(),
        Some("cn=leads,ou=groups,dc=example,dc=com")
    );
    assert_eq!(apply_rules(&m, &[]).0, "agent");
}

#[test]
fn joiner_mover_leaver_and_idempotency() {
    let m = mapping();
    let ana = record("1", "ana", &[]);
    let bob = record("2", "bob", &[]);
    let p = run(&[ana.clone(), bob.clone()], vec![], vec![], &m);
    assert_eq!(p.count("create"), 2);
    // Second run with the agents in place: nothing to do.
    let owned = vec![agent_for(&ana, &m), agent_for(&bob, &m)];
    let p = run(&[ana.clone(), bob.clone()], owned.clone(), vec![], &m);
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    assert_eq!(p.unchanged, 2);
    // Bob moves into the leads group; Ana leaves.
    let bob2 = record("2", "bob", &["cn=Leads,ou=groups,dc=example,dc=com"]);
    let p = run(&[bob2], owned, vec![], &m);
    assert_eq!(p.changes.len(), 2, "{:?}", p.changes);
    let Change::Update {
        fields,
        reason,
        profile,
        ..
    } = &p.changes[0]
    else {
        panic!("update expected")
    };
    assert_eq!(fields, &vec!["role".to_string()]);
    assert_eq!(profile.role.as_deref(), Some("team_lead"));
    assert!(reason.starts_with("ldap:corp: moved to group"), "{reason}");
    assert!(
        matches!(&p.changes[1], Change::Disable { user_name, reason, .. } if user_name == "ana" && reason == "ldap:corp: removed from the directory")
    );
}

#[test]
fn disabled_flag_returner_and_foreign_suspensions() {
    let m = mapping();
    let mut ana = record("1", "ana", &[]);
    let owned = vec![agent_for(&ana, &m)];
    ana.disabled = true;
    let p = run(&[ana.clone()], owned.clone(), vec![], &m);
    assert!(
        matches!(&p.changes[..], [Change::Disable { reason, .. }] if reason.ends_with("disabled in the directory"))
    );
    // Suspended by this source, enabled again at the source: re-enabled.
    let mut suspended = owned[0].clone();
    suspended.status = Status::Suspended;
    suspended.disabled_reason = Some("ldap:corp: disabled in the directory".into());
    ana.disabled = false;
    let p = run(&[ana.clone()], vec![suspended.clone()], vec![], &m);
    assert!(
        matches!(&p.changes[..], [Change::Enable { .. }]),
        "{:?}",
        p.changes
    );
    // Suspended by an admin: the directory does not override it.
    suspended.disabled_reason = Some("deactivated by token:admin".into());
    let p = run(&[ana], vec![suspended], vec![], &m);
    assert!(p.changes.is_empty());
    // A disabled person without an account is not created.
    let mut ghost = record("9", "ghost", &[]);
    ghost.disabled = true;
    assert!(run(&[ghost], vec![], vec![], &m).changes.is_empty());
}

#[test]
fn managers_created_in_the_same_run_are_referenced_at_once() {
    let m = mapping();
    let boss = record("1", "boss", &[]);
    let mut worker = record("2", "worker", &[]);
    worker.manager_dn = Some(boss.dn.to_uppercase());
    let p = run(&[worker.clone(), boss.clone()], vec![], vec![], &m);
    let ids: Vec<(&str, Option<&str>, &str)> = p
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Create {
                id,
                user_name,
                profile,
                ..
            } => Some((
                id.as_str(),
                profile.as_ref().and_then(|p| p.manager_id.as_deref()),
                user_name.as_str(),
            )),
            _ => None,
        })
        .collect();
    let boss_id = ids.iter().find(|x| x.2 == "boss").map(|x| x.0);
    let worker_manager = ids.iter().find(|x| x.2 == "worker").and_then(|x| x.1);
    assert!(boss_id.is_some());
    assert_eq!(worker_manager, boss_id);
}

#[test]
fn links_by_employee_number_once() {
    let m = mapping();
    let ana = record("1", "ana", &[]);
    let mut existing = agent_for(&ana, &m);
    existing.id = "scim-ana".into();
    existing.key = None;
    existing.source = "scim".into();
    let p = run(&[ana], vec![], vec![existing], &m);
    assert!(
        matches!(&p.changes[..], [Change::Link { agent_id, by: LinkKey::EmployeeNumber, .. }] if agent_id == "scim-ana"),
        "{:?}",
        p.changes
    );
}

#[test]
fn delete_policy_waits_for_the_grace() {
    let mut m = mapping();
    m.leaver = LeaverPolicy::Delete {
        after: Duration::days(30),
    };
    let ana = record("1", "ana", &[]);
    let mut gone = agent_for(&ana, &m);
    let p = run(&[], vec![gone.clone()], vec![], &m);
    assert!(matches!(&p.changes[..], [Change::Disable { .. }]));
    gone.status = Status::Suspended;
    gone.disabled_reason = Some("ldap:corp: removed from the directory".into());
    gone.disabled_at = Some(now() - Duration::days(10));
    assert!(run(&[], vec![gone.clone()], vec![], &m).changes.is_empty());
    gone.disabled_at = Some(now() - Duration::days(31));
    assert!(matches!(
        &run(&[], vec![gone], vec![], &m).changes[..],
        [Change::Delete { .. }]
    ));
}

/// An HR source's plans: the lifecycle by dates.
#[path = "dated_tests.rs"]
mod dated;

/// Several sources: disputes, joining another source's agent, `[ownership]`.
#[path = "ownership_tests.rs"]
mod ownership;

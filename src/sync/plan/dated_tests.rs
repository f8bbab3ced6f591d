//! Plans of an HR source at chosen moments: pre-hires, starts, leave, leavers, rehires.

use super::*;
use crate::domain::Schedule;
use crate::sources::{Employment, EmploymentStatus};
use chrono::Duration;

fn hr_mapping() -> Mapping {
    Mapping {
        rules: Vec::new(),
        link_by: Vec::new(),
        ownership: crate::config::SourceOwnership::unconfigured(),
        dated: Some(super::super::Dated {
            prehire: Duration::days(14),
            activate_at_start: true,
            rehire_new: false,
        }),
        templates: crate::sources::template::Templates::parse(
            [(
                "nickname".to_owned(),
                "{department}-{family_name}".to_owned(),
            )]
            .iter()
            .map(|(a, b)| (a, b)),
        )
        .unwrap(),
        ..mapping()
    }
}

fn person(key: &str, status: EmploymentStatus, start: i64, leave: Option<i64>) -> SourceRecord {
    SourceRecord {
        dn: key.into(),
        employment: Some(Box::new(Employment {
            status,
            starts_at: Some(now() + Duration::days(start)),
            leaves_at: leave.map(|d| now() + Duration::days(d)),
            start_note: Some(format!("day {start}")),
            leave_note: leave.map(|d| format!("last day of work day {d}")),
            immediate: false,
        })),
        ..record(key, &format!("p{key}"), &[])
    }
}

/// Plans `records` at `now() + days` against `owned` (with these statuses and reasons).
fn plan_at(
    days: i64,
    records: &[SourceRecord],
    owned: &[(SourcedAgent, Status, Option<&str>)],
    held: &[String],
) -> Plan {
    let m = hr_mapping();
    let agents: Vec<SourcedAgent> = owned
        .iter()
        .map(|(a, status, reason)| SourcedAgent {
            status: *status,
            disabled_reason: reason.map(str::to_owned),
            ..a.clone()
        })
        .collect();
    let mut planner = Planner::new(Inputs {
        source: "hr:people",
        mapping: &m,
        owned: agents.iter().map(owned_of).collect(),
        linkable: Vec::new(),
        manager_keys: HashMap::new(),
        now: now() + Duration::days(days),
    });
    planner.hold(held);
    planner.push_all(records.to_vec());
    planner
        .finish(&HashSet::new(), true, &mut fetch_from(agents))
        .unwrap()
}

fn actions(p: &Plan) -> Vec<(&str, &str)> {
    p.changes.iter().map(|c| (c.action(), c.reason())).collect()
}

#[test]
fn a_hire_is_created_pending_inside_the_window_and_not_before() {
    let hire = person("1", EmploymentStatus::Active, 10, None);
    let early = plan_at(-30, std::slice::from_ref(&hire), &[], &[]);
    assert!(early.changes.is_empty());
    assert_eq!(early.not_yet, 1);
    let p = plan_at(0, std::slice::from_ref(&hire), &[], &[]);
    match &p.changes[..] {
        [
            Change::Create {
                pending,
                reason,
                profile: Some(profile),
                ..
            },
        ] => {
            assert!(*pending);
            assert_eq!(reason, "hr:people: hired, starts day 10");
            assert_eq!(
                profile.nickname.as_deref(),
                Some("Support-p1"),
                "templates apply"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        p.schedules.is_empty(),
        "a new agent's schedule comes with its create"
    );
    let Change::Create {
        schedule: Some(s), ..
    } = &p.changes[0]
    else {
        panic!("no schedule: {:?}", p.changes[0]);
    };
    assert_eq!(s.start_note.as_deref(), Some("day 10"));
    // Started already: created active.
    let p = plan_at(11, &[hire], &[], &[]);
    assert!(matches!(
        &p.changes[..],
        [Change::Create { pending: false, .. }]
    ));
}

#[test]
fn a_pending_hire_is_activated_once_started() {
    let hire = person("1", EmploymentStatus::Active, 10, None);
    let agent = agent_for(&hire, &hr_mapping());
    let before = plan_at(
        5,
        std::slice::from_ref(&hire),
        &[(agent.clone(), Status::Pending, None)],
        &[],
    );
    assert!(before.changes.is_empty(), "{:?}", before.changes);
    let after = plan_at(10, &[hire], &[(agent, Status::Pending, None)], &[]);
    assert_eq!(
        actions(&after),
        [("activate", "hr:people: start day 10 reached")]
    );
}

#[test]
fn a_future_termination_waits_then_disables() {
    let leaver = person("1", EmploymentStatus::Terminated, -100, Some(5));
    let agent = agent_for(&leaver, &hr_mapping());
    let now_plan = plan_at(
        0,
        std::slice::from_ref(&leaver),
        &[(agent.clone(), Status::Active, None)],
        &[],
    );
    assert!(now_plan.changes.is_empty(), "{:?}", now_plan.changes);
    assert_eq!(
        now_plan.schedules.len(),
        1,
        "the leaving moment is recorded"
    );
    assert!(now_plan.schedules[0].schedule.terminated);
    let later = plan_at(6, &[leaver], &[(agent, Status::Active, None)], &[]);
    assert_eq!(
        actions(&later),
        [("disable", "hr:people: left: last day of work day 5")]
    );
}

#[test]
fn leave_suspends_and_return_enables_and_a_rehire_says_so() {
    let on_leave = person("1", EmploymentStatus::Leave, -100, None);
    let agent = agent_for(&on_leave, &hr_mapping());
    let p = plan_at(
        0,
        std::slice::from_ref(&on_leave),
        &[(agent.clone(), Status::Active, None)],
        &[],
    );
    assert_eq!(actions(&p), [("disable", "hr:people: on leave")]);
    let back = person("1", EmploymentStatus::Active, -100, None);
    let p = plan_at(
        0,
        std::slice::from_ref(&back),
        &[(
            agent.clone(),
            Status::Suspended,
            Some("hr:people: on leave"),
        )],
        &[],
    );
    assert_eq!(actions(&p), [("enable", "hr:people: back from leave")]);
    let p = plan_at(
        0,
        &[back],
        &[(
            agent.clone(),
            Status::Suspended,
            Some("hr:people: left: last day of work day -3"),
        )],
        &[],
    );
    assert_eq!(actions(&p), [("enable", "hr:people: rehired")]);
    // Someone else's suspension is not ours to lift.
    let p = plan_at(
        0,
        &[person("1", EmploymentStatus::Active, -100, None)],
        &[(agent, Status::Suspended, Some("admin: misconduct"))],
        &[],
    );
    assert!(p.changes.is_empty());
}

#[test]
fn a_rescinded_or_vanished_prehire_is_removed() {
    let rescinded = person("1", EmploymentStatus::Rescinded, 10, None);
    let agent = agent_for(&rescinded, &hr_mapping());
    let p = plan_at(
        0,
        &[rescinded],
        &[(agent.clone(), Status::Pending, None)],
        &[],
    );
    assert_eq!(
        actions(&p),
        [("delete", "hr:people: hire rescinded before the start")]
    );
    let p = plan_at(0, &[], &[(agent.clone(), Status::Pending, None)], &[]);
    assert_eq!(
        actions(&p),
        [(
            "delete",
            "hr:people: no longer in the export before the start"
        )]
    );
    // A person whose row was bad this time is held: never a leaver.
    let p = plan_at(0, &[], &[(agent, Status::Active, None)], &["1".to_owned()]);
    assert!(p.changes.is_empty(), "{:?}", p.changes);
}

#[test]
fn an_unchanged_schedule_is_not_planned_again() {
    let leaver = person("1", EmploymentStatus::Terminated, -100, Some(5));
    let agent = agent_for(&leaver, &hr_mapping());
    let m = hr_mapping();
    let owned = [agent];
    let mut planner = Planner::new(Inputs {
        source: "hr:people",
        mapping: &m,
        owned: owned.iter().map(owned_of).collect(),
        linkable: Vec::new(),
        manager_keys: HashMap::new(),
        now: now(),
    })
    .with_schedules(
        [(
            "id-1".to_owned(),
            Schedule {
                starts_at: Some(now() - Duration::days(100)),
                start_note: Some("day -100".into()),
                leaves_at: Some(now() + Duration::days(5)),
                leave_note: Some("last day of work day 5".into()),
                terminated: true,
            },
        )]
        .into_iter()
        .collect(),
    );
    planner.push(leaver);
    let p = planner
        .finish(&HashSet::new(), true, &mut fetch_from(owned.to_vec()))
        .unwrap();
    assert!(p.schedules.is_empty(), "{:?}", p.schedules);
    assert!(p.changes.is_empty());
}

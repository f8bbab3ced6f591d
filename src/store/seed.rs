//! Synthetic agents for demos and benchmarks, inserted in large transactions.

use serde_json::json;

use super::models::AgentRow;
use super::{DbConn, agents, write_tx};
use crate::accounts::{AccountError, Accounts};
use crate::audit::{self, Entry};
use crate::domain::{AgentProfile, MultiValue};

mod people;

/// Inserts `count` agents named `user000001`… after the highest existing seed number;
/// `realistic`: with the names, departments, skill groups and channels of [`people`]
/// (Latin and Chinese names) instead of `Seed Agent N` in `Team N`.
pub fn seed_agents(
    conn: &mut DbConn,
    accounts: &Accounts,
    count: u32,
    realistic: bool,
) -> Result<u32, AccountError> {
    let start = next_seed_number(conn)?;
    let mut done = 0u32;
    while done < count {
        let batch = (count - done).min(2000);
        write_tx(conn, |conn| -> Result<(), AccountError> {
            let now = crate::store::now();
            for i in 0..batch {
                let n = start + done + i;
                let id = uuid::Uuid::now_v7().to_string();
                let user_name = format!("user{n:06}");
                let p = realistic.then(|| people::person(n));
                let email = match &p {
                    Some(p) => format!("{}@example.com", p.mail),
                    None => format!("{user_name}@example.com"),
                };
                let profile = AgentProfile {
                    user_name: user_name.clone(),
                    given_name: Some(p.as_ref().map_or("Seed".into(), |p| p.given.clone())),
                    family_name: Some(
                        p.as_ref()
                            .map_or(format!("Agent {n}"), |p| p.family.clone()),
                    ),
                    display_name: Some(
                        p.as_ref()
                            .map_or(format!("Seed Agent {n}"), |p| p.display.clone()),
                    ),
                    skill_groups: p.as_ref().map_or(Vec::new(), |p| p.skill_groups.clone()),
                    channels: p.as_ref().map_or(Vec::new(), |p| p.channels.clone()),
                    emails: vec![MultiValue {
                        value: email.clone(),
                        kind: Some("work".into()),
                        primary: true,
                        display: None,
                    }],
                    ..AgentProfile::default()
                };
                let row = AgentRow {
                    id: id.clone(),
                    external_id: None,
                    user_name,
                    preferred_language: None,
                    display_name: profile.display_name.clone(),
                    given_name: profile.given_name.clone(),
                    family_name: profile.family_name.clone(),
                    middle_name: None,
                    formatted_name: None,
                    nickname: None,
                    title: None,
                    email: Some(email),
                    phone: None,
                    employee_number: Some(if realistic {
                        format!("CS-{n:06}")
                    } else {
                        format!("{n}")
                    }),
                    department: Some(
                        p.as_ref()
                            .map_or(format!("Team {}", n % 50), |p| p.department.clone()),
                    ),
                    manager_id: None,
                    role: accounts.default_role.clone(),
                    permission_overrides: "{}".into(),
                    max_concurrent_chats: None,
                    status: "active".into(),
                    login_blocked: false,
                    sessions_revoked_at: None,
                    password_hash: None,
                    password_changed_at: None,
                    must_change_password: false,
                    failed_logins: 0,
                    locked_until: None,
                    source: "admin".into(),
                    source_key: None,
                    last_seen_at: None,
                    disabled_at: None,
                    disabled_reason: None,
                    purge_after: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    emails_inline: AgentProfile::lone_work(&profile.emails).is_some(),
                    phones_inline: false,
                    user_name_key: Some(crate::domain::names::fold(&profile.user_name)),
                    user_name_clash: String::new(),
                };
                agents::insert(conn, &row, &agents::value_rows(&id, &profile))?;
            }
            audit::append(
                conn,
                Entry {
                    at: now,
                    actor: "admin:seed-agents",
                    action: "agent.seed",
                    target_type: "agent",
                    target_id: "*",
                    before: None,
                    after: Some(json!({ "created": batch, "from": start + done })),
                    reason: Some("synthetic agents for a demo or benchmark"),
                },
            )?;
            Ok(())
        })?;
        done += batch;
    }
    Ok(done)
}

fn next_seed_number(conn: &mut DbConn) -> Result<u32, AccountError> {
    use super::schema::agents::dsl;
    use diesel::prelude::*;
    let last: Option<String> = dsl::agents
        .filter(dsl::user_name.like("user%"))
        .order(dsl::user_name.desc())
        .select(dsl::user_name)
        .first(conn)
        .optional()?;
    Ok(last
        .and_then(|u| u.trim_start_matches("user").parse::<u32>().ok())
        .map_or(1, |n| n + 1))
}

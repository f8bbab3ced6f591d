//! Synthetic agents for demos and benchmarks, inserted in large transactions.

use serde_json::json;

use super::models::AgentRow;
use super::{DbConn, agents, write_tx};
use crate::accounts::{AccountError, Accounts};
use crate::audit::{self, Entry};
use crate::domain::{AgentProfile, MultiValue};

/// Inserts `count` agents named `user000001`… after the highest existing seed number.
pub fn seed_agents(
    conn: &mut DbConn,
    accounts: &Accounts,
    count: u32,
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
                let email = format!("{user_name}@example.com");
                let profile = AgentProfile {
                    user_name: user_name.clone(),
                    given_name: Some("Seed".into()),
                    family_name: Some(format!("Agent {n}")),
                    display_name: Some(format!("Seed Agent {n}")),
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
                    display_name: profile.display_name.clone(),
                    given_name: profile.given_name.clone(),
                    family_name: profile.family_name.clone(),
                    middle_name: None,
                    formatted_name: None,
                    nickname: None,
                    title: None,
                    email: Some(email),
                    phone: None,
                    employee_number: Some(format!("{n}")),
                    department: Some(format!("Team {}", n % 50)),
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

//! From a source's snapshot to a plan: what each person should look like as an agent
//! (attribute mapping and group rules), diffed against the agents that source owns. Pure:
//! the caller loads the agents and applies the plan.
//!
//! `mapping` turns a person into an agent's managed fields, `digest` fingerprints them,
//! `planner` diffs people against agents (linking, creates, updates), `ownership` decides
//! which differing fields a source may write, `lifecycle` decides disabling, enabling and
//! the leavers.

mod digest;
mod lifecycle;
mod mapping;
mod ownership;
mod planner;
#[cfg(test)]
mod tests;

pub use mapping::{desired_profile, with_fields, with_managed};
pub use planner::{Fetch, Planner};

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::domain::{AgentProfile, OwnedAgent, Schedule, SourcedAgent};

/// A group → role / skill-group rule. Rules are tried in order: the first matching rule
/// with a role gives the role; every matching rule adds its skill groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A group DN (or its `cn`), compared case-insensitively.
    pub group: String,
    pub role: Option<String>,
    pub skill_groups: Vec<String>,
}

/// How a source's people become agents.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub rules: Vec<Rule>,
    pub default_role: String,
    /// Link a person to an existing agent the source does not have yet, by these keys in
    /// order (an agent of another sync source is joined, any other taken over).
    pub link_by: Vec<LinkKey>,
    pub leaver: LeaverPolicy,
    /// `[sources.templates]`, applied to each person before planning.
    pub templates: crate::sources::template::Templates,
    /// An HR source's lifecycle rules; `None` for a directory.
    pub dated: Option<Dated>,
    /// Which fields this source writes on an agent others describe too, and whether it
    /// may disable and enable (`[ownership]`).
    pub ownership: crate::config::SourceOwnership,
}

/// How an HR source's dates work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated {
    /// Agents are created (pending) this long before the person's start.
    pub prehire: Duration,
    /// A pre-hire is activated at its start (no admin approval asked for).
    pub activate_at_start: bool,
    /// A rehire gets a new agent (the old one released, kept disabled), not the old one.
    pub rehire_new: bool,
}

pub use crate::config::LinkKey;

/// What happens to an agent whose person left the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaverPolicy {
    Disable,
    /// Disable at once, delete once disabled for this long.
    Delete {
        after: Duration,
    },
}

/// One planned change, with the reason the audit log will show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Create {
        /// Chosen when planning, so that others can name this agent as their manager.
        id: String,
        key: String,
        user_name: String,
        /// A pre-hire: created `pending`, activated at the start.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        pending: bool,
        /// `None` once applied by a run that applies as it reads (it lets go of what it
        /// wrote).
        #[serde(skip)]
        profile: Option<Box<AgentProfile>>,
        reason: String,
        /// What the source writes, recorded with the agent (see `OwnedAgent::digest`).
        #[serde(skip)]
        digest: String,
        /// An HR person's start and leaving moments, written with the agent.
        #[serde(skip_serializing_if = "Option::is_none")]
        schedule: Option<Box<Schedule>>,
    },
    Link {
        agent_id: String,
        key: String,
        user_name: String,
        by: LinkKey,
        reason: String,
    },
    Update {
        agent_id: String,
        user_name: String,
        fields: Vec<String>,
        /// The fields the source manages (the rest of the profile is left empty: the apply
        /// keeps the stored values, see [`with_managed`]).
        #[serde(skip)]
        profile: Box<AgentProfile>,
        reason: String,
        /// What the source offers for the person, recorded with the agent once written.
        #[serde(skip)]
        digest: String,
    },
    Disable {
        agent_id: String,
        user_name: String,
        reason: String,
    },
    Enable {
        agent_id: String,
        user_name: String,
        reason: String,
    },
    /// A pre-hire whose start has come: pending → active.
    Activate {
        agent_id: String,
        user_name: String,
        reason: String,
    },
    Delete {
        agent_id: String,
        user_name: String,
        reason: String,
    },
    /// A rehire's old agent, let go by the source before the person's new agent is
    /// created: it stays disabled, under a user name of its own, for the record.
    Release {
        agent_id: String,
        user_name: String,
        reason: String,
    },
}

impl Change {
    pub fn action(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Link { .. } => "link",
            Change::Update { .. } => "update",
            Change::Disable { .. } => "disable",
            Change::Enable { .. } => "enable",
            Change::Activate { .. } => "activate",
            Change::Delete { .. } => "delete",
            Change::Release { .. } => "release",
        }
    }

    pub fn user_name(&self) -> &str {
        match self {
            Change::Create { user_name, .. }
            | Change::Link { user_name, .. }
            | Change::Update { user_name, .. }
            | Change::Disable { user_name, .. }
            | Change::Enable { user_name, .. }
            | Change::Activate { user_name, .. }
            | Change::Delete { user_name, .. }
            | Change::Release { user_name, .. } => user_name,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Change::Create { reason, .. }
            | Change::Link { reason, .. }
            | Change::Update { reason, .. }
            | Change::Disable { reason, .. }
            | Change::Enable { reason, .. }
            | Change::Activate { reason, .. }
            | Change::Delete { reason, .. }
            | Change::Release { reason, .. } => reason,
        }
    }

    /// Whether the change takes an agent away (what the guard counts).
    pub fn is_removal(&self) -> bool {
        matches!(self, Change::Disable { .. } | Change::Delete { .. })
    }
}

/// The plan of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// People whose agent already matches.
    pub unchanged: usize,
    /// Live (not deleted) agents the source owned before the run.
    pub owned: usize,
    /// Of those, active ones.
    pub owned_active: usize,
    /// Records in the snapshot.
    pub records: usize,
    /// Owned agents found to match whose record of what the source wrote is missing or
    /// stale: written with the plan (no change to the agent, no audit entry), so the next
    /// run can skip comparing them.
    #[serde(skip)]
    pub stamps: Vec<Stamp>,
    /// Start and leaving moments that changed for existing agents (HR sources), each a
    /// change of its own (`agent.schedule`); new agents' come with their create.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleSet>,
    /// People not planned because their start is beyond the pre-hire window.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_yet: usize,
    /// People who could not be linked because two agents were candidates: linked to
    /// neither, created as neither.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disputes: Vec<Dispute>,
}

/// A person the link keys found more than one agent for (or an agent another person of
/// the same run was already linked to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Dispute {
    /// The person's key at the source.
    pub key: String,
    pub user_name: String,
    /// The link key that found the candidates.
    pub by: LinkKey,
    /// The value it matched on.
    pub value: String,
    /// Why no agent was linked.
    pub why: String,
    pub candidates: Vec<Candidate>,
}

/// One agent a disputed person could be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub agent_id: String,
    pub user_name: String,
    pub source: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The moments an employment states.
pub fn schedule_of(e: &crate::sources::Employment) -> Schedule {
    Schedule {
        starts_at: e.starts_at,
        start_note: e.start_note.clone(),
        leaves_at: e.leaves_at,
        leave_note: e.leave_note.clone(),
        terminated: e.status == crate::sources::EmploymentStatus::Terminated,
    }
}

/// A new schedule for an existing agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleSet {
    pub agent_id: String,
    pub user_name: String,
    #[serde(flatten)]
    pub schedule: Schedule,
}

/// That an agent, at `version`, holds what the source describes with `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub agent_id: String,
    pub digest: String,
    pub version: i64,
}

impl Plan {
    pub fn count(&self, action: &str) -> usize {
        self.changes.iter().filter(|c| c.action() == action).count()
    }

    pub fn removals(&self) -> usize {
        self.changes.iter().filter(|c| c.is_removal()).count()
    }
}

/// Everything the planner needs besides the snapshot.
pub struct Inputs<'a> {
    /// `ldap:corp`: the `source` value of agents this source owns, and the prefix of the
    /// reasons it writes (so a later run knows which suspensions are its own).
    pub source: &'a str,
    pub mapping: &'a Mapping,
    /// Live agents owned by the source.
    pub owned: Vec<OwnedAgent>,
    /// Live agents the source neither made nor joined, which `link_by` may link to.
    pub linkable: Vec<SourcedAgent>,
    /// Keys of managers named by the records but not among them (lower-cased DN → key):
    /// an incremental run reads only the people who changed, not their managers.
    pub manager_keys: HashMap<String, String>,
    pub now: NaiveDateTime,
}

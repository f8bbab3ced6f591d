//! From a source's snapshot to a plan: what each person should look like as an agent
//! (attribute mapping and group rules), diffed against the agents that source owns. Pure:
//! the caller loads the agents and applies the plan.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::domain::{AgentProfile, MultiValue, OwnedAgent, SourcedAgent, Status};
use crate::fast_hash::{FastMap, FastSet, map_with_capacity};
use crate::sources::SourceRecord;

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
    /// Link an existing agent not owned by any sync source, by these keys in order.
    pub link_by: Vec<LinkKey>,
    pub leaver: LeaverPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKey {
    EmployeeNumber,
    Email,
}

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
        /// `None` once applied by a run that applies as it reads (it lets go of what it
        /// wrote).
        #[serde(skip)]
        profile: Option<Box<AgentProfile>>,
        reason: String,
        /// What the source writes, recorded with the agent (see `OwnedAgent::digest`).
        #[serde(skip)]
        digest: String,
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
    Delete {
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
            Change::Delete { .. } => "delete",
        }
    }

    pub fn user_name(&self) -> &str {
        match self {
            Change::Create { user_name, .. }
            | Change::Link { user_name, .. }
            | Change::Update { user_name, .. }
            | Change::Disable { user_name, .. }
            | Change::Enable { user_name, .. }
            | Change::Delete { user_name, .. } => user_name,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Change::Create { reason, .. }
            | Change::Link { reason, .. }
            | Change::Update { reason, .. }
            | Change::Disable { reason, .. }
            | Change::Enable { reason, .. }
            | Change::Delete { reason, .. } => reason,
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

/// Which agent a person is (indices into the planner's owned and linkable agents).
enum Target {
    Owned(usize),
    Linked(LinkKey, usize),
    New(String),
    /// Disabled at the source and without an agent.
    Skip,
}

/// Everything the planner needs besides the snapshot.
pub struct Inputs<'a> {
    /// `ldap:corp`: the `source` value of agents this source owns, and the prefix of the
    /// reasons it writes (so a later run knows which suspensions are its own).
    pub source: &'a str,
    pub mapping: &'a Mapping,
    /// Live agents owned by the source.
    pub owned: Vec<OwnedAgent>,
    /// Live agents owned by no sync source, which `link_by` may claim.
    pub linkable: Vec<SourcedAgent>,
    /// Keys of managers named by the records but not among them (lower-cased DN → key):
    /// an incremental run reads only the people who changed, not their managers.
    pub manager_keys: HashMap<String, String>,
    pub now: NaiveDateTime,
}

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
fn apply_rules(mapping: &Mapping, groups: &[String]) -> (String, Vec<String>, Option<String>) {
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
fn rules_for<'m>(
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
type Ruled = (String, Vec<String>, Option<String>);

/// The managed part of an agent as the source describes the person. Fields the source does
/// not manage (channels, chat limit, IdP roles, external id) are taken from `base`.
pub fn desired_profile(
    record: &SourceRecord,
    mapping: &Mapping,
    manager_id: Option<String>,
    base: Option<&AgentProfile>,
) -> (AgentProfile, Option<String>) {
    let (role, skill_groups, role_group) = apply_rules(mapping, &record.groups);
    let managed = managed_profile(record.clone(), manager_id, role, skill_groups);
    let profile = match base {
        Some(base) => with_managed(base.clone(), managed),
        None => managed,
    };
    (profile, role_group)
}

/// The fields a source manages, as the source describes the person (whose record it takes
/// apart); the rest left empty.
fn managed_profile(
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
fn changed_fields(
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

/// Loads the full agents of the given ids (owned by the source being planned) for the
/// people who need comparing field by field.
pub type Fetch<'f, E> = dyn FnMut(&[String]) -> Result<Vec<SourcedAgent>, E> + 'f;

/// People compared field by field per load of their agents.
const FETCH_CHUNK: usize = 500;

/// Plans a run record by record, as a source delivers them: each person is compared with
/// their agent as soon as they arrive, and what a change needs moves into it, so a full
/// read is planned while it is still being read and no snapshot is held. A person whose
/// manager has not been seen yet waits for the end of the read (the manager may come later).
///
/// An owned agent whose recorded digest (see [`OwnedAgent::digest`]) matches the person's
/// needs no closer look; the others are compared field by field at the end, against their
/// agents as loaded then.
pub struct Planner<'a> {
    source: &'a str,
    mapping: &'a Mapping,
    now: NaiveDateTime,
    owned: Vec<OwnedAgent>,
    linkable: Vec<SourcedAgent>,
    manager_keys: HashMap<String, String>,
    /// Owned agents by key (index into `owned`).
    by_key: FastMap<String, usize>,
    by_employee: FastMap<String, usize>,
    by_email: FastMap<String, usize>,
    /// Linkable agents already claimed by someone in this run.
    claimed: FastSet<usize>,
    /// Owned agents the source still has.
    seen: Vec<bool>,
    /// Lower-cased DN → the id of that person's agent (existing or chosen now).
    id_by_dn: FastMap<String, String>,
    /// The rules' outcome per distinct set of groups.
    ruled: FastMap<Vec<String>, Ruled>,
    /// People waiting for their manager to be known.
    waiting: Vec<(SourceRecord, Target)>,
    /// People whose owned agent (index) needs comparing field by field, with their
    /// manager's id and digest.
    closer: Vec<(SourceRecord, usize, Option<String>, String)>,
    plan: Plan,
}

impl<'a> Planner<'a> {
    pub fn new(inputs: Inputs<'a>) -> Planner<'a> {
        let Inputs {
            source,
            mapping,
            owned,
            linkable,
            manager_keys,
            now,
        } = inputs;
        let mut by_key = map_with_capacity(owned.len());
        by_key.extend(
            owned
                .iter()
                .enumerate()
                .filter_map(|(i, o)| o.key.clone().map(|k| (k, i))),
        );
        let mut by_employee = FastMap::default();
        let mut by_email = FastMap::default();
        for (i, a) in linkable.iter().enumerate() {
            if let Some(n) = &a.employee_number {
                by_employee.entry(n.to_ascii_lowercase()).or_insert(i);
            }
            if let Some(e) = a.emails.primary() {
                by_email.entry(e.to_ascii_lowercase()).or_insert(i);
            }
        }
        let plan = Plan {
            owned: owned.len(),
            owned_active: owned.iter().filter(|o| o.status == Status::Active).count(),
            ..Plan::default()
        };
        Planner {
            source,
            mapping,
            now,
            seen: vec![false; owned.len()],
            owned,
            linkable,
            manager_keys,
            by_key,
            by_employee,
            by_email,
            claimed: FastSet::default(),
            // Everyone the source still has is named here once: room for as many as it
            // owns saves growing the map step by step.
            id_by_dn: map_with_capacity(plan.owned),
            ruled: FastMap::default(),
            waiting: Vec::new(),
            closer: Vec::new(),
            plan,
        }
    }

    /// Live agents the source owns (what the guard's shares count).
    pub fn owned(&self) -> usize {
        self.owned.len()
    }

    /// Whether this is a source's first run: it owns no agents and has none to link.
    pub fn is_first(&self) -> bool {
        self.owned.is_empty() && self.linkable.is_empty()
    }

    /// The changes planned so far.
    pub fn changes(&self) -> &[Change] {
        &self.plan.changes
    }

    /// The changes in `range` of those planned so far, to take the profiles of creates
    /// applied while reading (see `sync::execute_first`).
    pub fn changes_mut(&mut self, range: std::ops::Range<usize>) -> &mut [Change] {
        &mut self.plan.changes[range]
    }

    pub fn push_all(&mut self, records: Vec<SourceRecord>) {
        for r in records {
            self.push(r);
        }
    }

    /// Plans one person.
    pub fn push(&mut self, r: SourceRecord) {
        self.plan.records += 1;
        let target = self.target(&r);
        let id = match &target {
            Target::Owned(i) => Some(self.owned[*i].id.clone()),
            Target::Linked(_, i) => Some(self.linkable[*i].id.clone()),
            Target::New(id) => Some(id.clone()),
            Target::Skip => None,
        };
        if let Some(id) = id {
            self.id_by_dn.insert(r.dn.to_ascii_lowercase(), id);
        }
        match &r.manager_dn {
            Some(dn) if !self.id_by_dn.contains_key(ascii_lower(dn).as_ref()) => {
                self.waiting.push((r, target));
            }
            _ => self.person(r, &target),
        }
    }

    /// Plans the people still waiting for a manager, compares those who need it with their
    /// agents (`fetch` loads them by id), then plans the leavers: on a full run every owned
    /// agent the source no longer has, otherwise the keys in `gone`.
    pub fn finish<E>(
        mut self,
        gone: &HashSet<String>,
        full: bool,
        fetch: &mut Fetch<'_, E>,
    ) -> Result<Plan, E> {
        for (r, target) in std::mem::take(&mut self.waiting) {
            self.person(r, &target);
        }
        let mut closer = std::mem::take(&mut self.closer).into_iter();
        loop {
            let batch: Vec<_> = closer.by_ref().take(FETCH_CHUNK).collect();
            if batch.is_empty() {
                break;
            }
            let ids: Vec<String> = batch
                .iter()
                .map(|(_, i, _, _)| self.owned[*i].id.clone())
                .collect();
            let mut agents: HashMap<String, SourcedAgent> = fetch(&ids)?
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect();
            for (r, i, manager, digest) in batch {
                let Some(current) = agents.remove(&self.owned[i].id) else {
                    // Gone since the run started: nothing to compare with.
                    continue;
                };
                let touched = self.compare(r, &current, None, manager);
                if !touched {
                    self.plan.stamps.push(Stamp {
                        agent_id: current.id,
                        digest,
                        version: current.version,
                    });
                }
            }
        }
        let Planner {
            source,
            mapping,
            now,
            owned,
            seen,
            mut plan,
            ..
        } = self;
        for (o, seen) in owned.iter().zip(seen) {
            let Some(key) = o.key.as_deref() else {
                continue;
            };
            let left = if full { !seen } else { gone.contains(key) };
            if left {
                leaver(&mut plan, source, mapping, now, o);
            }
        }
        Ok(plan)
    }

    /// Which agent `r` is: owned, linked, or new (with its id chosen now, so that a manager
    /// created in this run is referenced in this run too).
    fn target(&mut self, r: &SourceRecord) -> Target {
        if let Some(&i) = self.by_key.get(r.key.as_str()) {
            self.seen[i] = true;
            return Target::Owned(i);
        }
        let linked = self.mapping.link_by.iter().find_map(|k| {
            let found = match k {
                LinkKey::EmployeeNumber => r
                    .employee_number
                    .as_ref()
                    .and_then(|n| self.by_employee.get(&n.to_ascii_lowercase())),
                LinkKey::Email => r
                    .email
                    .as_ref()
                    .and_then(|e| self.by_email.get(&e.to_ascii_lowercase())),
            };
            found
                .filter(|i| !self.claimed.contains(*i))
                .map(|i| (*k, *i))
        });
        match linked {
            Some((by, i)) => {
                self.claimed.insert(i);
                Target::Linked(by, i)
            }
            None if r.disabled => Target::Skip,
            None => Target::New(uuid::Uuid::now_v7().to_string()),
        }
    }

    /// Managers are named by DN: the DN's person → their agent's id.
    fn manager_of(&self, r: &SourceRecord) -> Option<String> {
        let dn = ascii_lower(r.manager_dn.as_deref()?);
        if let Some(id) = self.id_by_dn.get(dn.as_ref()) {
            return Some(id.clone());
        }
        let key = self.manager_keys.get(dn.as_ref())?;
        self.by_key
            .get(key.as_str())
            .map(|&i| self.owned[i].id.clone())
    }

    /// The changes one person needs, once their manager is known.
    fn person(&mut self, r: SourceRecord, target: &Target) {
        let source = self.source;
        let manager = self.manager_of(&r);
        match target {
            Target::Skip => {
                // Never had an account and is disabled: nothing to do.
                self.plan.unchanged += 1;
            }
            Target::New(id) => {
                let rules = rules_for(&mut self.ruled, self.mapping, &r.groups);
                let digest = digest(&r, manager.as_deref(), rules);
                let (role, skills, _) = rules.clone();
                let key = r.key.clone();
                let user_name = r.user_name.clone();
                let profile = managed_profile(r, manager, role, skills);
                self.plan.changes.push(Change::Create {
                    id: id.clone(),
                    key,
                    user_name,
                    profile: Some(Box::new(profile)),
                    reason: format!("{source}: joined the directory"),
                    digest,
                });
            }
            Target::Linked(by, i) => {
                let current = self.linkable[*i].clone();
                self.compare(r, &current, Some(*by), manager);
            }
            Target::Owned(i) => {
                let rules = rules_for(&mut self.ruled, self.mapping, &r.groups);
                let digest = digest(&r, manager.as_deref(), rules);
                let o = &self.owned[*i];
                if o.digest.as_deref() != Some(digest.as_str()) {
                    self.closer.push((r, *i, manager, digest));
                    return;
                }
                // The agent holds what the source last wrote and the person is unchanged:
                // only the lifecycle can differ.
                let change = match lifecycle(source, r.disabled, o.status, &o.disabled_reason) {
                    Some(false) => Change::Disable {
                        agent_id: o.id.clone(),
                        user_name: r.user_name,
                        reason: format!("{source}: disabled in the directory"),
                    },
                    Some(true) => Change::Enable {
                        agent_id: o.id.clone(),
                        user_name: r.user_name,
                        reason: format!("{source}: enabled in the directory again"),
                    },
                    None => {
                        self.plan.unchanged += 1;
                        return;
                    }
                };
                self.plan.changes.push(change);
            }
        }
    }

    /// Compares a person with their agent field by field and plans what differs (a link
    /// first, when the agent is being linked). Returns whether anything was planned.
    fn compare(
        &mut self,
        r: SourceRecord,
        current: &SourcedAgent,
        linked: Option<LinkKey>,
        manager: Option<String>,
    ) -> bool {
        let source = self.source;
        let tag = |what: &str| format!("{source}: {what}");
        let mut changes = Vec::new();
        if let Some(by) = linked {
            changes.push(Change::Link {
                agent_id: current.id.clone(),
                key: r.key.clone(),
                user_name: current.user_name.clone(),
                by,
                reason: tag(match by {
                    LinkKey::EmployeeNumber => "linked by employee number",
                    LinkKey::Email => "linked by email",
                }),
            });
        }
        let rules = rules_for(&mut self.ruled, self.mapping, &r.groups);
        let fields = changed_fields(current, &r, manager.as_deref(), rules);
        let lifecycle = lifecycle(source, r.disabled, current.status, &current.disabled_reason);
        let mut touched = linked.is_some() || lifecycle.is_some();
        let user_name = if touched || !fields.is_empty() {
            r.user_name.clone()
        } else {
            String::new()
        };
        let agent_id = current.id.clone();
        if !fields.is_empty() {
            let (role, skills, role_group) = rules.clone();
            let reason = if fields.iter().any(|f| f == "role") {
                match &role_group {
                    Some(g) => tag(&format!("moved to group {g}")),
                    None => tag("no longer in a group with a role rule"),
                }
            } else {
                tag(&format!("changed in the directory: {}", fields.join(", ")))
            };
            changes.push(Change::Update {
                agent_id: agent_id.clone(),
                user_name: user_name.clone(),
                fields,
                profile: Box::new(managed_profile(r, manager, role, skills)),
                reason,
            });
            touched = true;
        }
        match lifecycle {
            Some(false) => changes.push(Change::Disable {
                agent_id,
                user_name,
                reason: tag("disabled in the directory"),
            }),
            Some(true) => changes.push(Change::Enable {
                agent_id,
                user_name,
                reason: tag("enabled in the directory again"),
            }),
            None => {}
        }
        if !touched {
            self.plan.unchanged += 1;
        }
        self.plan.changes.extend(changes);
        touched
    }
}

/// `s` with ASCII letters lower-cased, copied only when it has capitals.
fn ascii_lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Whether a person's agent is to be disabled (`Some(false)`) or enabled again
/// (`Some(true)`): a source re-enables only agents it suspended itself.
fn lifecycle(
    source: &str,
    disabled: bool,
    status: Status,
    disabled_reason: &Option<String>,
) -> Option<bool> {
    match (disabled, status) {
        (true, Status::Active | Status::Pending) => Some(false),
        (false, Status::Suspended) if is_mine(source, disabled_reason) => Some(true),
        _ => None,
    }
}

/// A digest of what a source writes for a person: every managed field as `changed_fields`
/// compares it, with the manager's id and the rules' role and skill groups.
fn digest(r: &SourceRecord, manager: Option<&str>, (role, skills, _): &Ruled) -> String {
    use sha2::{Digest, Sha256};
    // Laid out in one buffer and hashed at once: the same digest as feeding the hasher
    // field by field, for a fraction of the calls.
    let mut bytes: Vec<u8> = Vec::with_capacity(384);
    let mut field = |v: Option<&str>| match v {
        Some(v) => {
            bytes.extend_from_slice(&(v.len() as u64 + 1).to_le_bytes());
            bytes.extend_from_slice(v.as_bytes());
        }
        None => bytes.extend_from_slice(&0u64.to_le_bytes()),
    };
    field(Some(&r.user_name));
    field(r.given_name.as_deref());
    field(r.family_name.as_deref());
    field(r.display_name.as_deref());
    field(r.nickname.as_deref());
    field(r.title.as_deref());
    field(r.employee_number.as_deref());
    field(r.department.as_deref());
    field(manager);
    field(r.email.as_deref());
    field(r.phone.as_deref());
    field(Some(role));
    for s in skills {
        field(Some(s));
    }
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// Whether a suspension reason is `source`'s own ("ldap:corp: …").
fn is_mine(source: &str, reason: &Option<String>) -> bool {
    reason
        .as_deref()
        .is_some_and(|r| r.starts_with(source) && r[source.len()..].starts_with(": "))
}

/// What happens to an owned agent whose person left the source.
fn leaver(plan: &mut Plan, source: &str, mapping: &Mapping, now: NaiveDateTime, a: &OwnedAgent) {
    let tag = |what: &str| format!("{source}: {what}");
    let mine = is_mine(source, &a.disabled_reason);
    let user_name = a.user_name.clone();
    match (mapping.leaver, a.status) {
        (LeaverPolicy::Delete { after }, Status::Suspended)
            if mine && a.disabled_at.is_some_and(|t| now - t >= after) =>
        {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag(&format!(
                    "removed from the directory {} days ago",
                    after.num_days()
                )),
            });
        }
        (LeaverPolicy::Delete { after }, Status::Active | Status::Pending) if after.is_zero() => {
            plan.changes.push(Change::Delete {
                agent_id: a.id.clone(),
                user_name,
                reason: tag("removed from the directory"),
            });
        }
        (_, Status::Active | Status::Pending) => {
            plan.changes.push(Change::Disable {
                agent_id: a.id.clone(),
                user_name,
                reason: tag("removed from the directory"),
            });
        }
        _ => plan.unchanged += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SyncedValues;

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
        // agent would be compared field by field once more.
        let mut r = record("1", "ana", &[]);
        r.given_name = Some("Ana".into());
        r.family_name = None;
        r.employee_number = None;
        r.department = None;
        r.email = Some("ana@x".into());
        let ruled: Ruled = ("agent".into(), vec!["chat".into()], None);
        assert_eq!(
            digest(&r, Some("m-1"), &ruled),
            "d29aa779acbd77c5aa8a8c0eec327c9c"
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
}

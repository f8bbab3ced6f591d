//! The planner proper: which agent each person is (owned, linked or new), the creates and
//! updates a person needs, the field-by-field comparisons at the end, then the leavers.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use super::digest::digest;
use super::lifecycle::{is_new_rehire, leaver, life_change};
use super::mapping::{Ruled, changed_fields, managed_profile, rules_for};
use super::ownership::{Offer, Standing, writable};
use super::{
    Candidate, Change, Dispute, Inputs, LinkKey, Mapping, Plan, Schedule, ScheduleSet, Stamp,
};
use crate::domain::{OwnedAgent, SourcedAgent, Status, is_sync_source};
use crate::fast_hash::{FastMap, FastSet, map_with_capacity};
use crate::sources::{Phase, SourceRecord};

/// Which agent a person is (indices into the planner's owned and linkable agents).
enum Target {
    Owned(usize),
    Linked(LinkKey, usize),
    New(String),
    /// Back after a termination, with `rehire = "new_agent"`: a new agent (this id), the
    /// owned one (index) released.
    Rehired(usize, String),
    /// Disabled at the source and without an agent.
    Skip,
    /// More than one agent could be this person (see [`Dispute`]): left alone.
    Disputed,
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
    /// Linkable agents by each link key's value (lower-cased).
    by_employee: FastMap<String, Vec<usize>>,
    by_email: FastMap<String, Vec<usize>>,
    by_external: FastMap<String, Vec<usize>>,
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
    /// The schedules recorded for the source's agents (HR), by agent id.
    schedules: FastMap<String, Schedule>,
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
        let mut by_employee: FastMap<String, Vec<usize>> = FastMap::default();
        let mut by_email: FastMap<String, Vec<usize>> = FastMap::default();
        let mut by_external: FastMap<String, Vec<usize>> = FastMap::default();
        let keys = &mapping.link_by;
        for (i, a) in linkable.iter().enumerate() {
            if let Some(n) = a
                .employee_number
                .as_ref()
                .filter(|_| keys.contains(&LinkKey::EmployeeNumber))
            {
                by_employee
                    .entry(n.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
            if let Some(e) = a
                .emails
                .primary()
                .filter(|_| keys.contains(&LinkKey::Email))
            {
                by_email.entry(e.to_ascii_lowercase()).or_default().push(i);
            }
            if let Some(x) = a
                .external_id
                .as_ref()
                .filter(|_| keys.contains(&LinkKey::ExternalId))
            {
                by_external
                    .entry(x.to_ascii_lowercase())
                    .or_default()
                    .push(i);
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
            by_external,
            claimed: FastSet::default(),
            // Everyone the source still has is named here once: room for as many as it
            // owns saves growing the map step by step.
            id_by_dn: map_with_capacity(plan.owned),
            ruled: FastMap::default(),
            waiting: Vec::new(),
            closer: Vec::new(),
            schedules: FastMap::default(),
            plan,
        }
    }

    /// The schedules the source's agents have now (an HR source's runs compare with them).
    pub fn with_schedules(mut self, schedules: FastMap<String, Schedule>) -> Self {
        self.schedules = schedules;
        self
    }

    /// People the source has but whose rows could not be read this time: their agents
    /// are left as they are, never taken for leavers.
    pub fn hold<'k>(&mut self, keys: impl IntoIterator<Item = &'k String>) {
        for k in keys {
            if let Some(&i) = self.by_key.get(k.as_str()) {
                self.seen[i] = true;
            }
        }
    }

    /// Where an HR person stands at the moment planned for (`None` for a directory's).
    fn phase(&self, r: &SourceRecord) -> Option<Phase> {
        let dated = self.mapping.dated.as_ref()?;
        Some(r.employment.as_ref()?.phase(self.now, dated.prehire))
    }

    /// Records the schedule an HR person's existing agent should have, when it differs.
    fn schedule(&mut self, agent_id: &str, r: &SourceRecord) {
        let Some(e) = &r.employment else { return };
        let wanted = super::schedule_of(e);
        let differs = match self.schedules.get(agent_id) {
            Some(current) => *current != wanted,
            None => !wanted.is_empty(),
        };
        if differs {
            self.plan.schedules.push(ScheduleSet {
                agent_id: agent_id.to_owned(),
                user_name: r.user_name.clone(),
                schedule: wanted,
            });
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
    pub fn push(&mut self, mut r: SourceRecord) {
        self.plan.records += 1;
        self.mapping.templates.apply(&mut r);
        if let Some(phase) = self.phase(&r) {
            // Not working at the moment planned for: never created, disabled if there.
            r.disabled = !matches!(phase, Phase::PreHire | Phase::Working);
        }
        let target = self.target(&r);
        let id = match &target {
            Target::Owned(i) => Some(self.owned[*i].id.clone()),
            Target::Linked(_, i) => Some(self.linkable[*i].id.clone()),
            Target::New(id) | Target::Rehired(_, id) => Some(id.clone()),
            Target::Skip | Target::Disputed => None,
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
                let o = &self.owned[i];
                let offered = o.offered.clone();
                let standing = Standing {
                    own: !o.joined,
                    shared: o.shared,
                    offered: offered.as_deref(),
                };
                let touched = self.compare(r, &current, None, manager, standing);
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
            if left && mapping.ownership.disables {
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
            let o = &self.owned[i];
            let (status, reason) = (o.status, &o.disabled_reason);
            if is_new_rehire(self.source, self.mapping, self.now, r, status, reason) {
                return Target::Rehired(i, uuid::Uuid::now_v7().to_string());
            }
            return Target::Owned(i);
        }
        let mapping = self.mapping;
        for &by in &mapping.link_by {
            let (value, map) = match by {
                LinkKey::EmployeeNumber => (r.employee_number.as_deref(), &self.by_employee),
                LinkKey::Email => (r.email.as_deref(), &self.by_email),
                LinkKey::ExternalId => (Some(r.key.as_str()), &self.by_external),
            };
            let Some(value) = value else { continue };
            let Some(found) = map.get(&value.to_ascii_lowercase()) else {
                continue;
            };
            if let [i] = found[..]
                && self.claimed.insert(i)
            {
                return Target::Linked(by, i);
            }
            let why = if found.len() > 1 {
                format!("{} agents have this {}", found.len(), by.as_str())
            } else {
                "its agent was linked to another person of this run".to_owned()
            };
            let candidates = found
                .iter()
                .map(|&i| Candidate {
                    agent_id: self.linkable[i].id.clone(),
                    user_name: self.linkable[i].user_name.clone(),
                    source: self.linkable[i].source.clone(),
                })
                .collect();
            self.plan.disputes.push(Dispute {
                key: r.key.clone(),
                user_name: r.user_name.clone(),
                by,
                value: value.to_owned(),
                why,
                candidates,
            });
            return Target::Disputed;
        }
        if r.disabled {
            Target::Skip
        } else {
            Target::New(uuid::Uuid::now_v7().to_string())
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
            Target::Disputed => {}
            Target::Skip => {
                // Never had an account and is disabled (or starts later): nothing to do.
                if self.phase(&r) == Some(Phase::TooEarly) {
                    self.plan.not_yet += 1;
                } else {
                    self.plan.unchanged += 1;
                }
            }
            Target::Rehired(i, id) => {
                let old = &self.owned[*i];
                self.plan.changes.push(Change::Release {
                    agent_id: old.id.clone(),
                    user_name: old.user_name.clone(),
                    reason: format!("{source}: rehired as a new agent; this one stays disabled"),
                });
                let reason = format!("{source}: rehired; earlier agent {}", old.id);
                self.create(r, id, manager, Some(reason));
            }
            Target::New(id) => self.create(r, id, manager, None),
            Target::Linked(by, i) => {
                let current = self.linkable[*i].clone();
                self.schedule(&current.id, &r);
                // Taken over unless another sync source has it (then joined).
                let joins = is_sync_source(&current.source);
                let standing = Standing {
                    own: !joins,
                    shared: joins,
                    offered: None,
                };
                self.compare(r, &current, Some(*by), manager, standing);
            }
            Target::Owned(i) => {
                let id = self.owned[*i].id.clone();
                self.schedule(&id, &r);
                let rules = rules_for(&mut self.ruled, self.mapping, &r.groups);
                let digest = digest(&r, manager.as_deref(), rules);
                let o = &self.owned[*i];
                if o.digest.as_deref() != Some(digest.as_str()) {
                    self.closer.push((r, *i, manager, digest));
                    return;
                }
                // The agent holds what the source last wrote and the person is unchanged:
                // only the lifecycle can differ.
                let (status, reason) = (o.status, &o.disabled_reason);
                let life = life_change(source, self.mapping, self.now, &r, &id, status, reason);
                match self.allowed(life) {
                    Some(change) => self.plan.changes.push(change),
                    None => self.plan.unchanged += 1,
                }
            }
        }
    }

    /// Plans a new agent for `r` (with `id`, chosen when its person was met); `reason`
    /// is what its audit entry says, else where the person stands.
    fn create(
        &mut self,
        r: SourceRecord,
        id: &str,
        manager: Option<String>,
        reason: Option<String>,
    ) {
        let source = self.source;
        let phase = self.phase(&r);
        let schedule = r
            .employment
            .as_ref()
            .map(|e| super::schedule_of(e))
            .filter(|s| !s.is_empty())
            .map(Box::new);
        let rules = rules_for(&mut self.ruled, self.mapping, &r.groups);
        let digest = digest(&r, manager.as_deref(), rules);
        let (role, skills, _) = rules.clone();
        let key = r.key.clone();
        let user_name = r.user_name.clone();
        let reason = reason.unwrap_or_else(|| {
            match (
                &phase,
                r.employment.as_ref().and_then(|e| e.start_note.as_ref()),
            ) {
                (Some(Phase::PreHire), Some(start)) => format!("{source}: hired, starts {start}"),
                (Some(_), _) => format!("{source}: in the export"),
                (None, _) => format!("{source}: joined the directory"),
            }
        });
        let profile = managed_profile(r, manager, role, skills);
        self.plan.changes.push(Change::Create {
            id: id.to_owned(),
            key,
            user_name,
            pending: phase == Some(Phase::PreHire),
            profile: Some(Box::new(profile)),
            reason,
            digest,
            schedule,
        });
    }

    /// A lifecycle change, if `[ownership]` lets this source make it: any status owner may
    /// disable, only those allowed to may enable.
    fn allowed(&self, change: Option<Change>) -> Option<Change> {
        let own = &self.mapping.ownership;
        change.filter(|c| match c {
            Change::Disable { .. } | Change::Delete { .. } => own.disables,
            Change::Enable { .. } | Change::Activate { .. } => own.enables,
            _ => true,
        })
    }

    /// Compares a person with their agent field by field and plans what differs (a link
    /// first, when the agent is being linked) among the fields this source may write on
    /// it: on an agent it made (`own`) or took over, every field it maps unless
    /// `[ownership]` says otherwise; on one it joined, only empty ones. `offered` is the
    /// digest of what it last wrote or confirmed (a `normal` owner writes a value that
    /// changed since). Returns whether anything was planned.
    fn compare(
        &mut self,
        r: SourceRecord,
        current: &SourcedAgent,
        linked: Option<LinkKey>,
        manager: Option<String>,
        standing: Standing<'_>,
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
                    LinkKey::ExternalId => "linked by external id",
                }),
            });
        }
        let life = life_change(
            source,
            self.mapping,
            self.now,
            &r,
            &current.id,
            current.status,
            &current.disabled_reason,
        );
        let life = self.allowed(life);
        let mapping = self.mapping;
        let rules = rules_for(&mut self.ruled, mapping, &r.groups);
        let mut fields = changed_fields(current, &r, manager.as_deref(), rules);
        let now = (!fields.is_empty()).then(|| digest(&r, manager.as_deref(), rules));
        let offer = Offer {
            record: &r,
            manager: manager.as_deref(),
            rules,
            digest: now.as_deref(),
        };
        writable(&mut fields, &mapping.ownership, standing, current, &offer);
        let mut touched = linked.is_some() || life.is_some();
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
                let place = if self.mapping.dated.is_some() {
                    "the export"
                } else {
                    "the directory"
                };
                tag(&format!("changed in {place}: {}", fields.join(", ")))
            };
            changes.push(Change::Update {
                agent_id: agent_id.clone(),
                user_name: user_name.clone(),
                digest: now.unwrap_or_default(),
                fields,
                profile: Box::new(managed_profile(r, manager, role, skills)),
                reason,
            });
            touched = true;
        }
        let _ = (agent_id, user_name);
        changes.extend(life);
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

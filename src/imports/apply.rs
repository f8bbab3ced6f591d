//! Writing a checked import through the gateway: new agents by the bulk create path
//! (`PreparedCreates`, one audit entry each), changed ones by `update_agent` with the version
//! read while checking — all in one write transaction, so that all-or-nothing means it.

use super::plan::{Action, Plan, Rules};
use super::read::Sheet;
use super::{ActionKind, Context, ImportError, Mode, Progress, RowError};
use crate::accounts::{AccountError, AgentInput, known_roles};
use crate::store::{DbConn, write_tx};

/// Creates written per `prepare_creates` batch: bounded memory, few statements.
const CREATE_BATCH: usize = 2_000;

/// The source new agents record (`agents.source`).
pub const SOURCE: &str = "import";

/// Writes the rows `plan` found valid. All-or-nothing: a row the gateway refuses now (an
/// agent changed since the check) rolls everything back and is reported. Valid only: such a
/// row is reported and refused, the others are kept.
pub fn apply(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    import_id: &str,
    (sheet, rules): (&Sheet, &Rules<'_>),
    plan: &mut Plan,
    mode: Mode,
    progress: Option<Progress<'_>>,
) -> Result<(), ImportError> {
    let now = crate::store::now();
    let total = plan
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Create | ActionKind::Update))
        .count();
    let mut late: Vec<(usize, AccountError)> = Vec::new();
    let result = write_tx(conn, |conn| -> Result<(), ImportError> {
        let known = known_roles(conn)?;
        let mut done = 0;
        let creates: Vec<usize> = indexes(&plan.actions, ActionKind::Create);
        for batch in creates.chunks(CREATE_BATCH) {
            let inputs: Vec<AgentInput> = batch
                .iter()
                .map(|&i| input_of(plan, i, (sheet, rules), import_id))
                .collect::<Result<_, _>>()?;
            let mut prepared = ctx
                .accounts
                .prepare_creates(&known, ctx.actor, SOURCE, inputs, now);
            let outcome = ctx
                .accounts
                .write_creates(conn, ctx.actor, &mut prepared, now)?;
            for (&i, err) in batch.iter().zip(outcome) {
                if let Some(e) = err {
                    late.push((i, e));
                }
            }
            done += batch.len();
            report_progress(progress, done, total);
            if mode == Mode::AllOrNothing && !late.is_empty() {
                return Err(AccountError::Invalid("refused by the gateway".into()).into());
            }
        }
        for i in indexes(&plan.actions, ActionKind::Update) {
            let action = &plan.actions[i];
            let (id, version, line) = (action.id.clone(), action.version, action.line);
            let input = input_of(plan, i, (sheet, rules), import_id)?;
            let reason = format!("import {import_id}, line {line}");
            match ctx.accounts.update_agent(
                conn,
                ctx.actor,
                &id,
                Some(version),
                input,
                Some(&reason),
                now,
            ) {
                Ok(_) => {}
                Err(AccountError::Db(e)) => return Err(e.into()),
                Err(e) => {
                    late.push((i, e));
                    if mode == Mode::AllOrNothing {
                        return Err(AccountError::Invalid("refused by the gateway".into()).into());
                    }
                }
            }
            done += 1;
            if done % 500 == 0 || done == total {
                report_progress(progress, done, total);
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(_) if !late.is_empty() => {
            // All or nothing, rolled back: every row it would have written is unwritten.
            for a in &mut plan.actions {
                if matches!(a.kind, ActionKind::Create | ActionKind::Update) {
                    a.kind = ActionKind::Unchanged;
                }
            }
        }
        Err(e) => return Err(e),
    }
    for (i, e) in late {
        let a = &mut plan.actions[i];
        a.kind = ActionKind::Refused;
        let detail = match e {
            AccountError::VersionMismatch { .. } => {
                "the agent changed while the file was checked; import the file again".into()
            }
            other => other.to_string(),
        };
        plan.errors.push(RowError::new(a.line, "user name", detail));
    }
    plan.errors.sort_by_key(|e| e.line);
    Ok(())
}

fn indexes(actions: &[Action], kind: ActionKind) -> Vec<usize> {
    actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.kind == kind)
        .map(|(i, _)| i)
        .collect()
}

/// The gateway input of checked row `i` (its profile moved out of the plan: written once).
fn input_of(
    plan: &mut Plan,
    i: usize,
    (sheet, rules): (&Sheet, &Rules<'_>),
    import_id: &str,
) -> Result<AgentInput, ImportError> {
    let profile = plan.profile(i, sheet, rules)?;
    let action = &plan.actions[i];
    Ok(AgentInput {
        profile,
        id: Some(action.id.clone()),
        reason: Some(format!("import {import_id}, line {}", action.line)),
        // New agents start active. When approval of imported agents is configured, this is
        // where they are made `pending` instead.
        active: None,
        ..AgentInput::default()
    })
}

fn report_progress(progress: Option<Progress<'_>>, done: usize, total: usize) {
    if let Some(p) = progress {
        p(done, total);
    }
}

//! A row's cells laid over an agent's profile (the cell checks of `fields`), the columns an
//! update changes, and the column a gateway message is about.

use super::RowError;
use super::columns::Column;
use super::fields;
use super::plan::{Layout, Manager, Rules};
use super::read::Row;
use crate::domain::{AgentProfile, MultiValue};

/// The profile a row asks for: `base` (the existing agent's, or empty) with the file's
/// columns laid over it. A bad cell is reported and leaves its field as it was.
pub(super) fn profile_of(
    row: &Row,
    layout: &Layout,
    rules: &Rules<'_>,
    mut p: AgentProfile,
    manager: Manager,
    errs: &mut Vec<RowError>,
) -> AgentProfile {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut bad = |col: Column, detail: String| {
        errs.push(RowError::new(row.line, &layout.header(col), detail));
    };
    if let Some(v) = layout.cell(row, Column::UserName) {
        p.user_name = v.to_owned();
    }
    if let Some(v) = layout.cell(row, Column::DisplayName) {
        p.display_name = opt(v);
    }
    if let Some(v) = layout.cell(row, Column::Nickname) {
        p.nickname = opt(v);
    }
    if let Some(v) = layout.cell(row, Column::AgentNumber) {
        p.employee_number = opt(v);
    }
    if let Some(v) = layout.cell(row, Column::Department) {
        p.department = opt(v);
    }
    if let Some(v) = layout.cell(row, Column::Title) {
        p.title = opt(v);
    }
    if let Some(v) = layout.cell(row, Column::Email) {
        match v {
            "" => p.emails.clear(),
            v => match fields::check_email(v) {
                Ok(()) => set_primary(&mut p.emails, v),
                Err(e) => bad(Column::Email, e),
            },
        }
    }
    if let Some(v) = layout.cell(row, Column::Phone) {
        match v {
            "" => p.phones.clear(),
            v => match fields::check_phone(v) {
                Ok(()) => set_primary(&mut p.phones, v),
                Err(e) => bad(Column::Phone, e),
            },
        }
    }
    if let Some(v) = layout.cell(row, Column::Role).filter(|v| !v.is_empty()) {
        match rules.roles.iter().find(|r| r.eq_ignore_ascii_case(v)) {
            Some(r) => p.role = Some(r.clone()),
            None => {
                let mut known: Vec<&str> = rules.roles.iter().map(String::as_str).collect();
                known.sort_unstable();
                bad(
                    Column::Role,
                    format!("unknown role {v:?}; roles: {}", known.join(", ")),
                );
            }
        }
    }
    if let Some(v) = layout.cell(row, Column::SkillGroups) {
        p.skill_groups = fields::split_list(v);
    }
    if let Some(v) = layout.cell(row, Column::Channels) {
        match fields::channels(v, rules.channels) {
            Ok(c) => p.channels = c,
            Err(e) => bad(Column::Channels, e),
        }
    }
    if let Some(v) = layout.cell(row, Column::MaxChats) {
        match v {
            "" => p.max_concurrent_chats = None,
            v => match fields::parse_max_chats(v) {
                Ok(n) => p.max_concurrent_chats = Some(n),
                Err(e) => bad(Column::MaxChats, e),
            },
        }
    }
    if let Some(m) = manager {
        p.manager_id = m.map(|(id, _)| id);
    }
    // Cells to the right of the last header hold data nobody named.
    for (i, c) in row.cells.iter().enumerate().skip(layout.headers.len()) {
        if !c.is_empty() {
            bad_extra(errs, row.line, i, c);
        }
    }
    p
}

fn bad_extra(errs: &mut Vec<RowError>, line: u64, index: usize, cell: &str) {
    errs.push(RowError::new(
        line,
        &format!("column {}", index + 1),
        format!("{cell:?} is in a column without a header"),
    ));
}

/// Makes `value` the primary value of an email or phone list: a list whose primary it
/// already is stays as it is (other values an IdP gave are kept); otherwise the list becomes
/// that one work value.
fn set_primary(list: &mut Vec<MultiValue>, value: &str) {
    if AgentProfile::primary_of(list) == Some(value) {
        return;
    }
    *list = vec![MultiValue {
        value: value.to_owned(),
        kind: Some("work".into()),
        primary: true,
        display: None,
    }];
}

/// The columns whose values differ between the stored profile and the planned one.
pub(super) fn changed_columns(old: &AgentProfile, new: &AgentProfile) -> Vec<&'static str> {
    let pairs: [(Column, bool); 13] = [
        (Column::UserName, old.user_name != new.user_name),
        (Column::DisplayName, old.display_name != new.display_name),
        (Column::Nickname, old.nickname != new.nickname),
        (Column::Email, old.emails != new.emails),
        (Column::Phone, old.phones != new.phones),
        (
            Column::AgentNumber,
            old.employee_number != new.employee_number,
        ),
        (Column::Department, old.department != new.department),
        (Column::Title, old.title != new.title),
        (Column::Role, old.role != new.role),
        (Column::SkillGroups, old.skill_groups != new.skill_groups),
        (Column::Channels, old.channels != new.channels),
        (
            Column::MaxChats,
            old.max_concurrent_chats != new.max_concurrent_chats,
        ),
        (Column::Manager, old.manager_id != new.manager_id),
    ];
    pairs
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(c, _)| c.name())
        .collect()
}

/// The column a gateway message is about (messages start with the SCIM attribute).
pub(super) fn column_of_attr(detail: &str) -> Column {
    let attr = detail.split([' ', '.']).next().unwrap_or("");
    match attr {
        "displayName" => Column::DisplayName,
        "nickName" => Column::Nickname,
        "emails" => Column::Email,
        "phoneNumbers" => Column::Phone,
        "employeeNumber" => Column::AgentNumber,
        "department" => Column::Department,
        "title" => Column::Title,
        "role" | "roles" => Column::Role,
        "skillGroups" => Column::SkillGroups,
        "channels" => Column::Channels,
        "maxConcurrentChats" => Column::MaxChats,
        "manager" => Column::Manager,
        _ => Column::UserName,
    }
}

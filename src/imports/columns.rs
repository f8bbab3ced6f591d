//! The columns of an import file: their template names, the header aliases accepted for
//! each (English and Chinese, any case and spacing), and the template itself.

use crate::csv_out;

/// A column Rollcall reads from an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    UserName,
    DisplayName,
    Nickname,
    Email,
    Phone,
    AgentNumber,
    Department,
    Title,
    Role,
    SkillGroups,
    Channels,
    MaxChats,
    Manager,
}

impl Column {
    /// Every column, in template order.
    pub const ALL: [Column; 13] = [
        Column::UserName,
        Column::DisplayName,
        Column::Nickname,
        Column::Email,
        Column::Phone,
        Column::AgentNumber,
        Column::Department,
        Column::Title,
        Column::Role,
        Column::SkillGroups,
        Column::Channels,
        Column::MaxChats,
        Column::Manager,
    ];

    /// The template's header (English).
    pub fn name(self) -> &'static str {
        match self {
            Column::UserName => "user name",
            Column::DisplayName => "display name",
            Column::Nickname => "nickname",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::AgentNumber => "agent number",
            Column::Department => "department",
            Column::Title => "title",
            Column::Role => "role",
            Column::SkillGroups => "skill groups",
            Column::Channels => "channels",
            Column::MaxChats => "max concurrent chats",
            Column::Manager => "manager",
        }
    }

    /// Other headers that mean this column, compared after [`header_key`] (docs/admin.md
    /// lists them).
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::UserName => &["login", "用户名", "账号", "帐号", "登录名"],
            Column::DisplayName => &["name", "full name", "显示名", "显示名称", "姓名"],
            Column::Nickname => &["nick", "昵称"],
            Column::Email => &["email address", "mail", "邮箱", "电子邮件", "邮件"],
            Column::Phone => &[
                "phone number",
                "mobile",
                "telephone",
                "电话",
                "手机",
                "手机号",
                "电话号码",
            ],
            Column::AgentNumber => &[
                "employee number",
                "employee id",
                "agent id",
                "工号",
                "员工编号",
                "坐席工号",
            ],
            Column::Department => &["dept", "部门"],
            Column::Title => &["job title", "position", "职位", "职务", "岗位"],
            Column::Role => &["角色"],
            Column::SkillGroups => &["skill group", "skills", "技能组", "技能"],
            Column::Channels => &["channel", "渠道", "接入渠道"],
            Column::MaxChats => &[
                "max chats",
                "maximum concurrent chats",
                "chat limit",
                "最大接待量",
                "最大并发会话数",
                "接待上限",
            ],
            Column::Manager => &["supervisor", "上级", "主管", "经理"],
        }
    }

    /// The column a header names, if any.
    pub fn from_header(header: &str) -> Option<Column> {
        let key = header_key(header);
        Column::ALL.into_iter().find(|c| {
            header_key(c.name()) == key || c.aliases().iter().any(|a| header_key(a) == key)
        })
    }
}

/// The header the report CSV adds; a re-uploaded report's `error` column is ignored.
pub const ERROR_COLUMN: &str = "error";

/// A header compared without case, spaces, `_`, `-` or a BOM: "User Name", "user_name",
/// "USERNAME" and "userName" are one header.
pub fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '\u{FEFF}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The template: a UTF-8 CSV (with a BOM, so that spreadsheet programs read names in any
/// script correctly) holding the header line alone.
pub fn template() -> Vec<u8> {
    let headers: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    csv_out::to_csv(&headers, std::iter::empty::<Vec<&str>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_either_language_and_any_case() {
        assert_eq!(Column::from_header("User Name"), Some(Column::UserName));
        assert_eq!(Column::from_header("user_name"), Some(Column::UserName));
        assert_eq!(Column::from_header("USERNAME"), Some(Column::UserName));
        assert_eq!(
            Column::from_header("\u{FEFF}用户名"),
            Some(Column::UserName)
        );
        assert_eq!(Column::from_header("工号"), Some(Column::AgentNumber));
        assert_eq!(Column::from_header("技能组"), Some(Column::SkillGroups));
        assert_eq!(Column::from_header(" 昵称 "), Some(Column::Nickname));
        assert_eq!(
            Column::from_header("Max Concurrent Chats"),
            Some(Column::MaxChats)
        );
        assert_eq!(Column::from_header("notes"), None);
    }

    #[test]
    fn no_alias_names_two_columns() {
        let mut seen = std::collections::HashMap::new();
        for c in Column::ALL {
            for a in std::iter::once(c.name()).chain(c.aliases().iter().copied()) {
                if let Some(other) = seen.insert(header_key(a), c) {
                    panic!("{a:?} names {other:?} and {c:?}");
                }
            }
        }
    }

    #[test]
    fn template_is_the_english_header_line() {
        let t = String::from_utf8(template()).expect("utf-8");
        assert_eq!(
            t,
            "\u{FEFF}user name,display name,nickname,email,phone,agent number,department,title,\
             role,skill groups,channels,max concurrent chats,manager\r\n"
        );
    }
}

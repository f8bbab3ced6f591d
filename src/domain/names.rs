//! What text an agent or group may hold (control, invisible and bidirectional characters),
//! and the fold that decides when two unique names are the same name. Pure: the gateway,
//! the SCIM edge and the filter translator all call it, so both backends agree.

use std::fmt;

use icu_normalizer::ComposingNormalizerBorrowed;

use super::AgentProfile;

/// What kind of text an attribute holds, and so which characters it may not contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A unique name (`userName`, a group's `displayName`): no control characters, no line
    /// breaks, no bidirectional controls, no zero-width characters, no byte order mark.
    UniqueName,
    /// An identifier or value (`externalId`, an email, a phone number, a type, a role, an
    /// employee number, an id): no control characters at all.
    Identifier,
    /// Text written for people (`displayName`, `nickName`, `title`, `name.*`, `department`,
    /// a value's `display`): no control characters except tab, line feed and carriage
    /// return.
    FreeText,
}

/// A rule that text broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    NoControlCharacters,
    NoLineBreaks,
    NoBidiControls,
    NoZeroWidth,
    NoByteOrderMark,
}

impl Rule {
    /// The rule's name, as error messages and docs/scim.md give it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NoControlCharacters => "no control characters",
            Rule::NoLineBreaks => "no line breaks in names",
            Rule::NoBidiControls => "no bidirectional controls in names",
            Rule::NoZeroWidth => "no zero-width characters in names",
            Rule::NoByteOrderMark => "no byte order mark in names",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Rule::NoControlCharacters => "a control character",
            Rule::NoLineBreaks => "a line break",
            Rule::NoBidiControls => "a bidirectional control",
            Rule::NoZeroWidth => "a zero-width character",
            Rule::NoByteOrderMark => "a byte order mark",
        }
    }
}

/// Text that breaks a rule: which attribute, which character, which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub attr: String,
    pub found: char,
    pub rule: Rule,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} contains U+{:04X}, {} (rule: {})",
            self.attr,
            u32::from(self.found),
            self.rule.what(),
            self.rule.name()
        )
    }
}

impl std::error::Error for TextError {}

/// The rule `c` breaks in text of `kind`, if any.
pub fn rule_broken(kind: TextKind, c: char) -> Option<Rule> {
    let line_break = matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}');
    match kind {
        TextKind::UniqueName => {
            if line_break {
                Some(Rule::NoLineBreaks)
            } else if c.is_control() {
                Some(Rule::NoControlCharacters)
            } else if matches!(
                c,
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            ) {
                Some(Rule::NoBidiControls)
            } else if matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}') {
                Some(Rule::NoZeroWidth)
            } else if c == '\u{FEFF}' {
                Some(Rule::NoByteOrderMark)
            } else {
                None
            }
        }
        TextKind::Identifier => c.is_control().then_some(Rule::NoControlCharacters),
        TextKind::FreeText => (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            .then_some(Rule::NoControlCharacters),
    }
}

/// Checks `value` of attribute `attr` against the rules for `kind`.
pub fn check(attr: &str, kind: TextKind, value: &str) -> Result<(), TextError> {
    // Almost every value is printable ASCII: one pass over its bytes says so.
    if value.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Ok(());
    }
    match value
        .chars()
        .find_map(|c| rule_broken(kind, c).map(|r| (c, r)))
    {
        Some((found, rule)) => Err(TextError {
            attr: attr.to_owned(),
            found,
            rule,
        }),
        None => Ok(()),
    }
}

/// [`check`] on an optional value.
pub fn check_opt(attr: &str, kind: TextKind, value: Option<&str>) -> Result<(), TextError> {
    value.map_or(Ok(()), |v| check(attr, kind, v))
}

/// Whether `value` may stand in a filter at all: no control characters but tab, line feed
/// and carriage return (what free text may hold). A NUL can match nothing, and PostgreSQL
/// cannot even compare it.
pub fn filter_value_ok(value: &str) -> Result<(), char> {
    match value
        .chars()
        .find(|&c| rule_broken(TextKind::FreeText, c).is_some())
    {
        Some(c) => Err(c),
        None => Ok(()),
    }
}

/// Checks every text of an agent's profile against its attribute's rules (see [`TextKind`]);
/// `userName` as the gateway stores it (trimmed). With `before` (an update), a value the
/// agent already holds is not checked again: a value stored before these rules existed
/// must not block a change to anything else (a leaver's `active: false`). The password is
/// not text Rollcall keeps.
pub fn check_profile(p: &AgentProfile, before: Option<&AgentProfile>) -> Result<(), TextError> {
    use TextKind::{FreeText, Identifier, UniqueName};
    type Field = fn(&AgentProfile) -> Option<&str>;
    let fields: [(&str, TextKind, Field); 14] = [
        ("userName", UniqueName, |a| Some(a.user_name.trim())),
        ("externalId", Identifier, |a| a.external_id.as_deref()),
        ("displayName", FreeText, |a| a.display_name.as_deref()),
        ("name.givenName", FreeText, |a| a.given_name.as_deref()),
        ("name.familyName", FreeText, |a| a.family_name.as_deref()),
        ("name.middleName", FreeText, |a| a.middle_name.as_deref()),
        ("name.formatted", FreeText, |a| a.formatted_name.as_deref()),
        ("nickName", FreeText, |a| a.nickname.as_deref()),
        ("title", FreeText, |a| a.title.as_deref()),
        ("department", FreeText, |a| a.department.as_deref()),
        ("employeeNumber", Identifier, |a| {
            a.employee_number.as_deref()
        }),
        ("manager.value", Identifier, |a| a.manager_id.as_deref()),
        ("role", Identifier, |a| a.role.as_deref()),
        ("preferredLanguage", Identifier, |a| {
            a.preferred_language.as_deref()
        }),
    ];
    for (attr, kind, field) in fields {
        let value = field(p);
        if before.is_none_or(|b| field(b) != value) {
            check_opt(attr, kind, value)?;
        }
    }
    type List = fn(&AgentProfile) -> &[super::MultiValue];
    let lists: [(&str, List); 3] = [
        ("emails", |a| &a.emails),
        ("phoneNumbers", |a| &a.phones),
        ("roles", |a| &a.roles),
    ];
    for (attr, list) in lists {
        for v in list(p) {
            if before.is_some_and(|b| list(b).contains(v)) {
                continue;
            }
            check(&format!("{attr}.value"), Identifier, &v.value)?;
            check_opt(&format!("{attr}.type"), Identifier, v.kind.as_deref())?;
            check_opt(&format!("{attr}.display"), FreeText, v.display.as_deref())?;
        }
    }
    type Plain = fn(&AgentProfile) -> &[String];
    let plain: [(&str, Plain); 2] = [
        ("skillGroups", |a| &a.skill_groups),
        ("channels", |a| &a.channels),
    ];
    for (attr, list) in plain {
        for v in list(p) {
            if before.is_none_or(|b| !list(b).contains(v)) {
                check(attr, Identifier, v)?;
            }
        }
    }
    Ok(())
}

/// Checks a group's texts: its name (trimmed, as stored), its `externalId` and the ids of
/// members to add or remove.
pub fn check_group<'a>(
    display_name: Option<&str>,
    external_id: Option<&str>,
    member_ids: impl IntoIterator<Item = &'a str>,
) -> Result<(), TextError> {
    check_opt(
        "displayName",
        TextKind::UniqueName,
        display_name.map(str::trim),
    )?;
    check_opt("externalId", TextKind::Identifier, external_id)?;
    for id in member_ids {
        check("members.value", TextKind::Identifier, id)?;
    }
    Ok(())
}

/// The comparison key of a unique name: two names are the same name when their keys are
/// equal. Compatibility normalisation (NFKC: fullwidth and other compatibility forms become
/// their ordinary letters, and composed and decomposed accents agree), then Unicode
/// lower-casing of each character with final sigma folded to sigma, then NFKC again. Both
/// backends store and compare this key, never SQL's `lower()`. Idempotent.
pub fn fold(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let first = nfkc.normalize(name);
    let mut lower = String::with_capacity(first.len());
    for c in first.chars() {
        match c {
            'ς' => lower.push('σ'),
            c => lower.extend(c.to_lowercase()),
        }
    }
    nfkc.normalize(&lower).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_agrees_on_case_in_any_script() {
        assert_eq!(fold("JÖRG"), fold("jörg"));
        assert_eq!(fold("jÖrg"), "jörg");
        assert_eq!(fold("ПРИВЕТ"), fold("привет"));
        assert_eq!(fold("ΟΔΟΣ"), fold("οδος"));
        assert_eq!(fold("ΟΔΟΣ"), fold("οδοσ"));
        assert_eq!(fold("Ĳssel"), fold("ijssel"));
        assert_eq!(fold("Alice@Example.COM"), "alice@example.com");
    }

    #[test]
    fn fold_maps_fullwidth_and_compatibility_forms() {
        assert_eq!(fold("ＪＯＲＧ"), "jorg");
        assert_eq!(fold("ｊｏｒｇ"), fold("Jorg"));
        assert_eq!(fold("ﬁona"), "fiona");
        assert_eq!(fold("℡"), "tel");
        assert_eq!(fold("ᴬnna"), "anna");
    }

    #[test]
    fn fold_joins_composed_and_decomposed_accents() {
        let composed = "J\u{00D6}RG";
        let decomposed = "jo\u{0308}rg";
        assert_eq!(fold(composed), fold(decomposed));
        assert_eq!(fold(decomposed), "j\u{00F6}rg");
    }

    #[test]
    fn fold_keeps_different_names_apart() {
        assert_ne!(fold("jörg"), fold("jorg"));
        assert_ne!(fold("straße"), fold("strasse"));
        assert_ne!(fold("привет"), fold("npubet"));
    }

    #[test]
    fn fold_is_idempotent() {
        for s in [
            "JÖRG",
            "ПРИВЕТ",
            "ΟΔΟΣ",
            "ＪＯＲＧ",
            "℡",
            "ﬁ",
            "İstanbul",
            "ᴬ",
            "Σ̈",
            "ǅ",
            "ß",
            "ﾊﾝｶｸ",
        ] {
            let once = fold(s);
            assert_eq!(fold(&once), once, "{s}");
        }
    }

    #[test]
    fn unique_names_refuse_invisible_and_bidi_characters_naming_the_rule() {
        let cases = [
            ("a\u{0}b", Rule::NoControlCharacters),
            ("a\u{7F}b", Rule::NoControlCharacters),
            ("a\u{9B}b", Rule::NoControlCharacters),
            ("a\tb", Rule::NoControlCharacters),
            ("a\rb", Rule::NoLineBreaks),
            ("a\nb", Rule::NoLineBreaks),
            ("a\u{2028}b", Rule::NoLineBreaks),
            ("a\u{202E}b", Rule::NoBidiControls),
            ("a\u{2067}b", Rule::NoBidiControls),
            ("a\u{200F}b", Rule::NoBidiControls),
            ("a\u{061C}b", Rule::NoBidiControls),
            ("a\u{200B}b", Rule::NoZeroWidth),
            ("a\u{200D}b", Rule::NoZeroWidth),
            ("a\u{2060}b", Rule::NoZeroWidth),
            ("\u{FEFF}ab", Rule::NoByteOrderMark),
        ];
        for (value, rule) in cases {
            let e = check("userName", TextKind::UniqueName, value).expect_err(value);
            assert_eq!(e.rule, rule, "{value:?}");
            let text = e.to_string();
            assert!(text.starts_with("userName contains U+"), "{text}");
            assert!(text.contains(rule.name()), "{text}");
        }
        assert!(check("userName", TextKind::UniqueName, "jörg.müller@例え.jp").is_ok());
    }

    #[test]
    fn an_update_does_not_check_again_what_the_agent_already_holds() {
        let stored = AgentProfile {
            user_name: "old\tname".into(),
            title: Some("x\u{0}".into()),
            skill_groups: vec!["a\u{1}".into()],
            ..AgentProfile::default()
        };
        assert!(check_profile(&stored, None).is_err());
        assert!(check_profile(&stored, Some(&stored)).is_ok());
        let mut changed = stored.clone();
        changed.department = Some("d\u{0}".into());
        let e = check_profile(&changed, Some(&stored)).expect_err("new value");
        assert_eq!(e.attr, "department");
        let mut renamed = stored.clone();
        renamed.user_name = "new\u{200B}".into();
        let e = check_profile(&renamed, Some(&stored)).expect_err("new name");
        assert_eq!((e.attr.as_str(), e.rule), ("userName", Rule::NoZeroWidth));
    }

    #[test]
    fn free_text_keeps_tab_and_newlines_but_no_other_controls() {
        assert!(check("title", TextKind::FreeText, "Team lead\n\tEMEA\r\n").is_ok());
        let e = check("title", TextKind::FreeText, "a\u{0}").expect_err("NUL");
        assert_eq!(e.rule, Rule::NoControlCharacters);
        assert_eq!(
            e.to_string(),
            "title contains U+0000, a control character (rule: no control characters)"
        );
        // Invisible characters are text here (a joiner in an emoji, a Persian name).
        assert!(check("displayName", TextKind::FreeText, "\u{200D}\u{202B}").is_ok());
        assert!(check("externalId", TextKind::Identifier, "a\tb").is_err());
        assert!(filter_value_ok("a\tb").is_ok());
        assert_eq!(filter_value_ok("a\u{0}b"), Err('\u{0}'));
    }
}

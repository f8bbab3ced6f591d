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
/// `userName` as the gateway stores it (trimmed). The password is not text Rollcall keeps.
pub fn check_profile(p: &AgentProfile) -> Result<(), TextError> {
    use TextKind::{FreeText, Identifier, UniqueName};
    check("userName", UniqueName, p.user_name.trim())?;
    check_opt("externalId", Identifier, p.external_id.as_deref())?;
    for (attr, value) in [
        ("displayName", &p.display_name),
        ("name.givenName", &p.given_name),
        ("name.familyName", &p.family_name),
        ("name.middleName", &p.middle_name),
        ("name.formatted", &p.formatted_name),
        ("nickName", &p.nickname),
        ("title", &p.title),
        ("department", &p.department),
    ] {
        check_opt(attr, FreeText, value.as_deref())?;
    }
    for (attr, value) in [
        ("employeeNumber", &p.employee_number),
        ("manager.value", &p.manager_id),
        ("role", &p.role),
    ] {
        check_opt(attr, Identifier, value.as_deref())?;
    }
    for (attr, list) in [
        ("emails", &p.emails),
        ("phoneNumbers", &p.phones),
        ("roles", &p.roles),
    ] {
        for v in list {
            check(&format!("{attr}.value"), Identifier, &v.value)?;
            check_opt(&format!("{attr}.type"), Identifier, v.kind.as_deref())?;
            check_opt(&format!("{attr}.display"), FreeText, v.display.as_deref())?;
        }
    }
    for (attr, list) in [("skillGroups", &p.skill_groups), ("channels", &p.channels)] {
        for v in list {
            check(attr, Identifier, v)?;
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

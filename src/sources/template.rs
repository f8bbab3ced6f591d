//! Field templates: `"{department}-{family_name}{given_name}"` builds a value from a person's
//! other fields (the naming rules support teams use for nicknames and display names). Pure.

use super::SourceRecord;

/// A parsed template: literal text and field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

impl Template {
    /// Parses `text`; every `{name}` must be one of `known`. `{{` and `}}` are literal braces.
    pub fn parse(text: &str, known: &[&str]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("template {text:?}: `{{` is not closed")),
                        }
                    }
                    let name = name.trim().to_owned();
                    if !known.contains(&name.as_str()) {
                        return Err(format!(
                            "template {text:?}: unknown field {{{name}}} (fields: {})",
                            known.join(", ")
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name));
                }
                '}' => return Err(format!("template {text:?}: `}}` without `{{`")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(format!("template {text:?} names no field"));
        }
        Ok(Template {
            parts,
            text: text.to_owned(),
        })
    }

    /// Whether `text` is meant as a template (it has a `{`).
    pub fn looks_like(text: &str) -> bool {
        text.contains('{')
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value for a person whose fields `lookup` gives; `None` when every field it names
    /// is empty (a template never makes a value out of its literal text alone). Surrounding
    /// white space is trimmed.
    pub fn render<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let mut out = String::new();
        let mut any = false;
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => {
                    if let Some(v) = lookup(name).map(str::trim).filter(|v| !v.is_empty()) {
                        any = true;
                        out.push_str(v);
                    }
                }
            }
        }
        let out = out.trim();
        (any && !out.is_empty()).then(|| out.to_owned())
    }
}

/// The fields of a [`SourceRecord`] a template may name, and may set.
pub const RECORD_FIELDS: &[&str] = &[
    "user_name",
    "given_name",
    "family_name",
    "display_name",
    "nickname",
    "email",
    "phone",
    "employee_number",
    "department",
    "title",
];

/// A record field's value by its template name.
pub fn record_field<'r>(r: &'r SourceRecord, name: &str) -> Option<&'r str> {
    match name {
        "user_name" => Some(r.user_name.as_str()),
        "given_name" => r.given_name.as_deref(),
        "family_name" => r.family_name.as_deref(),
        "display_name" => r.display_name.as_deref(),
        "nickname" => r.nickname.as_deref(),
        "email" => r.email.as_deref(),
        "phone" => r.phone.as_deref(),
        "employee_number" => r.employee_number.as_deref(),
        "department" => r.department.as_deref(),
        "title" => r.title.as_deref(),
        _ => None,
    }
}

/// Templates over a source's records (`[sources.templates]`): each sets one field from the
/// record's values as read (templates do not see each other's output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates(Vec<(String, Template)>);

impl Templates {
    /// From `field = "template"` pairs; both sides are checked.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Templates, String> {
        let mut out = Vec::new();
        for (field, text) in pairs {
            if !RECORD_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "templates: {field:?} is not a field a template can set (fields: {})",
                    RECORD_FIELDS.join(", ")
                ));
            }
            out.push((field.clone(), Template::parse(text, RECORD_FIELDS)?));
        }
        Ok(Templates(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the templated fields of `r` (a template with nothing to show clears its field,
    /// except the user name, which is kept).
    pub fn apply(&self, r: &mut SourceRecord) {
        if self.0.is_empty() {
            return;
        }
        let values: Vec<(&str, Option<String>)> = self
            .0
            .iter()
            .map(|(f, t)| (f.as_str(), t.render(|n| record_field(r, n))))
            .collect();
        for (field, value) in values {
            match field {
                "user_name" => {
                    if let Some(v) = value {
                        r.user_name = v;
                    }
                }
                "given_name" => r.given_name = value,
                "family_name" => r.family_name = value,
                "display_name" => r.display_name = value,
                "nickname" => r.nickname = value,
                "email" => r.email = value,
                "phone" => r.phone = value,
                "employee_number" => r.employee_number = value,
                "department" => r.department = value,
                "title" => r.title = value,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_support_naming_rule() {
        let t = Template::parse("{department}-{family_name}{given_name}", RECORD_FIELDS).unwrap();
        let v = |n: &str| match n {
            "department" => Some("售前"),
            "family_name" => Some("王"),
            "given_name" => Some("伟"),
            _ => None,
        };
        assert_eq!(t.render(v).as_deref(), Some("售前-王伟"));
        assert_eq!(t.render(|_| None), None, "literal text alone is no value");
        assert_eq!(
            t.render(|n| (n == "given_name").then_some("Wei"))
                .as_deref(),
            Some("-Wei")
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        assert!(Template::parse("{department", RECORD_FIELDS).is_err());
        assert!(Template::parse("dept}", RECORD_FIELDS).is_err());
        let e = Template::parse("{dept}", RECORD_FIELDS).unwrap_err();
        assert!(e.contains("unknown field {dept}"), "{e}");
        assert!(Template::parse("plain", RECORD_FIELDS).is_err());
        let t = Template::parse("{{{title}}}", RECORD_FIELDS).unwrap();
        assert_eq!(t.render(|_| Some("Lead")).as_deref(), Some("{Lead}"));
    }

    #[test]
    fn templates_apply_to_a_record() {
        let pairs = [(
            "nickname".to_owned(),
            "{department}-{family_name}{given_name}".to_owned(),
        )];
        let ts = Templates::parse(pairs.iter().map(|(a, b)| (a, b))).unwrap();
        let mut r = SourceRecord {
            department: Some("售后".into()),
            family_name: Some("李".into()),
            given_name: Some("娜".into()),
            ..SourceRecord::default()
        };
        ts.apply(&mut r);
        assert_eq!(r.nickname.as_deref(), Some("售后-李娜"));
        let bad = [("manager".to_owned(), "{title}".to_owned())];
        assert!(Templates::parse(bad.iter().map(|(a, b)| (a, b))).is_err());
    }
}

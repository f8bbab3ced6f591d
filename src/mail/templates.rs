//! Mail templates: the built-in texts (`templates/mail/`, embedded in the binary), an
//! operator's overrides from `mail.templates_dir`, the language a reader gets, and rendering
//! — placeholders filled in, escaped in the HTML alternative. No I/O but reading the
//! override directory once at start.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::Template;

/// The languages every template is built in for.
pub const LANGUAGES: &[&str] = &["en", "zh"];

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["name", "link", "expires_at", "reason", "product"];

const BUILT_IN: &[(Template, &str, &str)] = &[
    (
        Template::Activation,
        "en",
        include_str!("../../templates/mail/activation.en.txt"),
    ),
    (
        Template::Activation,
        "zh",
        include_str!("../../templates/mail/activation.zh.txt"),
    ),
    (
        Template::PasswordReset,
        "en",
        include_str!("../../templates/mail/password_reset.en.txt"),
    ),
    (
        Template::PasswordReset,
        "zh",
        include_str!("../../templates/mail/password_reset.zh.txt"),
    ),
    (
        Template::AccountDisabled,
        "en",
        include_str!("../../templates/mail/account_disabled.en.txt"),
    ),
    (
        Template::AccountDisabled,
        "zh",
        include_str!("../../templates/mail/account_disabled.zh.txt"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("mail template {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("cannot read mail templates in {dir}: {source}")]
    Read { dir: String, source: std::io::Error },
}

/// One template in one language: a subject line and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text {
    subject: String,
    body: String,
}

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The language the mail was rendered in.
    pub language: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every template in every language known: the built-in ones, replaced or extended by the
/// override directory's.
#[derive(Debug, Clone)]
pub struct Templates {
    texts: HashMap<(Template, String), Text>,
    default_language: String,
}

impl Templates {
    /// The built-in templates only.
    pub fn built_in(default_language: &str) -> Templates {
        let mut texts = HashMap::new();
        for (template, lang, source) in BUILT_IN {
            // Built-in texts are checked by a unit test; a broken one is never shipped.
            if let Ok(text) = parse(source, "built-in") {
                texts.insert((*template, (*lang).to_owned()), text);
            }
        }
        Templates {
            texts,
            default_language: default_language.to_owned(),
        }
    }

    /// The built-in templates with the files of `dir` over them: `<template>.<language>.txt`
    /// (`activation.en.txt`, `account_disabled.zh-tw.txt`). Other files are ignored; a
    /// template file that cannot be read or parsed is an error (at start, not at sending).
    pub fn load(default_language: &str, dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut templates = Templates::built_in(default_language);
        let Some(dir) = dir else {
            return Ok(templates);
        };
        let read_err = |source| TemplateError::Read {
            dir: dir.display().to_string(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".txt") else {
                continue;
            };
            let Some((name, lang)) = stem.split_once('.') else {
                continue;
            };
            let Some(template) = Template::parse(name) else {
                continue;
            };
            let source = std::fs::read_to_string(&path).map_err(read_err)?;
            let text = parse(&source, file)?;
            templates
                .texts
                .insert((template, lang.to_ascii_lowercase()), text);
        }
        Ok(templates)
    }

    /// The language a reader who asked for `wanted` gets for `template`: the tag itself
    /// (`zh-tw`), else its primary language (`zh`), else the default language.
    pub fn language_for(&self, template: Template, wanted: Option<&str>) -> String {
        // A tag (`zh-CN`), or a list in the form of Accept-Language (`zh-CN,zh;q=0.9,en`),
        // taken in its order (SCIM's preferredLanguage may be either).
        for tag in wanted.unwrap_or_default().split(',') {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .replace('_', "-")
                .to_ascii_lowercase();
            if tag.is_empty() {
                continue;
            }
            if self.texts.contains_key(&(template, tag.clone())) {
                return tag;
            }
            let primary = tag.split('-').next().unwrap_or_default().to_owned();
            if self.texts.contains_key(&(template, primary.clone())) {
                return primary;
            }
        }
        self.default_language.clone()
    }

    /// `template` in the reader's language with `values` filled in.
    pub fn render(
        &self,
        template: Template,
        wanted: Option<&str>,
        values: &Value,
    ) -> Result<Rendered, TemplateError> {
        let language = self.language_for(template, wanted);
        let text = self
            .texts
            .get(&(template, language.clone()))
            .or_else(|| self.texts.get(&(template, "en".to_owned())))
            .ok_or_else(|| TemplateError::Invalid {
                file: format!("{}.{language}", template.as_str()),
                message: "no such template".into(),
            })?;
        let value = |key: &str| display_value(key, values.get(key), &language);
        // A subject is one line, whatever a value holds.
        let subject = fill(&text.subject, &value, one_line);
        let body = fill(&text.body, &value, str::to_owned);
        let html = html_of(&text.body, &value, &language);
        Ok(Rendered {
            language,
            subject,
            text: body,
            html,
        })
    }
}

/// Splits a template file: `Subject: …` on the first line, a blank line, the body.
fn parse(source: &str, file: &str) -> Result<Text, TemplateError> {
    let invalid = |message: &str| TemplateError::Invalid {
        file: file.to_owned(),
        message: message.to_owned(),
    };
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let (first, rest) = source
        .split_once('\n')
        .ok_or_else(|| invalid("needs a Subject: line, a blank line and a body"))?;
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Subject:")
        .ok_or_else(|| invalid("the first line must be \"Subject: …\""))?
        .trim()
        .to_owned();
    let body = rest.trim_start_matches(['\r', '\n']).trim_end().to_owned() + "\n";
    for part in [&subject, &body] {
        for name in placeholders(part) {
            if !PLACEHOLDERS.contains(&name) {
                return Err(invalid(&format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    PLACEHOLDERS.join(", ")
                )));
            }
        }
    }
    Ok(Text { subject, body })
}

/// The placeholder names in `text` (`{name}`; `{{` and `}}` are literal braces).
fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        if rest[start..].starts_with("{{") {
            rest = &rest[start + 2..];
            continue;
        }
        match rest[start + 1..].find('}') {
            Some(len) => {
                names.push(&rest[start + 1..start + 1 + len]);
                rest = &rest[start + 2 + len..];
            }
            None => break,
        }
    }
    names
}

/// `text` with each `{placeholder}` replaced by `value(name)` passed through `escape`, and
/// the literal parts passed through `literal`.
fn fill_with(
    text: &str,
    value: &dyn Fn(&str) -> String,
    escape: &dyn Fn(&str) -> String,
    literal: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        out.push_str(&literal(&rest[..start]));
        let tail = &rest[start..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&literal(&tail[..1]));
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{')
            && let Some(len) = tail[1..].find('}')
        {
            out.push_str(&escape(&value(&tail[1..1 + len])));
            rest = &tail[2 + len..];
            continue;
        }
        out.push_str(&literal(&tail[..1]));
        rest = &tail[1..];
    }
    out.push_str(&literal(rest));
    out
}

fn fill(text: &str, value: &dyn Fn(&str) -> String, escape: impl Fn(&str) -> String) -> String {
    fill_with(text, value, &escape, &str::to_owned)
}

/// The HTML alternative: each paragraph of the plain-text body (blank-line separated) a
/// `<p>`, text and values escaped, the `{link}` placeholder a link.
fn html_of(body: &str, value: &dyn Fn(&str) -> String, language: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head><meta charset=\"utf-8\"></head>\n<body>\n",
        escape_html(language)
    );
    for paragraph in body.split("\n\n") {
        let paragraph = paragraph.trim();
        if paragraph.is_empty() {
            continue;
        }
        let html = if paragraph == "{link}" {
            let link = escape_html(&value("link"));
            format!("<a href=\"{link}\">{link}</a>")
        } else {
            fill_with(paragraph, value, &escape_html, &escape_html).replace('\n', "<br>\n")
        };
        out.push_str("<p>");
        out.push_str(&html);
        out.push_str("</p>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A value as the reader sees it: text as is, numbers and booleans as written, `expires_at`
/// (RFC 3339) as a date and time in the reader's language, an empty `reason` as "not
/// given", nothing for a missing value.
fn display_value(key: &str, value: Option<&Value>, language: &str) -> String {
    let text = match value {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if key == "expires_at" {
        return format_time(&text, language);
    }
    if key == "reason" && text.trim().is_empty() {
        return if is_chinese(language) {
            "未说明"
        } else {
            "not given"
        }
        .to_owned();
    }
    text
}

/// An RFC 3339 time as `3 December 2026, 10:05 UTC` (or `2026年12月3日 10:05 (UTC)`); text
/// that is not such a time is shown as given.
pub fn format_time(text: &str, language: &str) -> String {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) else {
        return text.to_owned();
    };
    let at = at.with_timezone(&chrono::Utc);
    if is_chinese(language) {
        at.format("%Y年%-m月%-d日 %H:%M（UTC）").to_string()
    } else {
        at.format("%-d %B %Y, %H:%M UTC").to_string()
    }
}

fn is_chinese(language: &str) -> bool {
    language == "zh" || language.starts_with("zh-")
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> Value {
        json!({
            "name": "Li <Lei> & co",
            "link": "https://rc.example.com/activate?t=a&b=\"c\"",
            "expires_at": "2026-12-04T10:05:00Z",
            "reason": "left the company",
            "product": "Rollcall",
        })
    }

    #[test]
    fn every_built_in_template_parses_in_every_language() {
        for (template, lang, source) in BUILT_IN {
            let text = parse(source, "built-in").expect("parses");
            assert!(!text.subject.is_empty(), "{template:?} {lang}");
        }
        let t = Templates::built_in("en");
        for template in [
            Template::Activation,
            Template::PasswordReset,
            Template::AccountDisabled,
        ] {
            for lang in LANGUAGES {
                assert_eq!(t.language_for(template, Some(lang)), *lang);
            }
        }
    }

    #[test]
    fn placeholders_are_filled_and_escaped_in_html_only() {
        let t = Templates::built_in("en");
        let r = t
            .render(Template::Activation, Some("en"), &values())
            .expect("render");
        assert_eq!(r.subject, "Activate your Rollcall account");
        assert!(r.text.starts_with("Hello Li <Lei> & co,\n"), "{}", r.text);
        assert!(
            r.text
                .contains("\nhttps://rc.example.com/activate?t=a&b=\"c\"\n")
        );
        assert!(r.text.contains("expires on 4 December 2026, 10:05 UTC."));
        assert!(!r.text.contains('{'));
        assert!(r.html.contains("<p>Hello Li &lt;Lei&gt; &amp; co,</p>"));
        assert!(
            r.html
                .contains("<a href=\"https://rc.example.com/activate?t=a&amp;b=&quot;c&quot;\">")
        );
        assert!(!r.html.contains("<Lei>"));
    }

    #[test]
    fn chinese_text_and_time() {
        let t = Templates::built_in("en");
        let r = t
            .render(Template::AccountDisabled, Some("zh-CN"), &values())
            .expect("render");
        assert_eq!(r.language, "zh");
        assert_eq!(r.subject, "您的 Rollcall 账号已被停用");
        assert!(r.text.contains("原因：left the company"));
        let r = t
            .render(Template::PasswordReset, Some("zh_Hans"), &values())
            .expect("render");
        assert!(
            r.text.contains("有效期至 2026年12月4日 10:05（UTC）。"),
            "{}",
            r.text
        );
    }

    #[test]
    fn unknown_language_falls_back_to_the_default() {
        let t = Templates::built_in("zh");
        assert_eq!(t.language_for(Template::Activation, Some("fr-FR")), "zh");
        assert_eq!(t.language_for(Template::Activation, None), "zh");
        assert_eq!(t.language_for(Template::Activation, Some("EN-gb")), "en");
        let r = t
            .render(Template::Activation, Some("de"), &values())
            .expect("render");
        assert_eq!(r.subject, "请激活您的 Rollcall 账号");
    }

    #[test]
    fn missing_values_and_literal_braces() {
        let text = parse("Subject: {{x}} {name}\n\nA {{b}} {reason}.\n", "t").expect("parse");
        let value = |k: &str| display_value(k, json!({"name": "N"}).get(k), "en");
        assert_eq!(fill(&text.subject, &value, one_line), "{x} N");
        assert_eq!(fill(&text.body, &value, str::to_owned), "A {b} .\n");
        let value = |k: &str| display_value(k, json!({"reason": " "}).get(k), "zh");
        assert_eq!(fill("{reason}", &value, str::to_owned), "未说明");
    }

    #[test]
    fn subject_values_stay_on_one_line() {
        let t = Templates::built_in("en");
        let mut v = values();
        v["product"] = json!("Evil\r\nBcc: x@example.com");
        let r = t.render(Template::Activation, None, &v).expect("render");
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
    }

    #[test]
    fn bad_override_files_are_refused_and_good_ones_win() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("activation.en.txt"),
            "Subject: Welcome to {product}\n\nHi {name}: {link}\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("activation.fr.txt"),
            "Subject: Bienvenue\n\nBonjour {name}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("README"), "ignored").expect("write");
        let t = Templates::load("en", Some(dir.path())).expect("load");
        let r = t
            .render(Template::Activation, Some("en-US"), &values())
            .expect("render");
        assert_eq!(r.subject, "Welcome to Rollcall");
        assert_eq!(t.language_for(Template::Activation, Some("fr-CA")), "fr");
        // Other templates keep the built-in text.
        assert_eq!(t.language_for(Template::PasswordReset, Some("fr")), "en");

        std::fs::write(
            dir.path().join("password_reset.en.txt"),
            "Subject: x\n\n{token}\n",
        )
        .expect("write");
        let err = Templates::load("en", Some(dir.path())).expect_err("unknown placeholder");
        assert!(err.to_string().contains("{token}"), "{err}");
        std::fs::write(
            dir.path().join("password_reset.en.txt"),
            "no subject\n\nx\n",
        )
        .expect("write");
        assert!(Templates::load("en", Some(dir.path())).is_err());
    }
}

//! Attribute names against the server's schema. OpenLDAP answers with an attribute type's
//! first name whatever alias was asked for (`surname` comes back as `sn`), so every name a
//! mapped attribute can come back under is looked up once per read; a name the schema does
//! not know is a configuration error rather than a field that stays empty for everyone.

use std::collections::HashMap;

use ldap3::{Ldap, Scope};

use super::entry::{RawEntry, text};
use super::{Flavour, LdapSettings, paged};
use crate::sources::SourceError;

/// For each configured attribute name (lower case), every name the server may return it
/// under (lower case). Names not listed come back as asked.
#[derive(Debug, Default)]
pub(super) struct Names {
    aliases: HashMap<String, Vec<String>>,
}

impl Names {
    /// The names (lower case) under which the server returns `configured`.
    pub(super) fn accepted(&self, configured: &str) -> Vec<String> {
        let lower = configured.to_ascii_lowercase();
        match self.aliases.get(&lower) {
            Some(names) => names.clone(),
            None => vec![lower],
        }
    }
}

/// Reads the server's attribute types and resolves the configured names. Active Directory
/// has no aliases, and answers in the case of its schema, so it is not asked. A server
/// that does not show its schema is read with the names as configured.
/// `subschema` is the root DSE's `subschemaSubentry`.
pub(super) async fn resolve(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    subschema: Option<&str>,
) -> Result<Names, SourceError> {
    if settings.flavour == Flavour::ActiveDirectory {
        return Ok(Names::default());
    }
    let Some(types) = read_attribute_types(ldap, settings, subschema).await? else {
        tracing::warn!(url = %settings.url, "the server's schema is not readable; attribute names are used as configured");
        return Ok(Names::default());
    };
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, t) in types.iter().enumerate() {
        by_name.insert(t.oid.to_ascii_lowercase(), i);
        for name in &t.names {
            by_name.insert(name.to_ascii_lowercase(), i);
        }
    }
    let mut names = Names::default();
    for (field, configured) in settings.attributes.fields() {
        let Some(configured) = configured else {
            continue;
        };
        let (base, options) = match configured.split_once(';') {
            Some((base, options)) => (base, Some(options)),
            None => (configured, None),
        };
        let Some(&i) = by_name.get(&base.to_ascii_lowercase()) else {
            return Err(SourceError::Config(format!(
                "attributes.{}: the server's schema has no attribute {base:?}",
                field.key()
            )));
        };
        let t = &types[i];
        let accepted = t
            .names
            .iter()
            .chain(std::iter::once(&t.oid))
            .map(|n| match options {
                Some(o) => format!("{n};{o}").to_ascii_lowercase(),
                None => n.to_ascii_lowercase(),
            })
            .collect();
        names
            .aliases
            .insert(configured.to_ascii_lowercase(), accepted);
    }
    Ok(names)
}

/// One attribute type of the schema: OID and names.
#[derive(Debug, PartialEq, Eq)]
struct AttributeType {
    oid: String,
    names: Vec<String>,
}

/// The schema's attribute types, or `None` when the server does not show them.
async fn read_attribute_types(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    subschema: Option<&str>,
) -> Result<Option<Vec<AttributeType>>, SourceError> {
    let Some(subschema) = subschema else {
        return Ok(None);
    };
    let mut types = Vec::new();
    let attrs = ["attributeTypes".to_owned()];
    let read = paged::search_unpaged(
        ldap,
        settings,
        paged::Search {
            what: "schema read",
            base: subschema,
            scope: Scope::Base,
            filter: "(objectClass=subschema)",
            attrs: &attrs,
        },
        |tag| {
            let entry = RawEntry::parse(tag)?;
            for (name, values) in entry.attrs {
                if name.eq_ignore_ascii_case("attributeTypes") {
                    types.extend(values.iter().filter_map(|v| parse_attribute_type(text(v)?)));
                }
            }
            Ok(())
        },
    )
    .await;
    match read {
        Ok(_) if !types.is_empty() => Ok(Some(types)),
        Ok(_) => Ok(None),
        Err(SourceError::Search(msg)) => {
            tracing::warn!(error = %msg, "cannot read the server's schema");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Parses the OID and NAMEs of an RFC 4512 AttributeTypeDescription.
fn parse_attribute_type(description: &str) -> Option<AttributeType> {
    let tokens = tokenize(description)?;
    let mut tokens = tokens.into_iter();
    if tokens.next()? != Token::Open {
        return None;
    }
    let Token::Word(oid) = tokens.next()? else {
        return None;
    };
    let mut names = Vec::new();
    let mut depth = 0usize;
    while let Some(token) = tokens.next() {
        match token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w == "NAME" => match tokens.next()? {
                Token::Quoted(name) => names.push(name),
                Token::Open => {
                    for token in tokens.by_ref() {
                        match token {
                            Token::Quoted(name) => names.push(name),
                            Token::Close => break,
                            _ => return None,
                        }
                    }
                }
                _ => return None,
            },
            _ => {}
        }
    }
    Some(AttributeType { oid, names })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

fn tokenize(s: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '\'' => {
                let start = i + 1;
                let end = loop {
                    match chars.next() {
                        Some((j, '\'')) => break j,
                        Some(_) => {}
                        None => return None,
                    }
                };
                tokens.push(Token::Quoted(s.get(start..end)?.to_owned()));
            }
            c if c.is_whitespace() => {}
            _ => {
                let start = i;
                let mut end = s.len();
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '\'' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(s.get(start..end)?.to_owned()));
            }
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_oid() {
        let t = parse_attribute_type(
            "( 2.5.4.4 NAME ( 'sn' 'surname' ) DESC 'RFC2256: last (family) name(s) for which \
             the entity is known by' SUP name )",
        )
        .unwrap();
        assert_eq!(t.oid, "2.5.4.4");
        assert_eq!(t.names, ["sn", "surname"]);

        let t = parse_attribute_type(
            "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) DESC 'RFC1274: RFC822 \
             Mailbox' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX \
             1.3.6.1.4.1.1466.115.121.1.26{256} )",
        )
        .unwrap();
        assert_eq!(t.names, ["mail", "rfc822Mailbox"]);

        let t = parse_attribute_type(
            "( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry NAME' EQUALITY \
             UUIDMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE \
             directoryOperation )",
        )
        .unwrap();
        assert_eq!(t.names, ["entryUUID"]);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for s in [
            "",
            "(",
            "( 1.2.3 NAME",
            "( 1.2.3 NAME 'unterminated )",
            "( 1.2.3 NAME ( 'a' 1 ) )",
            "x y z",
            "( 'é' NAME 'ü' )",
        ] {
            let _ = parse_attribute_type(s);
        }
        assert_eq!(parse_attribute_type(""), None);
        assert_eq!(parse_attribute_type("( 1.2.3 NAME"), None);
    }

    #[test]
    fn unknown_names_come_back_as_asked() {
        let names = Names::default();
        assert_eq!(names.accepted("displayName"), ["displayname"]);
    }
}

//! Unit tests of the filter and path parser and of element matching.

use serde_json::Value;

use super::*;

fn path(attr: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: attr.into(),
        sub_attr: None,
    }
}

fn cmp(attr: &str, op: CompareOp, v: CompValue) -> Filter {
    Filter::Compare(path(attr), op, v)
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.into())
}

#[test]
fn parses_simple_comparisons_case_insensitively() {
    assert_eq!(
        parse_filter(r#"userName eq "ana""#),
        Ok(cmp("userName", CompareOp::Eq, s("ana")))
    );
    assert_eq!(
        parse_filter(r#"userName EQ "ana""#),
        Ok(cmp("userName", CompareOp::Eq, s("ana")))
    );
    assert_eq!(parse_filter("title pr"), Ok(Filter::Present(path("title"))));
    assert_eq!(
        parse_filter("meta.lastModified gt \"2011-05-13T04:42:34Z\""),
        Ok(Filter::Compare(
            AttrPath {
                urn: None,
                attr: "meta".into(),
                sub_attr: Some("lastModified".into())
            },
            CompareOp::Gt,
            s("2011-05-13T04:42:34Z")
        ))
    );
    assert_eq!(
        parse_filter("active eq True"),
        Ok(cmp("active", CompareOp::Eq, CompValue::Bool(true)))
    );
    assert_eq!(
        parse_filter("x eq null"),
        Ok(cmp("x", CompareOp::Eq, CompValue::Null))
    );
    assert_eq!(
        parse_filter("n ge 10"),
        Ok(cmp("n", CompareOp::Ge, CompValue::Num(Number::from(10))))
    );
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let f = parse_filter(r#"a eq "1" or b eq "2" and not (c pr)"#).expect("parses");
    assert_eq!(
        f,
        Filter::Or(
            Box::new(cmp("a", CompareOp::Eq, s("1"))),
            Box::new(Filter::And(
                Box::new(cmp("b", CompareOp::Eq, s("2"))),
                Box::new(Filter::Not(Box::new(Filter::Present(path("c"))))),
            )),
        )
    );
    let g = parse_filter(r#"(a eq "1" or b eq "2") and c pr"#).expect("parses");
    assert!(matches!(g, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
}

#[test]
fn value_paths_and_urns() {
    let f = parse_filter(r#"emails[type eq "work" and primary eq true].value co "@x""#);
    assert!(matches!(f, Ok(Filter::ValuePath(ref p, _)) if p.attr == "emails"));
    let f = parse_filter(r#"emails[type eq "work" and primary eq true]"#).expect("parses");
    let Filter::ValuePath(p, inner) = f else {
        panic!("value path expected")
    };
    assert_eq!(p, path("emails"));
    assert!(matches!(*inner, Filter::And(..)));
    let f = parse_filter(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Support""#,
    )
    .expect("parses");
    let Filter::Compare(p, ..) = f else {
        panic!("comparison expected")
    };
    assert_eq!(
        p.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(p.attr, "department");
    let p =
        parse_attr_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .expect("parses");
    assert_eq!(p.sub_attr.as_deref(), Some("value"));
}

#[test]
fn strings_keep_escapes_and_keywords_inside() {
    assert_eq!(
        parse_filter(r#"displayName eq "a \"q\" and b""#),
        Ok(cmp("displayName", CompareOp::Eq, s("a \"q\" and b")))
    );
    assert_eq!(
        parse_filter(r#"displayName eq "日本 ]) or""#),
        Ok(cmp("displayName", CompareOp::Eq, s("日本 ]) or")))
    );
}

#[test]
fn rejects_malformed_filters_with_a_position() {
    for bad in [
        "",
        "userName",
        "userName eq",
        "userName eq ana",
        "userName zz \"a\"",
        "userName eq \"a",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        "emails[type eq \"work\"",
        "not userName pr",
        "userName eq \"a\" and",
        "1abc eq \"a\"",
        "a.b.c eq \"x\"",
        "userName eq \"\\q\"",
        "userName eq\"a\"",
    ] {
        assert!(parse_filter(bad).is_err(), "{bad:?} should not parse");
    }
    let e = parse_filter("userName zz \"a\"").expect_err("bad op");
    assert_eq!(e.position, 9);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_filter(&deep).is_err());
    let nots = "not (".repeat(10_000);
    assert!(parse_filter(&nots).is_err());
    let long = vec!["a pr"; 100_000].join(" or ");
    assert!(parse_filter(&long).is_err());
    let ok = format!("{}a pr{}", "(".repeat(20), ")".repeat(20));
    assert!(parse_filter(&ok).is_ok());
}

#[test]
fn patch_paths() {
    let p = parse_path(r#"members[value eq "2819c223"]"#).expect("parses");
    assert_eq!(p.attr, path("members"));
    assert_eq!(p.filter, Some(cmp("value", CompareOp::Eq, s("2819c223"))));
    assert_eq!(p.sub_attr, None);
    let p = parse_path(r#"emails[type eq "work"].value"#).expect("parses");
    assert_eq!(p.sub_attr.as_deref(), Some("value"));
    let p = parse_path("name.givenName").expect("parses");
    assert_eq!(p.attr.sub_attr.as_deref(), Some("givenName"));
    assert!(p.filter.is_none());
    assert!(parse_path("emails[type eq \"work\"]x").is_err());
    assert!(parse_path("emails[type eq \"work\"").is_err());
    assert!(parse_path("").is_err());
    assert!(parse_path("na me").is_err());
}

#[test]
fn element_matching_honours_case_exactness() {
    let el = serde_json::json!({"type": "Work", "value": "A@x.com", "primary": true});
    let f = parse_filter(r#"type eq "work" and primary eq true"#).expect("parses");
    assert!(matches_element(&f, &el, &|_| false));
    assert!(!matches_element(&f, &el, &|_| true));
    let f = parse_filter(r#"value sw "a@" and not (display pr)"#).expect("parses");
    assert!(matches_element(&f, &el, &|_| false));
    let bare = Value::String("abc".into());
    let f = parse_filter(r#"value eq "abc""#).expect("parses");
    assert!(matches_element(&f, &bare, &|_| true));
}

/// Mutated filters (bytes dropped, duplicated, swapped, multi-byte characters spliced in)
/// must parse or fail, never panic.
#[test]
fn mutated_input_never_panics() {
    let seeds = [
        r#"emails[type eq "work" and primary eq true].value co "@x""#,
        r#"not (userName sw "a\"b") or (title pr and meta.created gt "2020-01-01T00:00:00Z")"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
        r#"members[value eq "日本"]"#,
    ];
    let pieces = [
        "(", ")", "[", "]", "\"", "\\", " ", ".", ":", "é", "日", "not", "eq", "pr",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in seeds {
        for _ in 0..2_000 {
            let mut chars: Vec<String> = seed.chars().map(String::from).collect();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (chars.len() + 1);
                match next() % 3 {
                    0 if !chars.is_empty() => {
                        chars.remove(at.min(chars.len() - 1));
                    }
                    1 => chars.insert(at, pieces[(next() as usize) % pieces.len()].to_owned()),
                    _ => chars.truncate(at),
                }
            }
            let text: String = chars.concat();
            let _ = parse_filter(&text);
            let _ = parse_path(&text);
            let _ = parse_attr_path(&text);
        }
    }
}

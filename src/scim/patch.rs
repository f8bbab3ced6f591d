//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON document, with the quirks of real
//! identity providers: Entra ID's capitalised ops and `"True"`/`"False"` strings, path-less
//! values with dotted or URN keys, `add` through a value filter that matches nothing (creates
//! the element), member removal by value list. Group membership changes are split off first
//! so the store can apply them without loading the group. Pure: no I/O.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{
    AttrPath, CompValue, CompareOp, Filter, PatchPath, matches_element, parse_attr_path, parse_path,
};
use super::limits;
use super::schema::{AttrDef, AttrType, Mutability, ResourceKind};
use super::{PATCH_OP, get_ci};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A change to a group's member list, by member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

/// Reads a PatchOp request body.
pub fn parse_patch_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::invalid_syntax(
            "a PATCH request must be a JSON object",
        ));
    };
    match get_ci(o, "schemas") {
        None | Some(Value::Null) => {}
        Some(Value::Array(s))
            if s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP))) => {}
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {PATCH_OP}"
            )));
        }
    }
    let ops = match get_ci(o, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => return Err(ScimError::invalid_syntax("Operations is empty")),
        _ => {
            return Err(ScimError::invalid_syntax(
                "Operations must be an array of operations",
            ));
        }
    };
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect()
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let n = index + 1;
    let Value::Object(o) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "operation {n} must be an object"
        )));
    };
    let kind = match get_ci(o, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => OpKind::Add,
        Some("remove") => OpKind::Remove,
        Some("replace") => OpKind::Replace,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: op {other:?} is not add, remove or replace"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: op is missing"
            )));
        }
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            parse_path(s)
                .map_err(|e| ScimError::invalid_path(format!("operation {n}: path {s:?}: {e}")))?,
        ),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {n}: path must be a string"
            )));
        }
    };
    let value = get_ci(o, "value").cloned();
    match kind {
        OpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target(format!(
                "operation {n}: remove needs a path"
            )));
        }
        OpKind::Add | OpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: value is missing"
            )));
        }
        OpKind::Add | OpKind::Replace
            if path.is_none() && !value.as_ref().is_some_and(Value::is_object) =>
        {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: without a path, value must be an object of attributes"
            )));
        }
        _ => {}
    }
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}

fn is_members(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("members")
        && path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(super::GROUP_SCHEMA))
}

/// Separates a Group PATCH's membership changes (applied by id in the store) from the rest.
pub fn split_member_ops(
    ops: Vec<PatchOperation>,
) -> Result<(Vec<MemberChange>, Vec<PatchOperation>), ScimError> {
    let mut changes = Vec::new();
    let mut rest = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) if is_members(&path.attr) => {
                if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
                    return Err(ScimError::invalid_path(
                        "members can only be changed as a whole",
                    ));
                }
                changes.push(member_change(
                    op.op,
                    path.filter.as_ref(),
                    op.value.as_ref(),
                )?);
            }
            Some(_) => rest.push(op),
            None => {
                let Some(Value::Object(mut value)) = op.value else {
                    rest.push(op);
                    continue;
                };
                let key = value
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("members"))
                    .cloned();
                if let Some(key) = key {
                    let members = value.remove(&key).unwrap_or(Value::Null);
                    changes.push(member_change(op.op, None, Some(&members))?);
                }
                if !value.is_empty() {
                    rest.push(PatchOperation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(value)),
                    });
                }
            }
        }
    }
    Ok((changes, rest))
}

fn member_change(
    op: OpKind,
    filter: Option<&Filter>,
    value: Option<&Value>,
) -> Result<MemberChange, ScimError> {
    if let Some(f) = filter {
        if op != OpKind::Remove {
            return Err(ScimError::invalid_path(
                "a members filter can only be used to remove members",
            ));
        }
        let mut ids = Vec::new();
        collect_value_eq(f, &mut ids)?;
        return Ok(MemberChange::Remove(ids));
    }
    match op {
        OpKind::Remove => match value {
            None | Some(Value::Null) => Ok(MemberChange::RemoveAll),
            Some(v) => Ok(MemberChange::Remove(member_ids(v)?)),
        },
        OpKind::Add => Ok(MemberChange::Add(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
        OpKind::Replace => Ok(MemberChange::Replace(member_ids(
            value.unwrap_or(&Value::Null),
        )?)),
    }
}

/// `value eq "a" or value eq "b"` → `[a, b]`.
fn collect_value_eq(f: &Filter, ids: &mut Vec<String>) -> Result<(), ScimError> {
    match f {
        Filter::Or(a, b) => {
            collect_value_eq(a, ids)?;
            collect_value_eq(b, ids)
        }
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(id))
            if p.attr.eq_ignore_ascii_case("value") && p.sub_attr.is_none() && p.urn.is_none() =>
        {
            ids.push(id.clone());
            Ok(())
        }
        _ => Err(ScimError::invalid_filter(
            "a members filter must be value eq \"id\" (optionally joined with or)",
        )),
    }
}

/// Member ids from `[{"value": id, …}]`, a single such object, or bare id strings.
fn member_ids(v: &Value) -> Result<Vec<String>, ScimError> {
    let one = |item: &Value| -> Result<String, ScimError> {
        match item {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::Object(m) => match get_ci(m, "value") {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                _ => Err(ScimError::invalid_value(
                    "each member needs a value (the member's id)",
                )),
            },
            _ => Err(ScimError::invalid_value(
                "members must be objects with a value",
            )),
        }
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// Applies operations, in order, to a resource document (as rendered by `to_json`).
/// Either all apply or an error is returned; the caller discards the document on error.
/// No list in an operation's value, and no multi-valued attribute after an operation, may
/// hold more than `max_values` values (an attribute stored longer may shrink or stay).
pub fn apply_patch(
    kind: ResourceKind,
    doc: &mut Value,
    ops: &[PatchOperation],
    max_values: usize,
) -> Result<(), ScimError> {
    let before = limits::value_counts(doc);
    for op in ops {
        if let Some(v) = &op.value {
            limits::check_value_lists(v, max_values)?;
        }
        let Value::Object(root) = &mut *doc else {
            return Err(ScimError::internal());
        };
        match &op.path {
            Some(path) => apply_at(kind, root, op.op, path, op.value.as_ref(), true)?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_syntax(
                        "without a path, value must be an object",
                    ));
                };
                apply_pathless(kind, root, op.op, None, values)?;
            }
        }
        limits::check_values(doc, max_values, &before)?;
    }
    Ok(())
}

/// A path-less add/replace: every key of `values` is a target (`"name.givenName"`,
/// `"urn:…:enterprise:2.0:User:department"`, or an extension URN with an object).
fn apply_pathless(
    kind: ResourceKind,
    root: &mut Map<String, Value>,
    op: OpKind,
    urn: Option<&str>,
    values: &Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, value) in values {
        // Clients echo these (scim2-tester, some IdPs send a whole extension object with
        // its own `schemas`); they are not attributes to change.
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        if urn.is_none()
            && let Some(ext) = kind.extension(key)
        {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    ext.id
                )));
            };
            apply_pathless(kind, root, op, Some(ext.id), inner)?;
            continue;
        }
        let mut attr = parse_attr_path(key)
            .map_err(|e| ScimError::invalid_path(format!("attribute {key:?}: {e}")))?;
        if attr.urn.is_none() {
            attr.urn = urn.map(str::to_owned);
        }
        let path = PatchPath {
            attr,
            filter: None,
            sub_attr: None,
        };
        apply_at(kind, root, op, &path, Some(value), false)?;
    }
    Ok(())
}

fn path_text(path: &PatchPath) -> String {
    let mut s = String::new();
    if let Some(u) = &path.attr.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&path.attr.attr);
    if let Some(sub) = &path.attr.sub_attr {
        s.push('.');
        s.push_str(sub);
    }
    if path.filter.is_some() {
        s.push_str("[…]");
    }
    if let Some(sub) = &path.sub_attr {
        s.push('.');
        s.push_str(sub);
    }
    s
}

fn apply_at(
    kind: ResourceKind,
    root: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    explicit: bool,
) -> Result<(), ScimError> {
    // A path naming a whole extension: `urn:…:enterprise:2.0:User`.
    if let Some(urn) = &path.attr.urn
        && path.filter.is_none()
        && path.attr.sub_attr.is_none()
        && let Some(ext) = kind.extension(&format!("{urn}:{}", path.attr.attr))
    {
        return match (op, value) {
            (OpKind::Remove, _) => {
                remove_ci(root, ext.id);
                Ok(())
            }
            (_, Some(Value::Object(inner))) => apply_pathless(kind, root, op, Some(ext.id), inner),
            _ => Err(ScimError::invalid_value(format!(
                "{} must be an object",
                ext.id
            ))),
        };
    }
    if path.attr.attr.eq_ignore_ascii_case("schemas") && path.attr.urn.is_none() {
        return Ok(());
    }
    let (schema, def) = kind
        .lookup(path.attr.urn.as_deref(), &path.attr.attr)
        .ok_or_else(|| ScimError::invalid_path(format!("no attribute {:?}", path_text(path))))?;
    if def.mutability == Mutability::ReadOnly {
        if !explicit && matches!(def.name, "id" | "meta") {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("{} is read-only", def.name)));
    }
    let whole = path.filter.is_none() && path.attr.sub_attr.is_none();
    if def.required && whole && (op == OpKind::Remove || value.is_some_and(Value::is_null)) {
        return Err(ScimError::invalid_value(format!(
            "{} is required and cannot be removed",
            def.name
        )));
    }
    let change =
        |container: &mut Map<String, Value>| match (&path.filter, path.attr.sub_attr.as_deref()) {
            (None, None) => whole_attribute(container, def, op, value),
            (None, Some(sub)) => sub_attribute(container, def, sub, op, value),
            (Some(filter), None) => {
                filtered(container, def, filter, path.sub_attr.as_deref(), op, value)
            }
            (Some(_), Some(_)) => Err(ScimError::invalid_path(format!(
                "{} puts a value filter after a sub-attribute",
                path_text(path)
            ))),
        };
    // Core and common attributes live in the resource itself; extension attributes in the
    // extension's object, created when absent.
    match schema.filter(|s| s.id != kind.core().id) {
        None => change(root),
        Some(ext) => {
            let mut inner = match remove_ci(root, ext.id) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            let result = change(&mut inner);
            root.insert(ext.id.to_owned(), Value::Object(inner));
            result
        }
    }
}

fn key_ci(m: &Map<String, Value>, key: &str) -> Option<String> {
    if m.contains_key(key) {
        return Some(key.to_owned());
    }
    m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

fn remove_ci(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = key_ci(m, key)?;
    m.remove(&k)
}

/// Takes the attribute out of `m` under its canonical name (merging a differently-cased key).
fn take(m: &mut Map<String, Value>, name: &str) -> Option<Value> {
    remove_ci(m, name).filter(|v| !v.is_null())
}

/// A value made to fit the attribute's type: `"True"` → `true`, `"5"` → `5`, a single object
/// for a multi-valued attribute → a list of one.
fn coerce(def: &AttrDef, value: &Value, whole: bool) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued && whole {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if !item.is_null() {
                out.push(coerce(def, item, false)?);
            }
        }
        return Ok(Value::Array(out));
    }
    let bad = |what: &str| ScimError::invalid_value(format!("{} must be {what}", def.name));
    Ok(match def.ty {
        AttrType::Boolean => match value {
            Value::Bool(_) => value.clone(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("an integer"))?,
            _ => return Err(bad("an integer")),
        },
        AttrType::String | AttrType::Reference | AttrType::DateTime => match value {
            Value::String(_) | Value::Number(_) => value.clone(),
            Value::Object(_) if def.multi_valued => value.clone(),
            _ => return Err(bad("a string")),
        },
        AttrType::Complex => match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    match def.sub(k) {
                        Some(sub) => {
                            out.insert(sub.name.to_owned(), coerce(sub, v, true)?);
                        }
                        None => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                Value::Object(out)
            }
            // A bare value for a complex attribute (`manager: "id"`, `emails: ["a@x"]`).
            Value::String(_) | Value::Number(_) => value.clone(),
            _ => return Err(bad("an object")),
        },
    })
}

fn is_primary(v: &Value) -> bool {
    v.get("primary").and_then(Value::as_bool) == Some(true)
}

/// At most one element may be primary: the one at `keep` wins.
fn settle_primary(list: &mut [Value], keep: usize) {
    if !list.get(keep).is_some_and(is_primary) {
        return;
    }
    for (i, el) in list.iter_mut().enumerate() {
        if i != keep
            && let Value::Object(m) = el
            && m.get("primary").and_then(Value::as_bool) == Some(true)
        {
            m.insert("primary".into(), Value::Bool(false));
        }
    }
}

/// The comparable identity of a multi-value element: its `value`, or itself.
fn element_key(v: &Value) -> Value {
    match v {
        Value::Object(m) => get_ci(m, "value").cloned().unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

fn same_element(def: &AttrDef, a: &Value, b: &Value) -> bool {
    let case_exact = def.sub("value").map_or(def.case_exact, |s| s.case_exact);
    match (element_key(a), element_key(b)) {
        (Value::String(x), Value::String(y)) if !case_exact => x.eq_ignore_ascii_case(&y),
        (x, y) => x == y,
    }
}

fn whole_attribute(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let current = take(m, def.name);
    let new = match op {
        OpKind::Remove => match (def.multi_valued, value, current) {
            // Remove only the listed elements (Entra ID's way of removing some values).
            (true, Some(v), Some(Value::Array(mut list))) if !v.is_null() => {
                let Value::Array(gone) = coerce(def, v, true)? else {
                    return Ok(());
                };
                list.retain(|el| !gone.iter().any(|g| same_element(def, el, g)));
                Some(Value::Array(list))
            }
            _ => None,
        },
        OpKind::Add | OpKind::Replace => {
            let v = coerce(def, value.unwrap_or(&Value::Null), true)?;
            match (op, def.multi_valued, current, v) {
                (_, _, _, Value::Null) if op == OpKind::Replace => None,
                (_, _, current, Value::Null) => current,
                (OpKind::Add, true, Some(Value::Array(mut list)), Value::Array(new)) => {
                    for item in new {
                        if let Some(i) = list.iter().position(|el| same_element(def, el, &item)) {
                            merge_into(&mut list[i], item);
                            settle_primary(&mut list, i);
                        } else {
                            list.push(item);
                            let last = list.len() - 1;
                            settle_primary(&mut list, last);
                        }
                    }
                    Some(Value::Array(list))
                }
                (_, true, _, Value::Array(mut new)) => {
                    if let Some(first) = new.iter().position(is_primary) {
                        settle_primary(&mut new, first);
                    }
                    Some(Value::Array(new))
                }
                // A single-valued complex attribute: the given sub-attributes replace or add.
                (_, false, Some(mut cur @ Value::Object(_)), new @ Value::Object(_)) => {
                    merge_into(&mut cur, new);
                    Some(cur)
                }
                (_, _, _, new) => Some(new),
            }
        }
    };
    if let Some(v) = new {
        m.insert(def.name.to_owned(), v);
    }
    Ok(())
}

/// Sets each key of `new` on `target` (both objects); otherwise replaces `target`.
fn merge_into(target: &mut Value, new: Value) {
    match (target, new) {
        (Value::Object(t), Value::Object(n)) => {
            for (k, v) in n {
                if let Some(existing) = key_ci(t, &k) {
                    t.remove(&existing);
                }
                if !v.is_null() {
                    t.insert(k, v);
                }
            }
        }
        (t, n) => *t = n,
    }
}

fn sub_def(def: &AttrDef, sub: &str) -> Result<&'static AttrDef, ScimError> {
    if def.ty != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "{} has no sub-attributes",
            def.name
        )));
    }
    let s = def.sub(sub).ok_or_else(|| {
        ScimError::invalid_path(format!("{} has no sub-attribute {sub:?}", def.name))
    })?;
    if s.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!(
            "{}.{} is read-only",
            def.name, s.name
        )));
    }
    Ok(s)
}

/// Sets (or removes, for `remove` or a null value) one sub-attribute of an object element.
fn set_sub(el: &mut Value, sub: &AttrDef, op: OpKind, value: &Value) {
    if !el.is_object() {
        // A bare value promoted to an object keeps its value.
        let old = std::mem::take(el);
        let mut m = Map::new();
        if !old.is_null() {
            m.insert("value".into(), old);
        }
        *el = Value::Object(m);
    }
    if let Value::Object(m) = el {
        remove_ci(m, sub.name);
        if op != OpKind::Remove && !value.is_null() {
            m.insert(sub.name.to_owned(), value.clone());
        }
    }
}

fn sub_attribute(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    sub: &str,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let sdef = sub_def(def, sub)?;
    let v = match op {
        OpKind::Remove => Value::Null,
        _ => coerce(sdef, value.unwrap_or(&Value::Null), true)?,
    };
    let current = take(m, def.name);
    let new = if def.multi_valued {
        let mut list = match current {
            Some(Value::Array(list)) => list,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        if list.is_empty() && op != OpKind::Remove && !v.is_null() {
            list.push(Value::Object(Map::new()));
        }
        for el in &mut list {
            set_sub(el, sdef, op, &v);
        }
        (!list.is_empty()).then_some(Value::Array(list))
    } else {
        let mut obj = match current {
            Some(o @ Value::Object(_)) => o,
            Some(other) => {
                let mut o = Map::new();
                o.insert("value".into(), other);
                Value::Object(o)
            }
            None => Value::Object(Map::new()),
        };
        set_sub(&mut obj, sdef, op, &v);
        obj.as_object()
            .is_some_and(|o| !o.is_empty())
            .then_some(obj)
    };
    if let Some(v) = new {
        m.insert(def.name.to_owned(), v);
    }
    Ok(())
}

/// The element a filter made only of `and`-joined `eq` comparisons describes
/// (`type eq "work"` → `{"type": "work"}`), for `add`/`replace` that match nothing.
fn element_from_filter(def: &AttrDef, f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::And(a, b) => element_from_filter(def, a, out) && element_from_filter(def, b, out),
        Filter::Compare(p, CompareOp::Eq, v) if p.sub_attr.is_none() && p.urn.is_none() => {
            let Some(sub) = def.sub(&p.attr) else {
                return false;
            };
            let json = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return false,
            };
            match coerce(sub, &json, true) {
                Ok(v) => {
                    out.insert(sub.name.to_owned(), v);
                    true
                }
                Err(_) => false,
            }
        }
        _ => false,
    }
}

fn filtered(
    m: &mut Map<String, Value>,
    def: &AttrDef,
    filter: &Filter,
    sub: Option<&str>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "{} is not multi-valued",
            def.name
        )));
    }
    let sdef = sub.map(|s| sub_def(def, s)).transpose()?;
    let case_exact = |name: &str| def.sub(name).is_some_and(|s| s.case_exact);
    let mut list = match take(m, def.name) {
        Some(Value::Array(list)) => list,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let hits: Vec<usize> = (0..list.len())
        .filter(|&i| matches_element(filter, &list[i], &case_exact))
        .collect();
    let result = (|| {
        match (op, sdef) {
            (OpKind::Remove, None) => {
                let mut hit = vec![false; list.len()];
                for &i in &hits {
                    hit[i] = true;
                }
                let mut i = 0;
                list.retain(|_| {
                    i += 1;
                    !hit[i - 1]
                });
            }
            (OpKind::Remove, Some(s)) => {
                for &i in &hits {
                    set_sub(&mut list[i], s, op, &Value::Null);
                }
            }
            (_, Some(s)) => {
                let v = coerce(s, value.unwrap_or(&Value::Null), true)?;
                if hits.is_empty() {
                    let mut el = Map::new();
                    if !element_from_filter(def, filter, &mut el) {
                        return Err(ScimError::no_target(format!(
                            "no {} element matches the filter",
                            def.name
                        )));
                    }
                    if !v.is_null() {
                        el.insert(s.name.to_owned(), v);
                    }
                    list.push(Value::Object(el));
                    let last = list.len() - 1;
                    settle_primary(&mut list, last);
                } else {
                    for &i in &hits {
                        set_sub(&mut list[i], s, op, &v);
                    }
                    if let Some(&i) = hits.iter().find(|&&i| is_primary(&list[i])) {
                        settle_primary(&mut list, i);
                    }
                }
            }
            (_, None) => {
                let v = coerce(def, value.unwrap_or(&Value::Null), false)?;
                if !v.is_object() {
                    return Err(ScimError::invalid_value(format!(
                        "the value for a filtered {} path must be an object",
                        def.name
                    )));
                }
                if hits.is_empty() {
                    let mut el = Map::new();
                    // RFC 7644 §3.5.2.3: a replace whose filter matches nothing fails.
                    if op == OpKind::Replace {
                        return Err(ScimError::no_target(format!(
                            "no {} element matches the filter",
                            def.name
                        )));
                    }
                    element_from_filter(def, filter, &mut el);
                    let mut el = Value::Object(el);
                    merge_into(&mut el, v);
                    list.push(el);
                    let last = list.len() - 1;
                    settle_primary(&mut list, last);
                } else {
                    for &i in &hits {
                        if op == OpKind::Replace {
                            list[i] = v.clone();
                        } else {
                            merge_into(&mut list[i], v.clone());
                        }
                    }
                    if let Some(&i) = hits.iter().find(|&&i| is_primary(&list[i])) {
                        settle_primary(&mut list, i);
                    }
                }
            }
        }
        Ok(())
    })();
    if !list.is_empty() {
        m.insert(def.name.to_owned(), Value::Array(list));
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::error::ScimType;

    fn patch(kind: ResourceKind, doc: Value, ops: Value) -> Result<Value, ScimError> {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let ops = parse_patch_request(&body)?;
        let mut doc = doc;
        apply_patch(kind, &mut doc, &ops, 100)?;
        Ok(doc)
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1",
            "userName": "ana",
            "name": {"givenName": "Ana", "familyName": "Li"},
            "active": true,
            "emails": [{"value": "ana@home.example", "type": "home", "primary": true}],
            "meta": {"resourceType": "User"}
        })
    }

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn entra_capitalised_ops_and_boolean_strings() {
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "Replace", "path": "active", "value": "False"},
                   {"op": "Add", "path": "title", "value": "Lead"}]),
        )
        .expect("applies");
        assert_eq!(d["active"], false);
        assert_eq!(d["title"], "Lead");
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
        )
        .expect_err("not a boolean");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn pathless_values_with_dotted_and_urn_keys() {
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "value": {
                "name.givenName": "Anna",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Support",
                "active": false
            }}]),
        )
        .expect("applies");
        assert_eq!(d["name"]["givenName"], "Anna");
        assert_eq!(d["name"]["familyName"], "Li");
        assert_eq!(d[ENT]["department"], "Support");
        assert_eq!(d["active"], false);
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "add", "value": {ENT: {"employeeNumber": "42"}}}]),
        )
        .expect("applies");
        assert_eq!(d[ENT]["employeeNumber"], "42");
    }

    #[test]
    fn add_through_a_filter_creates_the_element() {
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "ana@work.example"}]),
        )
        .expect("applies");
        let emails = d["emails"].as_array().expect("list");
        assert_eq!(emails.len(), 2);
        assert_eq!(
            emails[1],
            json!({"type": "work", "value": "ana@work.example"})
        );
        let d = patch(
            ResourceKind::User,
            d,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"}]),
        )
        .expect("applies");
        assert_eq!(d["emails"][1]["value"], "new@work.example");
        assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn primary_stays_unique() {
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "w@x", "type": "work", "primary": "True"}]}]),
        )
        .expect("applies");
        assert_eq!(d["emails"][0]["primary"], false);
        assert_eq!(d["emails"][1]["primary"], true);
    }

    #[test]
    fn remove_forms() {
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .expect("applies");
        assert!(d.get("emails").is_none());
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "remove", "path": "name.givenName"}]),
        )
        .expect("applies");
        assert_eq!(d["name"], json!({"familyName": "Li"}));
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "remove", "path": "title"}]),
        )
        .expect("no-op");
        assert!(d.get("title").is_none());
        for required in ["active", "userName"] {
            let e = patch(
                ResourceKind::User,
                user(),
                json!([{"op": "remove", "path": required}]),
            )
            .expect_err("required");
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        }
        let e = patch(ResourceKind::User, user(), json!([{"op": "remove"}])).expect_err("no path");
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "Remove", "path": "emails", "value": [{"value": "ANA@home.example"}]}]),
        )
        .expect("applies");
        assert_eq!(d["emails"], json!([]));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "nope", "value": 1}]),
        )
        .expect_err("unknown");
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        )
        .expect_err("read-only");
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "groups", "value": []}]),
        )
        .expect_err("read-only");
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "jump", "path": "title", "value": "x"}]),
        )
        .expect_err("bad op");
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        )
        .expect_err("bad path");
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "path": "emails[type eq \"other\" or value pr].value", "value": "x"}]),
        );
        assert!(
            e.is_ok(),
            "or-filter matching the existing element replaces it"
        );
        let e = parse_patch_request(&json!({"Operations": []})).expect_err("empty");
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = parse_patch_request(
            &json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
        )
        .expect_err("wrong schema");
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        // Echoed read-only attributes in a path-less replace are ignored.
        let d = patch(
            ResourceKind::User,
            user(),
            json!([{"op": "replace", "value": {"id": "zz", "meta": {}, "title": "T"}}]),
        )
        .expect("applies");
        assert_eq!(d["id"], "u1");
    }

    #[test]
    fn member_ops_are_split_by_form() {
        let body = json!({"Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "remove", "path": "members[value eq \"c\" or value eq \"d\"]"},
            {"op": "add", "path": "members", "value": [{"$ref": null, "value": "e"}]},
            {"op": "replace", "value": {"displayName": "Team", "members": [{"value": "f"}]}},
            {"op": "remove", "path": "members"}
        ]});
        let ops = parse_patch_request(&body).expect("parses");
        let (changes, rest) = split_member_ops(ops).expect("splits");
        assert_eq!(
            changes,
            vec![
                MemberChange::Remove(vec!["a".into(), "b".into()]),
                MemberChange::Remove(vec!["c".into(), "d".into()]),
                MemberChange::Add(vec!["e".into()]),
                MemberChange::Replace(vec!["f".into()]),
                MemberChange::RemoveAll,
            ]
        );
        assert_eq!(rest.len(), 1);
        let mut doc = json!({"displayName": "Old", "id": "g"});
        apply_patch(ResourceKind::Group, &mut doc, &rest, 100).expect("applies");
        assert_eq!(doc["displayName"], "Team");
        let bad = parse_patch_request(
            &json!({"Operations": [{"op": "add", "path": "members", "value": [{"display": "x"}]}]}),
        )
        .and_then(split_member_ops);
        assert!(bad.is_err());
    }

    #[test]
    fn agent_extension_attributes() {
        let agent = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:Agent";
        let d = patch(
            ResourceKind::User,
            user(),
            json!([
                {"op": "replace", "path": format!("{agent}:maxConcurrentChats"), "value": "6"},
                {"op": "add", "path": format!("{agent}:skillGroups"), "value": ["billing"]},
                {"op": "add", "path": format!("{agent}:skillGroups"), "value": "vip"},
                {"op": "add", "path": format!("{agent}:skillGroups"), "value": "billing"}
            ]),
        )
        .expect("applies");
        assert_eq!(d[agent]["maxConcurrentChats"], 6);
        assert_eq!(d[agent]["skillGroups"], json!(["billing", "vip"]));
    }

    #[test]
    fn lists_may_not_grow_past_the_cap_but_may_shrink() {
        let ops = |v: Value| {
            parse_patch_request(&json!({"schemas": [PATCH_OP], "Operations": v})).expect("ops")
        };
        let mut doc =
            json!({"userName": "a", "emails": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        // Stored with three, the cap is two: removing one is fine, adding one is not.
        let add = ops(json!([{"op": "add", "path": "emails", "value": [{"value": "4"}]}]));
        let err = apply_patch(ResourceKind::User, &mut doc.clone(), &add, 2).expect_err("grows");
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        let remove = ops(json!([{"op": "remove", "path": "emails[value eq \"1\"]"}]));
        apply_patch(ResourceKind::User, &mut doc, &remove, 2).expect("shrinks");
        assert_eq!(doc["emails"].as_array().map(Vec::len), Some(2));
        // A list in a value is refused before it is merged.
        let big = ops(
            json!([{"op": "add", "value": {"emails": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}}]),
        );
        let err = apply_patch(ResourceKind::User, &mut doc, &big, 2).expect_err("too long");
        assert!(err.detail.contains("at most 2"), "{}", err.detail);
    }
}

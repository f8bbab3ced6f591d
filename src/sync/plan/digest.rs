//! The digest of what a source writes for a person, kept with the agent (or with the
//! source's link to it) so that an unchanged person needs no field-by-field comparison, and
//! so that a `normal` owner can tell which of its values changed since it last wrote.

use super::mapping::Ruled;
use crate::sources::SourceRecord;

/// Hex characters per field: 24 bits of each field's hash (a `normal` owner misses a
/// change of one field once in 16 million; the digest as a whole has 312 bits).
const SLOT: usize = 6;

/// A digest of what a source writes for a person: a 32-bit FNV-1a hash of every managed
/// field as `changed_fields` compares it (with the manager's id and the rules' role and
/// skill groups), in [`crate::config::OWNED_FIELDS`] order, its low 24 bits as 6 hex digits
/// each. Equal
/// digests mean an unchanged person; [`field_changed`] compares one field.
pub(super) fn digest(r: &SourceRecord, manager: Option<&str>, (role, skills, _): &Ruled) -> String {
    let mut out = String::with_capacity(SLOT * 13);
    let mut push = |values: &[Option<&str>]| {
        let mut h = Fnv::new();
        for v in values {
            match v {
                Some(v) => {
                    h.write(&(v.len() as u64 + 1).to_le_bytes());
                    h.write(v.as_bytes());
                }
                None => h.write(&0u64.to_le_bytes()),
            }
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for shift in (0..SLOT).rev() {
            out.push(char::from(HEX[(h.0 >> (shift * 4)) as usize & 0xf]));
        }
    };
    push(&[Some(&r.user_name)]);
    push(&[r.given_name.as_deref()]);
    push(&[r.family_name.as_deref()]);
    push(&[r.display_name.as_deref()]);
    push(&[r.nickname.as_deref()]);
    push(&[r.title.as_deref()]);
    push(&[r.employee_number.as_deref()]);
    push(&[r.department.as_deref()]);
    push(&[manager]);
    push(&[r.email.as_deref()]);
    push(&[r.phone.as_deref()]);
    push(&[Some(role)]);
    let skills: Vec<Option<&str>> = skills.iter().map(|s| Some(s.as_str())).collect();
    push(&skills);
    out
}

/// Whether the field named `field` (a plan's name) differs between two digests; `true`
/// when `before` is missing or of another form (nothing known of it).
pub(super) fn field_changed(before: Option<&str>, now: &str, field: &str) -> bool {
    let Some(i) = crate::config::OWNED_FIELDS
        .iter()
        .position(|(_, f)| *f == field)
    else {
        return true;
    };
    let slot = |d: &str| d.get(i * SLOT..(i + 1) * SLOT).map(str::to_owned);
    match before {
        Some(b) if b.len() == now.len() => slot(b) != slot(now),
        _ => true,
    }
}

/// 32-bit FNV-1a: stable across builds and platforms (the digests are stored).
struct Fnv(u32);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0x811c_9dc5)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_field_changes_its_slot_only() {
        let r = SourceRecord {
            user_name: "ana".into(),
            department: Some("Support".into()),
            ..SourceRecord::default()
        };
        let ruled: Ruled = ("agent".into(), vec!["vip".into()], None);
        let before = digest(&r, None, &ruled);
        let moved = SourceRecord {
            department: Some("Sales".into()),
            ..r.clone()
        };
        let after = digest(&moved, None, &ruled);
        assert_eq!(before.len(), 13 * SLOT);
        assert_ne!(before, after);
        assert!(field_changed(Some(&before), &after, "department"));
        assert!(!field_changed(Some(&before), &after, "title"));
        assert!(!field_changed(Some(&before), &after, "skillGroups"));
        assert!(field_changed(None, &after, "title"), "nothing known");
        assert!(
            field_changed(Some("0123456789abcdef0123456789abcdef"), &after, "title"),
            "an older digest's form says nothing of one field"
        );
        assert_eq!(digest(&r, None, &ruled), before, "stable");
    }
}

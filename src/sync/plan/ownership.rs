//! Which of the fields that differ a source may write on an agent (`[ownership]`): by its
//! strength for each field — strong, normal (its value changed since it last wrote), weak
//! (the field is empty) — and, on an agent several sources describe, never an empty value.

use super::digest::field_changed;
use super::mapping::{Ruled, field_is_empty, offers_nothing};
use crate::config::{SourceOwnership, Strength};
use crate::domain::SourcedAgent;
use crate::sources::SourceRecord;

/// What a source is to an agent it compares: the agent's own source (or taking it over),
/// whether others describe it too, and the digest of what the source last wrote on it.
#[derive(Clone, Copy)]
pub(super) struct Standing<'o> {
    pub own: bool,
    pub shared: bool,
    pub offered: Option<&'o str>,
}

/// What the source offers for the person now.
pub(super) struct Offer<'a> {
    pub record: &'a SourceRecord,
    pub manager: Option<&'a str>,
    pub rules: &'a Ruled,
    /// Its digest (present when any field differs).
    pub digest: Option<&'a str>,
}

/// Keeps, of `fields` (a plan's names of the fields that differ), those the source may
/// write on `current`.
pub(super) fn writable(
    fields: &mut Vec<String>,
    owns: &SourceOwnership,
    standing: Standing<'_>,
    current: &SourcedAgent,
    offer: &Offer<'_>,
) {
    let strength = |f: &str| owns.strength(f, standing.own);
    if !standing.shared && fields.iter().all(|f| strength(f) == Some(Strength::Strong)) {
        return;
    }
    fields.retain(|f| match strength(f) {
        // On an agent several sources describe, an empty value clears nothing.
        _ if standing.shared && offers_nothing(offer.record, offer.manager, offer.rules, f) => {
            false
        }
        None => false,
        Some(Strength::Strong) => true,
        Some(Strength::Weak) => field_is_empty(current, f),
        Some(Strength::Normal) => offer
            .digest
            .is_some_and(|now| field_changed(standing.offered, now, f)),
    });
}

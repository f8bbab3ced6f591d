//! The guard: a run that would take away too many agents at once, or that saw nobody, is
//! refused — a broken directory must never look like everyone left. Pure.

use super::plan::Plan;
pub use crate::config::GuardConfig;

/// Why a run was refused, or `None` when it may be applied.
pub fn check(plan: &Plan, guard: &GuardConfig, full: bool) -> Option<String> {
    if full && plan.records == 0 && plan.owned > 0 {
        return Some(format!(
            "the source returned no one while {} agents belong to it",
            plan.owned
        ));
    }
    let removals = plan.removals();
    if removals == 0 {
        return None;
    }
    if let Some(max) = guard.max_disable_count
        && removals > max
    {
        return Some(format!(
            "{removals} agents would be disabled or deleted; the limit is {max} (max_disable_count)"
        ));
    }
    let base = plan.owned.max(1) as f64;
    let percent = removals as f64 * 100.0 / base;
    if percent > guard.max_disable_percent {
        return Some(format!(
            "{removals} of {} agents ({percent:.1}%) would be disabled or deleted; the limit is {}% (max_disable_percent)",
            plan.owned, guard.max_disable_percent
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::Change;

    fn plan(owned: usize, records: usize, removals: usize) -> Plan {
        Plan {
            changes: (0..removals)
                .map(|i| Change::Disable {
                    agent_id: i.to_string(),
                    user_name: i.to_string(),
                    reason: String::new(),
                })
                .collect(),
            owned,
            stamps: Vec::new(),
            owned_active: owned,
            records,
            unchanged: 0,
            ..Plan::default()
        }
    }

    #[test]
    fn refuses_mass_removal_empty_sources_and_counts() {
        let g = GuardConfig::default();
        assert!(check(&plan(100, 90, 10), &g, true).is_none());
        let why = check(&plan(100, 89, 11), &g, true).expect("11% refused");
        assert!(why.contains("max_disable_percent"), "{why}");
        assert!(check(&plan(100, 0, 100), &g, true).is_some_and(|w| w.contains("no one")));
        assert!(
            check(&plan(0, 0, 0), &g, true).is_none(),
            "a new, empty source is fine"
        );
        let counted = GuardConfig {
            max_disable_percent: 100.0,
            max_disable_count: Some(3),
        };
        assert!(
            check(&plan(10, 6, 4), &counted, true).is_some_and(|w| w.contains("max_disable_count"))
        );
    }
}

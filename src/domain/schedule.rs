//! An agent's start and leaving moments, as its HR source states them.

use chrono::NaiveDateTime;
use serde::Serialize;

/// An agent's start and leaving moments as its HR source states them (UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Schedule {
    #[serde(rename = "startsAt", skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<NaiveDateTime>,
    #[serde(rename = "startNote", skip_serializing_if = "Option::is_none")]
    pub start_note: Option<String>,
    #[serde(rename = "leavesAt", skip_serializing_if = "Option::is_none")]
    pub leaves_at: Option<NaiveDateTime>,
    #[serde(rename = "leaveNote", skip_serializing_if = "Option::is_none")]
    pub leave_note: Option<String>,
    /// The person is terminated (not on a leave of absence).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub terminated: bool,
}

impl Schedule {
    pub fn is_empty(&self) -> bool {
        self.starts_at.is_none() && self.leaves_at.is_none()
    }
}

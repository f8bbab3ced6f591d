//! Sending events to one endpoint: the message of an event (its body and `webhook-id`), one
//! signed POST and what came of it (`Attempt`), and a batch spread over ordered lanes by
//! subject — each lane one request at a time, so an agent's events arrive in order.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::deliver::Settings;
use super::{Endpoint, sign};
use crate::events::{self, EventRecord};
use crate::store;

/// Longest a run of sends goes on before the cursor is saved and the endpoint read again.
pub(super) const BATCH_TIME: Duration = Duration::from_secs(1);

pub(super) fn http_agent(s: &Settings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(s.timeout))
        .timeout_connect(Some(s.connect_timeout))
        .build()
        .into()
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub(super) event_id: i64,
    pub(super) number: i32,
    pub(super) at: NaiveDateTime,
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    pub(super) millis: i32,
}

impl Attempt {
    pub(super) fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub(super) fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends `batch` (in the order of the log) over `lanes` lanes, each event in the lane of
/// its subject; a lane stops at its first failure, or after [`BATCH_TIME`]. The attempts, by
/// event. `head` is the event the endpoint's retry count is about.
pub(super) fn send_lanes(
    agent: &ureq::Agent,
    ep: &Endpoint,
    keys: &[Vec<u8>],
    batch: &[EventRecord],
    head: Option<i64>,
    lanes: usize,
) -> Vec<Attempt> {
    let started = Instant::now();
    let number = |ev: &EventRecord| {
        if Some(ev.id) == head {
            ep.attempts + 1
        } else {
            1
        }
    };
    let run = |events: &[&EventRecord]| {
        let mut out = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let a = send(agent, ep, keys, ev, number(ev));
            let ok = a.ok();
            out.push(a);
            if !ok || (started.elapsed() > BATCH_TIME && i + 1 < events.len()) {
                break;
            }
        }
        out
    };
    let lanes = lanes.max(1);
    let mut by_lane: Vec<Vec<&EventRecord>> = vec![Vec::new(); lanes];
    for ev in batch {
        by_lane[lane_of(&ev.agent_id, lanes)].push(ev);
    }
    by_lane.retain(|l| !l.is_empty());
    let mut attempts: Vec<Attempt> = if by_lane.len() <= 1 {
        by_lane.first().map(|l| run(l)).unwrap_or_default()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = by_lane.iter().map(|l| scope.spawn(|| run(l))).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    attempts.sort_by_key(|a| a.event_id);
    attempts
}

/// The lane of a subject: the same for every event about it (FNV-1a of its bytes).
fn lane_of(subject: &str, lanes: usize) -> usize {
    let h = subject.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    usize::try_from(h % lanes.max(1) as u64).unwrap_or(0)
}

/// The body of an event's message: its type, the time of the change, and the data — the
/// event's id, what it is about, and the audit entry's `after`. The same bytes at every
/// attempt.
pub fn body(ev: &EventRecord) -> Vec<u8> {
    let after = ev
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .unwrap_or(Value::Null);
    let subject = match ev.event.subject() {
        events::Subject::Agent => "agent_id",
        events::Subject::Role => "role",
        events::Subject::Source => "source",
    };
    let mut data = serde_json::Map::new();
    data.insert("event_id".into(), json!(ev.id));
    data.insert(subject.into(), json!(ev.agent_id));
    data.insert("after".into(), after);
    let v = json!({
        "type": ev.event.as_str(),
        "timestamp": ev.at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The message id of an event: the same at every attempt and replay.
pub fn message_id(ev: &EventRecord) -> String {
    format!("msg_{}", ev.id)
}

pub(super) fn send(
    agent: &ureq::Agent,
    ep: &Endpoint,
    keys: &[Vec<u8>],
    ev: &EventRecord,
    number: i32,
) -> Attempt {
    let at = store::now();
    let body = body(ev);
    let msg_id = message_id(ev);
    let ts = chrono::Utc::now().timestamp();
    let sig = sign::signature(keys, &msg_id, ts, &body);
    let started = Instant::now();
    let result = agent
        .post(&ep.url)
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .send(&body[..]);
    let (status, error) = match result {
        Ok(mut resp) => {
            // Read (a little of) the answer, so the connection can be used again.
            let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
            (Some(resp.status().as_u16()), None)
        }
        Err(e) => {
            let text: String = e.to_string().chars().take(500).collect();
            (None, Some(text))
        }
    };
    let millis = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    if status.is_none_or(|s| !(200..300).contains(&s)) {
        tracing::debug!(webhook = %ep.name, event = ev.id, status, error, "delivery failed");
    }
    Attempt {
        event_id: ev.id,
        number,
        at,
        status,
        error,
        millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    #[test]
    fn the_body_is_the_event_and_its_change() {
        let at = chrono::DateTime::from_timestamp(1_764_720_000, 123_000)
            .expect("time")
            .naive_utc();
        let ev = EventRecord {
            id: 42,
            event: Event::Disabled,
            agent_id: "0193-a".into(),
            at,
            payload: Some(r#"{"active":false}"#.into()),
        };
        let v: Value = serde_json::from_slice(&body(&ev)).expect("json");
        assert_eq!(v["type"], "agent.disabled");
        assert_eq!(v["timestamp"], "2025-12-03T00:00:00.000123Z");
        assert_eq!(v["data"]["event_id"], 42);
        assert_eq!(v["data"]["agent_id"], "0193-a");
        assert_eq!(v["data"]["after"]["active"], false);
        assert_eq!(message_id(&ev), "msg_42");
        let refused = EventRecord {
            event: Event::SyncRefused,
            agent_id: "corp".into(),
            payload: None,
            ..ev
        };
        let v: Value = serde_json::from_slice(&body(&refused)).expect("json");
        assert_eq!(v["data"]["source"], "corp");
        assert_eq!(v["data"]["after"], Value::Null);
    }
}

//! One export row to a person: the mapped columns and templates, the status mapped to
//! `active | leave | terminated | rescinded`, and the dates read in the person's time zone
//! (a bare start date is local 00:00; a leaving date ends at the end or the start of the
//! day; a date-time is taken as given). A row that cannot be a person says why.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::read::Row;
use super::settings::{FieldSource, HrSettings, LeaveAt, TEMPLATE_FIELDS};
use crate::sources::{Employment, EmploymentStatus, SourceRecord};

/// The mapping of one source, compiled once per read.
pub struct Mapper {
    /// The columns a read asks for (the employee id's first).
    pub columns: Vec<String>,
    /// Field name → index into `columns`.
    column_of: HashMap<&'static str, usize>,
    templates: Vec<(&'static str, crate::sources::template::Template)>,
    statuses: HashMap<String, EmploymentStatus>,
    zone: Tz,
    zone_name: String,
    leave_at: LeaveAt,
    immediate: Vec<String>,
}

impl Mapper {
    pub fn new(settings: &HrSettings) -> Result<Mapper, String> {
        let sources: BTreeMap<&'static str, FieldSource> = settings.fields.sources()?;
        let mut columns = vec![settings.fields.employee_id.clone()];
        let mut column_of = HashMap::new();
        column_of.insert("employee_id", 0);
        let mut templates = Vec::new();
        for (name, source) in sources {
            match source {
                FieldSource::Column(c) if name != "employee_id" => {
                    let i = match columns.iter().position(|x| *x == c) {
                        Some(i) => i,
                        None => {
                            columns.push(c);
                            columns.len() - 1
                        }
                    };
                    column_of.insert(name, i);
                }
                FieldSource::Column(_) => {}
                FieldSource::Template(t) => templates.push((name, t)),
            }
        }
        let mut statuses = HashMap::new();
        let s = &settings.status;
        for (values, status) in [
            (&s.active, EmploymentStatus::Active),
            (&s.leave, EmploymentStatus::Leave),
            (&s.terminated, EmploymentStatus::Terminated),
            (&s.rescinded, EmploymentStatus::Rescinded),
        ] {
            for v in values {
                statuses.insert(v.trim().to_lowercase(), status);
            }
        }
        let zone = settings
            .time_zone
            .parse::<Tz>()
            .map_err(|_| format!("time_zone {:?} is not an IANA name", settings.time_zone))?;
        Ok(Mapper {
            columns,
            column_of,
            templates,
            statuses,
            zone,
            zone_name: settings.time_zone.clone(),
            leave_at: settings.leave_at,
            immediate: settings
                .immediate_reasons
                .iter()
                .map(|r| r.trim().to_lowercase())
                .collect(),
        })
    }

    fn value<'r>(&self, row: &'r Row, field: &str) -> Option<&'r str> {
        let i = *self.column_of.get(field)?;
        row.values.get(i)?.as_deref()
    }

    /// Whether `[sources.hr.fields]` maps an effective date.
    pub fn is_dated(&self) -> bool {
        self.column_of.contains_key("effective_date")
    }

    /// From when a row holds (local 00:00 of its effective date in the person's zone), if
    /// it says.
    pub fn effective(&self, row: &Row) -> Result<Option<NaiveDateTime>, String> {
        let Some(v) = self.value(row, "effective_date") else {
            return Ok(None);
        };
        let zone = match self.value(row, "time_zone") {
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("time zone {name:?} is not an IANA time zone name"))?,
            None => self.zone,
        };
        parse_moment(v)
            .map(|m| Some(m.start(zone)))
            .map_err(|e| format!("effective_date {e}"))
    }

    /// The employee id of a row, when it has one.
    pub fn key(&self, row: &Row) -> Option<String> {
        row.values.first()?.clone()
    }

    /// The person a row describes, or why it cannot be used.
    pub fn person(&self, row: &Row) -> Result<SourceRecord, String> {
        if let Some(why) = &row.broken {
            return Err(why.clone());
        }
        let Some(key) = self.value(row, "employee_id").map(str::to_owned) else {
            return Err("no employee id".into());
        };
        if key.chars().any(char::is_control) {
            return Err("the employee id has control characters".into());
        }
        // Field values as read, with the defaults the rest derive from.
        let mut fields: HashMap<&str, String> = HashMap::new();
        for name in TEMPLATE_FIELDS {
            if let Some(v) = self.value(row, name) {
                fields.insert(name, v.to_owned());
            }
        }
        fields
            .entry("employee_number")
            .or_insert_with(|| key.clone());
        let rendered: Vec<(&str, Option<String>)> = self
            .templates
            .iter()
            .map(|(name, t)| (*name, t.render(|n| fields.get(n).map(String::as_str))))
            .collect();
        for (name, value) in rendered {
            match value {
                Some(v) => fields.insert(name, v),
                None => fields.remove(name),
            };
        }
        let user_name = fields
            .get("user_name")
            .or_else(|| fields.get("email"))
            .cloned()
            .unwrap_or_else(|| key.clone());
        let take = |name: &str| fields.get(name).cloned();
        let employment = self.employment(row)?;
        Ok(SourceRecord {
            dn: key.clone(),
            manager_dn: take("manager"),
            user_name,
            given_name: take("given_name"),
            family_name: take("family_name"),
            display_name: take("display_name"),
            nickname: take("nickname"),
            email: take("email"),
            phone: take("phone"),
            employee_number: take("employee_number"),
            department: take("department"),
            title: take("title"),
            disabled: false,
            groups: Vec::new(),
            employment: Some(Box::new(employment)),
            key,
        })
    }

    fn employment(&self, row: &Row) -> Result<Employment, String> {
        let status = match self.value(row, "status") {
            None => EmploymentStatus::Active,
            Some(v) => *self
                .statuses
                .get(&v.to_lowercase())
                .ok_or_else(|| format!("status {v:?} is not mapped in [sources.hr.status]"))?,
        };
        let (zone, zone_name) = match self.value(row, "time_zone") {
            Some(name) => (
                name.parse::<Tz>()
                    .map_err(|_| format!("time zone {name:?} is not an IANA time zone name"))?,
                name,
            ),
            None => (self.zone, self.zone_name.as_str()),
        };
        let moment = |field: &str| -> Result<Option<(Moment, &str)>, String> {
            self.value(row, field)
                .map(|v| {
                    parse_moment(v)
                        .map(|m| (m, v))
                        .map_err(|e| format!("{field} {e}"))
                })
                .transpose()
        };
        let start = moment("start_date")?;
        let last_day = moment("last_day_of_work")?;
        let termination = moment("termination_date")?;
        let starts_at = start.map(|(m, _)| m.start(zone));
        let start_note = start.map(|(_, v)| format!("{v} ({zone_name})"));
        let leave = |(m, v): (Moment, &str), what: &str| {
            let at = match self.leave_at {
                LeaveAt::EndOfDay => m.end(zone),
                LeaveAt::StartOfDay => m.start(zone),
            };
            (at, format!("{what} {v} ({zone_name})"))
        };
        let leaving = [
            last_day.map(|l| leave(l, "last day of work")),
            termination.map(|t| leave(t, "termination date")),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(at, _)| *at);
        let immediate = self
            .value(row, "termination_reason")
            .is_some_and(|r| self.immediate.contains(&r.to_lowercase()));
        Ok(Employment {
            status,
            starts_at,
            leaves_at: leaving.as_ref().map(|(at, _)| *at),
            start_note,
            leave_note: leaving.map(|(_, note)| note),
            immediate,
        })
    }
}

/// A date, or a moment the export gave in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Date(NaiveDate),
    /// A local date-time without offset: read in the person's zone.
    Local(NaiveDateTime),
    /// With an offset: taken as given (UTC here).
    Exact(NaiveDateTime),
}

impl Moment {
    /// The moment itself; a date's local 00:00.
    fn start(self, zone: Tz) -> NaiveDateTime {
        match self {
            Moment::Date(d) => local(zone, d.and_time(NaiveTime::MIN)),
            Moment::Local(t) => local(zone, t),
            Moment::Exact(t) => t,
        }
    }

    /// The moment itself; a date's end (local 00:00 of the next day).
    fn end(self, zone: Tz) -> NaiveDateTime {
        match self {
            Moment::Date(d) => {
                let next = d.succ_opt().unwrap_or(d);
                local(zone, next.and_time(NaiveTime::MIN))
            }
            other => other.start(zone),
        }
    }
}

/// A local time in `zone` as UTC: the earlier of two (a clock set back), and the first
/// moment after a gap (a clock set forward over midnight).
fn local(zone: Tz, t: NaiveDateTime) -> NaiveDateTime {
    let mut t = t;
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&t).earliest() {
            return at.naive_utc();
        }
        t += chrono::Duration::minutes(30);
    }
    t
}

fn parse_moment(v: &str) -> Result<Moment, String> {
    let v = v.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(Moment::Exact(t.naive_utc()));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Ok(Moment::Local(t));
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(v, f) {
            return Ok(Moment::Date(d));
        }
    }
    Err(format!(
        "{v:?} is not a date (YYYY-MM-DD) or a date-time (RFC 3339)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Phase;

    fn settings(extra: &str) -> HrSettings {
        let text = format!(
            r#"path = "x.csv"
time_zone = "Asia/Shanghai"
immediate_reasons = ["Misconduct"]
{extra}
[fields]
employee_id = "id"
given_name = "given"
family_name = "family"
email = "mail"
department = "dept"
nickname = "{{department}}-{{family_name}}{{given_name}}"
manager = "boss"
status = "status"
start_date = "start"
last_day_of_work = "last"
termination_date = "term"
termination_reason = "why"
time_zone = "tz"
"#
        );
        toml::from_str(&text).unwrap()
    }

    fn row(m: &Mapper, pairs: &[(&str, &str)]) -> Row {
        Row {
            line: 2,
            values: m
                .columns
                .iter()
                .map(|c| {
                    pairs
                        .iter()
                        .find(|(k, _)| k == c)
                        .map(|(_, v)| (*v).to_owned())
                })
                .collect(),
            broken: None,
        }
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_row_becomes_a_person() {
        let m = Mapper::new(&settings("")).unwrap();
        let r = m
            .person(&row(
                &m,
                &[
                    ("id", "E1001"),
                    ("given", "伟"),
                    ("family", "王"),
                    ("mail", "wei@example.com"),
                    ("dept", "售前"),
                    ("boss", "E1"),
                    ("status", "Active"),
                    ("start", "2027-01-04"),
                ],
            ))
            .unwrap();
        assert_eq!(r.key, "E1001");
        assert_eq!(r.user_name, "wei@example.com");
        assert_eq!(r.employee_number.as_deref(), Some("E1001"));
        assert_eq!(r.nickname.as_deref(), Some("售前-王伟"));
        assert_eq!(r.manager_dn.as_deref(), Some("E1"));
        let e = r.employment.unwrap();
        // Local midnight in Shanghai (UTC+8) is 16:00 the day before in UTC.
        assert_eq!(e.starts_at, Some(t("2027-01-03 16:00")));
        assert_eq!(e.start_note.as_deref(), Some("2027-01-04 (Asia/Shanghai)"));
    }

    #[test]
    fn leaving_is_the_earlier_date_at_the_end_of_the_day_east_and_west() {
        let m = Mapper::new(&settings("")).unwrap();
        let p = |tz: &str| {
            m.person(&row(
                &m,
                &[
                    ("id", "1"),
                    ("last", "2027-01-15"),
                    ("term", "2027-01-31"),
                    ("tz", tz),
                ],
            ))
            .unwrap()
            .employment
            .unwrap()
        };
        let east = p("Asia/Shanghai");
        assert_eq!(east.leaves_at, Some(t("2027-01-15 16:00")));
        assert_eq!(
            east.leave_note.as_deref(),
            Some("last day of work 2027-01-15 (Asia/Shanghai)")
        );
        let west = p("America/Los_Angeles");
        assert_eq!(west.leaves_at, Some(t("2027-01-16 08:00")));
        let m = Mapper::new(&settings("leave_at = \"start_of_day\"")).unwrap();
        let e = m
            .person(&row(&m, &[("id", "1"), ("term", "2027-01-15")]))
            .unwrap()
            .employment
            .unwrap();
        assert_eq!(e.leaves_at, Some(t("2027-01-14 16:00")));
    }

    #[test]
    fn a_dst_change_moves_the_utc_moment() {
        let m = Mapper::new(&settings("")).unwrap();
        let at = |date: &str| {
            m.person(&row(
                &m,
                &[("id", "1"), ("start", date), ("tz", "Europe/Berlin")],
            ))
            .unwrap()
            .employment
            .unwrap()
            .starts_at
            .unwrap()
        };
        // Berlin is UTC+1 in winter and UTC+2 in summer (clocks forward on 2027-03-28).
        assert_eq!(at("2027-03-28"), t("2027-03-27 23:00"));
        assert_eq!(at("2027-03-29"), t("2027-03-28 22:00"));
        // Havana moves its clocks at midnight: local 00:00 on 2027-03-14 does not exist.
        let havana = m
            .person(&row(
                &m,
                &[
                    ("id", "1"),
                    ("start", "2027-03-14"),
                    ("tz", "America/Havana"),
                ],
            ))
            .unwrap()
            .employment
            .unwrap()
            .starts_at
            .unwrap();
        assert_eq!(havana, t("2027-03-14 05:00"));
    }

    #[test]
    fn date_times_are_taken_as_given() {
        let m = Mapper::new(&settings("")).unwrap();
        let e = m
            .person(&row(
                &m,
                &[("id", "1"), ("term", "2027-01-15T18:00:00+08:00")],
            ))
            .unwrap()
            .employment
            .unwrap();
        assert_eq!(e.leaves_at, Some(t("2027-01-15 10:00")));
    }

    #[test]
    fn bad_rows_say_why() {
        let m = Mapper::new(&settings("")).unwrap();
        let e = |pairs: &[(&str, &str)]| m.person(&row(&m, pairs)).unwrap_err();
        assert_eq!(e(&[("mail", "x@example.com")]), "no employee id");
        assert!(
            e(&[("id", "1"), ("start", "13/01/2027")]).starts_with("start_date \"13/01/2027\"")
        );
        assert!(e(&[("id", "1"), ("tz", "Mars/Olympus")]).contains("Mars/Olympus"));
        assert!(e(&[("id", "1"), ("status", "Retired")]).contains("Retired"));
    }

    #[test]
    fn phases_over_time() {
        let m = Mapper::new(&settings("")).unwrap();
        let emp = |pairs: &[(&str, &str)]| m.person(&row(&m, pairs)).unwrap().employment.unwrap();
        let two_weeks = chrono::Duration::days(14);
        let hire = emp(&[("id", "1"), ("start", "2027-02-01")]);
        assert_eq!(
            hire.phase(t("2027-01-01 00:00"), two_weeks),
            Phase::TooEarly
        );
        assert_eq!(hire.phase(t("2027-01-20 00:00"), two_weeks), Phase::PreHire);
        assert_eq!(hire.phase(t("2027-01-31 16:00"), two_weeks), Phase::Working);
        let leaver = emp(&[
            ("id", "1"),
            ("status", "terminated"),
            ("last", "2027-01-15"),
        ]);
        assert_eq!(
            leaver.phase(t("2027-01-15 15:59"), two_weeks),
            Phase::Working
        );
        assert_eq!(leaver.phase(t("2027-01-15 16:00"), two_weeks), Phase::Left);
        let fired = emp(&[
            ("id", "1"),
            ("status", "terminated"),
            ("last", "2027-01-15"),
            ("why", "misconduct"),
        ]);
        assert_eq!(fired.phase(t("2027-01-01 00:00"), two_weeks), Phase::Left);
        let on_leave = emp(&[("id", "1"), ("status", "LOA")]);
        assert_eq!(
            on_leave.phase(t("2027-01-01 00:00"), two_weeks),
            Phase::OnLeave
        );
        let gone = emp(&[
            ("id", "1"),
            ("status", "Rescinded"),
            ("start", "2027-02-01"),
        ]);
        assert_eq!(
            gone.phase(t("2027-01-20 00:00"), two_weeks),
            Phase::Rescinded
        );
    }
}

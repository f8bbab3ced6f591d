//! Settings of the LDAP source: the config table as written (`deny_unknown_fields`, flavour
//! defaults filled in) and every check that needs no server, each error naming its key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::sources::SourceError;

/// Which kind of directory the source reads: decides the stable key, the defaults for the
/// filters and attribute names, and how "disabled" is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Flavour {
    /// OpenLDAP (or another RFC 4512 server): key `entryUUID`.
    #[default]
    #[serde(rename = "openldap")]
    OpenLdap,
    /// Microsoft Active Directory: key `objectGUID`; `userAccountControl` and
    /// `accountExpires` mark people disabled.
    #[serde(rename = "active_directory")]
    ActiveDirectory,
}

/// How incremental runs find what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Incremental {
    /// Active Directory: `usn`. Others: `syncrepl` when the server offers RFC 4533 content
    /// sync, otherwise `modify_timestamp`.
    #[default]
    Auto,
    /// RFC 4533 content sync (refreshOnly) with the cookie of the last applied run; sees
    /// deletions too.
    Syncrepl,
    /// Active Directory's `uSNChanged` with the domain controller's `invocationId`.
    Usn,
    /// `modifyTimestamp` at or after the previous run's start.
    ModifyTimestamp,
}

impl Incremental {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Incremental::Auto => "auto",
            Incremental::Syncrepl => "syncrepl",
            Incremental::Usn => "usn",
            Incremental::ModifyTimestamp => "modify_timestamp",
        }
    }
}

impl Flavour {
    fn default_user_filter(self) -> &'static str {
        match self {
            Flavour::OpenLdap => "(objectClass=inetOrgPerson)",
            Flavour::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))",
        }
    }

    fn default_group_filter(self) -> &'static str {
        match self {
            Flavour::OpenLdap => "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            Flavour::ActiveDirectory => "(objectClass=group)",
        }
    }

    /// The attribute holding each entry's stable key.
    pub(super) fn key_attribute(self) -> &'static str {
        match self {
            Flavour::OpenLdap => "entryUUID",
            Flavour::ActiveDirectory => "objectGUID",
        }
    }
}

/// Directory attribute names for each field of a record. `None` leaves the field empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// Holds the manager's DN.
    pub manager: Option<String>,
}

impl AttributeMap {
    /// The usual attribute names of a flavour.
    pub fn defaults(flavour: Flavour) -> AttributeMap {
        let some = |s: &str| Some(s.to_owned());
        let common = AttributeMap {
            user_name: "uid".into(),
            given_name: some("givenName"),
            family_name: some("sn"),
            display_name: some("displayName"),
            nickname: None,
            email: some("mail"),
            phone: some("telephoneNumber"),
            employee_number: some("employeeNumber"),
            department: some("departmentNumber"),
            title: some("title"),
            manager: some("manager"),
        };
        match flavour {
            Flavour::OpenLdap => common,
            Flavour::ActiveDirectory => AttributeMap {
                user_name: "sAMAccountName".into(),
                employee_number: some("employeeID"),
                department: some("department"),
                ..common
            },
        }
    }

    /// Every mapped attribute with the field it feeds, in field order.
    pub(super) fn fields(&self) -> [(Field, Option<&str>); 11] {
        [
            (Field::UserName, Some(self.user_name.as_str())),
            (Field::GivenName, self.given_name.as_deref()),
            (Field::FamilyName, self.family_name.as_deref()),
            (Field::DisplayName, self.display_name.as_deref()),
            (Field::Nickname, self.nickname.as_deref()),
            (Field::Email, self.email.as_deref()),
            (Field::Phone, self.phone.as_deref()),
            (Field::EmployeeNumber, self.employee_number.as_deref()),
            (Field::Department, self.department.as_deref()),
            (Field::Title, self.title.as_deref()),
            (Field::Manager, self.manager.as_deref()),
        ]
    }
}

/// A record field that an attribute can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    UserName,
    GivenName,
    FamilyName,
    DisplayName,
    Nickname,
    Email,
    Phone,
    EmployeeNumber,
    Department,
    Title,
    Manager,
}

impl Field {
    /// The settings key naming this field's attribute.
    pub(super) fn key(self) -> &'static str {
        match self {
            Field::UserName => "user_name",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DisplayName => "display_name",
            Field::Nickname => "nickname",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::EmployeeNumber => "employee_number",
            Field::Department => "department",
            Field::Title => "title",
            Field::Manager => "manager",
        }
    }
}

/// How to read one LDAP directory. Deserialized from the source's config table; fields left
/// out take the defaults of the `flavour`.
#[derive(Clone, Deserialize)]
#[serde(try_from = "SettingsFile")]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    pub starttls: bool,
    /// PEM file with the CA certificate(s) trusted for ldaps/StartTLS; the system's roots
    /// when unset.
    pub ca_file: Option<PathBuf>,
    pub bind_dn: Option<String>,
    pub bind_password: Option<String>,
    pub base_dn: String,
    /// Which entries under `base_dn` are people.
    pub user_filter: String,
    pub flavour: Flavour,
    /// Extra filter marking people disabled, e.g. `(pwdAccountLockedTime=*)`; evaluated by
    /// the server.
    pub disabled_filter: Option<String>,
    /// Where groups live (default `base_dn`); read once per fetch to resolve nested groups.
    pub group_base_dn: Option<String>,
    /// Which entries under the group base are groups.
    pub group_filter: String,
    /// Entries per page of a paged search (RFC 2696). 0 turns paging off (only for servers
    /// without it; the server's size limit then applies and a cut search is an error).
    pub page_size: i32,
    /// Limit for connecting and for each answer from the server.
    pub timeout_secs: u64,
    pub attributes: AttributeMap,
    /// How incremental runs find changes.
    pub incremental: Incremental,
}

impl fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("flavour", &self.flavour)
            .field("disabled_filter", &self.disabled_filter)
            .field("group_base_dn", &self.group_base_dn)
            .field("group_filter", &self.group_filter)
            .field("page_size", &self.page_size)
            .field("timeout_secs", &self.timeout_secs)
            .field("attributes", &self.attributes)
            .field("incremental", &self.incremental)
            .finish()
    }
}

/// The settings as written in the config file, before flavour defaults are filled in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    url: String,
    #[serde(default)]
    starttls: bool,
    ca_file: Option<PathBuf>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    base_dn: String,
    user_filter: Option<String>,
    #[serde(default)]
    flavour: Flavour,
    disabled_filter: Option<String>,
    group_base_dn: Option<String>,
    group_filter: Option<String>,
    #[serde(default = "default_page_size")]
    page_size: i32,
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
    #[serde(default)]
    attributes: AttributeNames,
    #[serde(default)]
    incremental: Incremental,
}

fn default_page_size() -> i32 {
    500
}

fn default_timeout_secs() -> u64 {
    30
}

/// Attribute names given in the config; an empty string un-maps a field.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AttributeNames {
    user_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    nickname: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    employee_number: Option<String>,
    department: Option<String>,
    title: Option<String>,
    manager: Option<String>,
}

impl AttributeNames {
    fn over(self, defaults: AttributeMap) -> AttributeMap {
        fn pick(given: Option<String>, default: Option<String>) -> Option<String> {
            match given {
                Some(name) if name.trim().is_empty() => None,
                Some(name) => Some(name.trim().to_owned()),
                None => default,
            }
        }
        AttributeMap {
            user_name: self
                .user_name
                .map(|n| n.trim().to_owned())
                .unwrap_or(defaults.user_name),
            given_name: pick(self.given_name, defaults.given_name),
            family_name: pick(self.family_name, defaults.family_name),
            display_name: pick(self.display_name, defaults.display_name),
            nickname: pick(self.nickname, defaults.nickname),
            email: pick(self.email, defaults.email),
            phone: pick(self.phone, defaults.phone),
            employee_number: pick(self.employee_number, defaults.employee_number),
            department: pick(self.department, defaults.department),
            title: pick(self.title, defaults.title),
            manager: pick(self.manager, defaults.manager),
        }
    }
}

impl TryFrom<SettingsFile> for LdapSettings {
    type Error = String;

    fn try_from(file: SettingsFile) -> Result<Self, String> {
        let flavour = file.flavour;
        let settings = LdapSettings {
            url: file.url,
            starttls: file.starttls,
            ca_file: file.ca_file,
            bind_dn: file.bind_dn,
            bind_password: file.bind_password,
            base_dn: file.base_dn,
            user_filter: file
                .user_filter
                .unwrap_or_else(|| flavour.default_user_filter().to_owned()),
            flavour,
            disabled_filter: file.disabled_filter,
            group_base_dn: file.group_base_dn,
            group_filter: file
                .group_filter
                .unwrap_or_else(|| flavour.default_group_filter().to_owned()),
            page_size: file.page_size,
            timeout_secs: file.timeout_secs,
            attributes: file.attributes.over(AttributeMap::defaults(flavour)),
            incremental: file.incremental,
        };
        match settings.validate() {
            Ok(()) => Ok(settings),
            Err(SourceError::Config(msg)) => Err(msg),
            Err(other) => Err(other.to_string()),
        }
    }
}

impl LdapSettings {
    /// Settings with the defaults of `flavour`: anonymous bind, no TLS, page size 500,
    /// timeout 30 s.
    pub fn new(url: impl Into<String>, base_dn: impl Into<String>, flavour: Flavour) -> Self {
        LdapSettings {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            base_dn: base_dn.into(),
            user_filter: flavour.default_user_filter().to_owned(),
            flavour,
            disabled_filter: None,
            group_base_dn: None,
            group_filter: flavour.default_group_filter().to_owned(),
            page_size: default_page_size(),
            timeout_secs: default_timeout_secs(),
            attributes: AttributeMap::defaults(flavour),
            incremental: Incremental::Auto,
        }
    }

    /// Checks everything that can be checked without the server. Each message names the
    /// settings key at fault.
    pub fn validate(&self) -> Result<(), SourceError> {
        let bad = |msg: String| Err(SourceError::Config(msg));
        let tls = match check_url(&self.url) {
            Ok(tls) => tls,
            Err(msg) => return bad(format!("url: {msg}")),
        };
        if self.starttls && tls {
            return bad("starttls: cannot be combined with an ldaps:// url".into());
        }
        if self.ca_file.is_some() && !tls && !self.starttls {
            return bad(
                "ca_file: the connection is not encrypted; use an ldaps:// url or starttls = true"
                    .into(),
            );
        }
        match (&self.bind_dn, &self.bind_password) {
            (Some(dn), _) if dn.trim().is_empty() => {
                return bad("bind_dn: empty; leave it out for an anonymous bind".into());
            }
            (Some(_), None) => return bad("bind_password: required with bind_dn".into()),
            // A simple bind with a DN and an empty password is an unauthenticated bind
            // (RFC 4513 5.1.2): servers accept it as anonymous, which would hide a missing
            // secret.
            (Some(_), Some(pw)) if pw.is_empty() => {
                return bad("bind_password: empty (an empty password binds anonymously)".into());
            }
            (None, Some(_)) => return bad("bind_password: set without bind_dn".into()),
            _ => {}
        }
        if self.base_dn.trim().is_empty() {
            return bad("base_dn: empty".into());
        }
        if let Some(dn) = &self.group_base_dn
            && dn.trim().is_empty()
        {
            return bad("group_base_dn: empty; leave it out to use base_dn".into());
        }
        check_filter("user_filter", &self.user_filter)?;
        check_filter("group_filter", &self.group_filter)?;
        if let Some(filter) = &self.disabled_filter {
            check_filter("disabled_filter", filter)?;
        }
        if self.page_size < 0 {
            return bad("page_size: must be 0 (no paging) or more".into());
        }
        match (self.flavour, self.incremental) {
            (Flavour::ActiveDirectory, Incremental::Syncrepl) => {
                return bad(
                    "incremental: Active Directory has no RFC 4533 content sync; use \"usn\""
                        .into(),
                );
            }
            (Flavour::OpenLdap, Incremental::Usn) => {
                return bad(
                    "incremental: \"usn\" is for Active Directory (flavour = \"active_directory\")"
                        .into(),
                );
            }
            _ => {}
        }
        if self.timeout_secs == 0 || self.timeout_secs > 3600 {
            return bad("timeout_secs: must be between 1 and 3600".into());
        }
        for (field, name) in self.attributes.fields() {
            if let Some(name) = name
                && !is_attribute_name(name)
            {
                return bad(format!(
                    "attributes.{}: {name:?} is not an attribute name",
                    field.key()
                ));
            }
        }
        Ok(())
    }

    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub(super) fn group_base(&self) -> &str {
        self.group_base_dn.as_deref().unwrap_or(&self.base_dn)
    }
}

/// Checks an LDAP URL; returns whether it is ldaps.
fn check_url(raw: &str) -> Result<bool, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    let tls = match url.scheme() {
        "ldap" => false,
        "ldaps" => true,
        other => return Err(format!("scheme {other:?}: use ldap:// or ldaps://")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials belong in bind_dn and bind_password, not in the URL".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?}: give only scheme, host and port; base and filter have their own keys"
        ));
    }
    Ok(tls)
}

fn check_filter(key: &str, filter: &str) -> Result<(), SourceError> {
    match ldap3::parse_filter(filter) {
        Ok(_) => Ok(()),
        Err(_) => Err(SourceError::Config(format!(
            "{key}: {filter:?} is not a valid LDAP filter"
        ))),
    }
}

/// An attribute description: a name or numeric OID, options after `;`.
fn is_attribute_name(name: &str) -> bool {
    let mut parts = name.split(';');
    let Some(base) = parts.next() else {
        return false;
    };
    let keystring = base.starts_with(|c: char| c.is_ascii_alphabetic())
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !base.is_empty()
        && base
            .split('.')
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    (keystring || oid)
        && parts.all(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<LdapSettings, String> {
        toml::from_str::<LdapSettings>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_flavour() {
        let s = from_toml(
            "url = \"ldap://dc1:389\"\nbase_dn = \"dc=corp\"\nflavour = \"active_directory\"\n",
        )
        .unwrap();
        assert_eq!(s.flavour, Flavour::ActiveDirectory);
        assert_eq!(
            s.user_filter,
            "(&(objectCategory=person)(objectClass=user))"
        );
        assert_eq!(s.attributes.user_name, "sAMAccountName");
        assert_eq!(s.attributes.employee_number.as_deref(), Some("employeeID"));
        assert_eq!(s.page_size, 500);
        assert_eq!(s.timeout_secs, 30);

        let s = from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\n").unwrap();
        assert_eq!(s.flavour, Flavour::OpenLdap);
        assert_eq!(s.user_filter, "(objectClass=inetOrgPerson)");
        assert_eq!(s.attributes.user_name, "uid");
        assert_eq!(s.attributes.nickname, None);
    }

    #[test]
    fn attribute_overrides_and_unmapping() {
        let s = from_toml(
            "url = \"ldap://h\"\nbase_dn = \"dc=x\"\n[attributes]\nnickname = \"cn\"\nphone = \"\"\n",
        )
        .unwrap();
        assert_eq!(s.attributes.nickname.as_deref(), Some("cn"));
        assert_eq!(s.attributes.phone, None);
        assert_eq!(s.attributes.email.as_deref(), Some("mail"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\nbase = \"y\"\n").unwrap_err();
        assert!(err.contains("base"), "{err}");
        let err = from_toml("url = \"http://h\"\nbase_dn = \"dc=x\"\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
        let err = from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\nuser_filter = \"(uid=a\"\n")
            .unwrap_err();
        assert!(err.contains("user_filter"), "{err}");
        let err =
            from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\n[attributes]\nemail = \"m a\"\n")
                .unwrap_err();
        assert!(err.contains("attributes.email"), "{err}");
        let err =
            from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\nbind_dn = \"cn=a\"\n").unwrap_err();
        assert!(err.contains("bind_password"), "{err}");
        let err = from_toml(
            "url = \"ldap://h\"\nbase_dn = \"dc=x\"\nbind_dn = \"cn=a\"\nbind_password = \"\"\n",
        )
        .unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\nca_file = \"/x.pem\"\n")
            .unwrap_err();
        assert!(err.contains("ca_file"), "{err}");
        let err =
            from_toml("url = \"ldaps://h\"\nbase_dn = \"dc=x\"\nstarttls = true\n").unwrap_err();
        assert!(err.contains("starttls"), "{err}");
        let err = from_toml("url = \"ldap://h/dc=x?uid\"\nbase_dn = \"dc=x\"\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
        let err =
            from_toml("url = \"ldap://h\"\nbase_dn = \"dc=x\"\npage_size = -1\n").unwrap_err();
        assert!(err.contains("page_size"), "{err}");
        let err = from_toml("url = \"ldap:h\"\nbase_dn = \"dc=x\"\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let mut s = LdapSettings::new("ldap://h", "dc=x", Flavour::OpenLdap);
        s.bind_dn = Some("cn=reader,dc=x".into());
        s.bind_password = Some("hunter2-very-secret".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn attribute_names() {
        for ok in [
            "uid",
            "sAMAccountName",
            "x-custom-1",
            "2.5.4.3",
            "displayName;lang-en",
        ] {
            assert!(is_attribute_name(ok), "{ok}");
        }
        for bad in ["", "1uid", "m a", "uid;", "2..5", "a,b", "(uid)", "uid=x"] {
            assert!(!is_attribute_name(bad), "{bad}");
        }
    }
}

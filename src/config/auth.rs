//! The `[auth]` section: how agents' passwords are hashed (`[auth.argon2]`), which password
//! policy applies to whom (`[auth.password_policy]` with its `nist` and `classic` profiles and
//! the admin's blocklist), and the MFA settings (`[auth.mfa]`: the key TOTP secrets are sealed
//! with, its predecessors, the roles that must use MFA). Checked at load time.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub argon2: Argon2Config,
    pub password_policy: PasswordPolicyConfig,
    pub mfa: MfaConfig,
    pub links: LinksConfig,
    pub new_agents: NewAgentsConfig,
}

/// `[auth.argon2]`: argon2id's cost and the pool every hash runs on.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory per hash, in KiB (OWASP: 19456 = 19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Most hashes computed at once; unset means half the CPUs (at least 1).
    pub workers: Option<usize>,
    /// Most hashes waiting for a worker; a hash asked for past that fails at once as busy.
    pub queue: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Argon2Config {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            workers: None,
            queue: 32,
        }
    }
}

impl Argon2Config {
    /// The number of hashing workers in force.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / 2).max(1)
        })
    }
}

/// A password policy profile.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PolicyProfile {
    /// NIST SP 800-63B: length and a blocklist, no composition rules, no expiry.
    Nist,
    /// Length, character classes, expiry and history.
    Classic,
}

impl PolicyProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyProfile::Nist => "nist",
            PolicyProfile::Classic => "classic",
        }
    }
}

/// `[auth.password_policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicyConfig {
    /// The profile of every role not named in `roles`.
    pub profile: PolicyProfile,
    /// Profile per role name (`roles = { admin = "classic" }`).
    pub roles: BTreeMap<String, PolicyProfile>,
    /// Longest password accepted, in characters (at least 64), for both profiles.
    pub max_length: usize,
    /// Further refused passwords, one per line, besides the shipped list of common
    /// passwords. Usually given as `blocklist_file` (a path, read at start-up like every
    /// `_file` key: an unreadable file is a configuration error).
    pub blocklist: Option<String>,
    pub nist: NistConfig,
    pub classic: ClassicConfig,
}

impl Default for PasswordPolicyConfig {
    fn default() -> Self {
        PasswordPolicyConfig {
            profile: PolicyProfile::Nist,
            roles: BTreeMap::new(),
            max_length: 128,
            blocklist: None,
            nist: NistConfig::default(),
            classic: ClassicConfig::default(),
        }
    }
}

/// `[auth.password_policy.nist]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NistConfig {
    /// Shortest password of an agent who signs in with a password alone.
    pub min_length: usize,
    /// Shortest password of an agent who also uses a second factor.
    pub min_length_with_mfa: usize,
}

impl Default for NistConfig {
    fn default() -> Self {
        NistConfig {
            min_length: 15,
            min_length_with_mfa: 8,
        }
    }
}

/// A character class of the `classic` profile.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CharClass {
    Upper,
    Lower,
    Digit,
    Symbol,
}

impl CharClass {
    pub fn describe(self) -> &'static str {
        match self {
            CharClass::Upper => "an upper-case letter",
            CharClass::Lower => "a lower-case letter",
            CharClass::Digit => "a digit",
            CharClass::Symbol => "a symbol",
        }
    }
}

/// `[auth.password_policy.classic]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassicConfig {
    pub min_length: usize,
    /// The classes that count.
    pub classes: Vec<CharClass>,
    /// How many of `classes` a password must contain.
    pub min_classes: usize,
    /// Days after which a password expires (0: never).
    pub expire_days: u32,
    /// Days before expiry from which the agent is warned.
    pub warn_days: u32,
    /// How many previous passwords may not be used again (0: any).
    pub history: usize,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        ClassicConfig {
            min_length: 12,
            classes: vec![
                CharClass::Upper,
                CharClass::Lower,
                CharClass::Digit,
                CharClass::Symbol,
            ],
            min_classes: 3,
            expire_days: 90,
            warn_days: 14,
            history: 5,
        }
    }
}

/// `[auth.mfa]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// The key MFA secrets are sealed with: 32 bytes as base64 or hex (better: `key_file`).
    pub key: Option<String>,
    /// Keys used before `key`, still accepted to open secrets sealed with them.
    pub old_keys: KeyList,
    /// Roles whose agents must use a second factor.
    pub required_roles: Vec<String>,
    /// The issuer shown by authenticator apps.
    pub issuer: String,
    /// How many recovery codes an agent is given.
    pub recovery_codes: usize,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            key: None,
            old_keys: KeyList::default(),
            required_roles: Vec::new(),
            issuer: "Rollcall".into(),
            recovery_codes: 10,
        }
    }
}

/// A list of keys: a TOML array, or one string of keys separated by white space (what
/// `old_keys_file` gives: a file with a key per line).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(from = "KeyListForm")]
pub struct KeyList(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyListForm {
    List(Vec<String>),
    Text(String),
}

impl From<KeyListForm> for KeyList {
    fn from(form: KeyListForm) -> Self {
        match form {
            KeyListForm::List(keys) => KeyList(keys),
            KeyListForm::Text(text) => KeyList(text.split_whitespace().map(String::from).collect()),
        }
    }
}

/// `[auth.links]`: the one-time links that let an agent choose a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    /// Where a link sends the agent, with `{token}` where the token goes. Unset: Rollcall's
    /// own page, `<mail.public_url>/password#token={token}` (the token after `#` never
    /// reaches a server's log).
    pub url: Option<String>,
    /// How long an activation link works.
    pub activation_ttl_hours: u32,
    /// How long a password-reset link works.
    pub reset_ttl_minutes: u32,
    /// Fewest seconds between two self-service reset mails to one agent.
    pub reset_interval_secs: u64,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            url: None,
            activation_ttl_hours: 72,
            reset_ttl_minutes: 60,
            reset_interval_secs: 60,
        }
    }
}

/// What a new agent created without a password gets.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FirstPassword {
    /// A one-time link by mail (when the agent has an email) to choose a password.
    ActivationLink,
    /// A random password shown once to the admin who created the agent, to be changed at
    /// the first sign-in (the admin API only).
    InitialPassword,
    /// Nothing: an admin resets the password later.
    None,
}

impl FirstPassword {
    pub fn as_str(self) -> &'static str {
        match self {
            FirstPassword::ActivationLink => "activation_link",
            FirstPassword::InitialPassword => "initial_password",
            FirstPassword::None => "none",
        }
    }
}

/// `[auth.new_agents]`: per door, what a new agent without a password gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewAgentsConfig {
    /// For agents created by an admin, an import or SCIM.
    pub first_password: FirstPassword,
    /// Per door (`admin`, `import`, `scim`, `scim:<token name>`, `ldap` for every directory,
    /// or a sync source's tag such as `ldap:corp`). Sync sources not named get `none`.
    pub doors: BTreeMap<String, FirstPassword>,
}

impl Default for NewAgentsConfig {
    fn default() -> Self {
        NewAgentsConfig {
            first_password: FirstPassword::ActivationLink,
            doors: BTreeMap::new(),
        }
    }
}

impl NewAgentsConfig {
    /// What an agent created through `source` (`admin`, `scim:<token>`, `ldap:corp`)
    /// without a password gets: the source's own entry, else its kind's (`scim`, `ldap`).
    pub fn for_door(&self, source: &str) -> FirstPassword {
        let kind = source.split(':').next().unwrap_or(source);
        match self.doors.get(source).or_else(|| self.doors.get(kind)) {
            Some(m) => *m,
            None if matches!(kind, "admin" | "import" | "scim") => self.first_password,
            None => FirstPassword::None,
        }
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let a = &self.argon2;
        if a.memory_kib < 8 * a.parallelism.max(1) || a.iterations == 0 || a.parallelism == 0 {
            return invalid(format!(
                "auth.argon2: memory_kib ({}) must be at least 8 × parallelism, iterations \
                 and parallelism at least 1",
                a.memory_kib
            ));
        }
        if a.workers == Some(0) {
            return invalid("auth.argon2.workers must be at least 1 (or unset)".into());
        }
        let p = &self.password_policy;
        if p.max_length < 64 {
            return invalid(format!(
                "auth.password_policy.max_length must be at least 64 (is {})",
                p.max_length
            ));
        }
        if p.nist.min_length_with_mfa == 0 || p.nist.min_length < p.nist.min_length_with_mfa {
            return invalid(
                "auth.password_policy.nist: min_length_with_mfa must be at least 1 and at most \
                 min_length"
                    .into(),
            );
        }
        if p.nist.min_length > p.max_length || p.classic.min_length > p.max_length {
            return invalid("auth.password_policy: a min_length is above max_length".into());
        }
        let c = &p.classic;
        let mut classes = c.classes.clone();
        classes.sort();
        classes.dedup();
        if classes.len() != c.classes.len() || c.min_classes > c.classes.len() {
            return invalid(format!(
                "auth.password_policy.classic: min_classes ({}) must be at most the number of \
                 classes listed, each listed once",
                c.min_classes
            ));
        }
        if c.expire_days > 0 && c.warn_days >= c.expire_days {
            return invalid(
                "auth.password_policy.classic.warn_days must be less than expire_days".into(),
            );
        }
        let l = &self.links;
        if let Some(url) = &l.url
            && (!url.contains("{token}")
                || !(url.starts_with("https://") || url.starts_with("http://")))
        {
            return invalid(format!(
                "auth.links.url must be an http(s) URL with {{token}} in it (is {url:?})"
            ));
        }
        if l.activation_ttl_hours == 0 || l.reset_ttl_minutes == 0 {
            return invalid(
                "auth.links: activation_ttl_hours and reset_ttl_minutes must be at least 1".into(),
            );
        }
        let n = &self.new_agents;
        for (door, m) in n.doors.iter().map(|(d, m)| (d.as_str(), *m)).chain([(
            "an import or SCIM (set doors.admin instead)",
            n.first_password,
        )]) {
            if m == FirstPassword::InitialPassword && door != "admin" {
                return invalid(format!(
                    "auth.new_agents: initial_password is for the admin door only (nobody \
                     would see the password of an agent created by {door})"
                ));
            }
        }
        let m = &self.mfa;
        if let Some(key) = &m.key {
            crate::credentials::sealed::parse_key(key)
                .map_err(|e| ConfigError::Invalid(format!("auth.mfa.key: {e}")))?;
        }
        for (i, key) in m.old_keys.0.iter().enumerate() {
            crate::credentials::sealed::parse_key(key)
                .map_err(|e| ConfigError::Invalid(format!("auth.mfa.old_keys[{i}]: {e}")))?;
        }
        if m.key.is_none() && !m.old_keys.0.is_empty() {
            return invalid("auth.mfa.old_keys needs auth.mfa.key (the current key)".into());
        }
        if m.key.is_none() && !m.required_roles.is_empty() {
            return invalid(
                "auth.mfa.required_roles needs auth.mfa.key (MFA secrets are sealed with it)"
                    .into(),
            );
        }
        if m.issuer.trim().is_empty() || m.issuer.contains(':') {
            return invalid("auth.mfa.issuer must be non-empty and hold no ':'".into());
        }
        if m.recovery_codes == 0 || m.recovery_codes > 100 {
            return invalid("auth.mfa.recovery_codes must be between 1 and 100".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<AuthConfig, ConfigError> {
        let c: AuthConfig =
            toml::from_str(toml).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn the_first_password_is_chosen_per_door() {
        let c = parse(
            r#"
[new_agents]
first_password = "none"
doors = { admin = "initial_password", scim = "activation_link", "scim:okta" = "none", "ldap:corp" = "activation_link" }
"#,
        )
        .expect("valid");
        let n = &c.new_agents;
        assert_eq!(n.for_door("admin"), FirstPassword::InitialPassword);
        assert_eq!(n.for_door("import"), FirstPassword::None);
        assert_eq!(n.for_door("scim:entra"), FirstPassword::ActivationLink);
        assert_eq!(n.for_door("scim:okta"), FirstPassword::None);
        assert_eq!(n.for_door("ldap:corp"), FirstPassword::ActivationLink);
        assert_eq!(n.for_door("ldap:other"), FirstPassword::None);
        let d = AuthConfig::default().new_agents;
        assert_eq!(d.for_door("scim:entra"), FirstPassword::ActivationLink);
        assert_eq!(d.for_door("ldap:corp"), FirstPassword::None);
    }

    #[test]
    fn an_initial_password_is_for_the_admin_door_only() {
        for toml in [
            "[new_agents]\nfirst_password = \"initial_password\"\n",
            "[new_agents]\ndoors = { scim = \"initial_password\" }\n",
        ] {
            let e = parse(toml).expect_err(toml);
            assert!(e.to_string().contains("initial_password"), "{e}");
        }
        for toml in [
            "[links]\nurl = \"https://chat.example.com/set\"\n",
            "[links]\nreset_ttl_minutes = 0\n",
        ] {
            assert!(parse(toml).is_err(), "{toml}");
        }
    }
}

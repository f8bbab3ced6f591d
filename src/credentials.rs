//! Credential building blocks with no HTTP and no tables of their own: argon2id password
//! hashing on a bounded pool (`hashing`), password policies (`policy`, with the `blocklist`
//! of common passwords), TOTP (`totp`) and recovery codes (`recovery`) for a second factor,
//! and secrets sealed at rest (`sealed`). [`Credentials`] holds them as `[auth]` configures
//! them. See docs/credentials.md.

pub mod blocklist;
pub mod hashing;
pub mod policy;
pub mod recovery;
pub mod sealed;
pub mod totp;

use crate::config::{AuthConfig, ConfigError};

/// Everything `[auth]` configures, built once at start-up.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub hasher: hashing::Hasher,
    pub policies: policy::Policies,
    /// `None` when `auth.mfa.key` is not set (no second factor can be enrolled).
    pub sealer: Option<std::sync::Arc<sealed::Sealer>>,
    pub totp: totp::Totp,
    /// The issuer shown by authenticator apps.
    pub issuer: String,
    /// Recovery codes given per agent.
    pub recovery_codes: usize,
    mfa_required_roles: Vec<String>,
}

impl Credentials {
    /// Builds the pool (computing the dummy hash: call it off the async workers), the
    /// policies with the admin's blocklist, and the sealer.
    pub fn from_config(auth: &AuthConfig) -> Result<Credentials, ConfigError> {
        let hasher = hashing::Hasher::from_config(&auth.argon2)
            .map_err(|e| ConfigError::Invalid(format!("auth.argon2: {e}")))?;
        let sealer = sealed::Sealer::from_config(&auth.mfa).map_err(ConfigError::Invalid)?;
        Ok(Credentials {
            hasher,
            policies: policy::Policies::from_config(&auth.password_policy),
            sealer: sealer.map(std::sync::Arc::new),
            totp: totp::Totp::default(),
            issuer: auth.mfa.issuer.clone(),
            recovery_codes: auth.mfa.recovery_codes,
            mfa_required_roles: auth.mfa.required_roles.clone(),
        })
    }

    /// Whether agents of `role` must use a second factor.
    pub fn mfa_required(&self, role: &str) -> bool {
        self.mfa_required_roles.iter().any(|r| r == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn built_from_the_auth_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("mfa.key");
        std::fs::write(&key, format!("{}\n", hex::encode([3u8; 32]))).expect("write");
        let list = dir.path().join("blocklist.txt");
        std::fs::write(&list, "Rollcall-Support\n").expect("write");
        let toml = format!(
            r#"
[auth.argon2]
memory_kib = 256
iterations = 1
workers = 2
queue = 4
[auth.password_policy]
profile = "nist"
roles = {{ admin = "classic" }}
blocklist_file = {list:?}
[auth.password_policy.classic]
history = 3
[auth.mfa]
key_file = {key:?}
old_keys = ["{old}"]
required_roles = ["admin"]
issuer = "Acme Support"
"#,
            list = list.display().to_string(),
            key = key.display().to_string(),
            old = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [4u8; 32]),
        );
        let config = Config::from_parts(&toml, Vec::new()).expect("config");
        let c = Credentials::from_config(&config.auth).expect("credentials");
        assert_eq!(c.hasher.cost().memory_kib, 256);
        assert_eq!(
            c.policies.profile_for("admin"),
            crate::config::PolicyProfile::Classic
        );
        assert!(c.policies.blocklist().contains("rollcall-support"));
        assert!(c.mfa_required("admin") && !c.mfa_required("agent"));
        let sealer = c.sealer.as_ref().expect("sealer");
        assert_eq!(sealer.current_key_id(), sealed::key_id(&[3u8; 32]));
        let old = sealed::Sealer::new(&[4u8; 32], &[]).seal("a", b"s");
        assert_eq!(sealer.open("a", &old).expect("old key opens"), b"s");
        assert_eq!(c.issuer, "Acme Support");
        assert_eq!(c.recovery_codes, 10);
    }

    #[test]
    fn defaults_need_no_auth_section() {
        let config = Config::from_parts("", Vec::new()).expect("config");
        assert_eq!(config.auth.argon2.memory_kib, 19456);
        assert_eq!(config.auth.password_policy.max_length, 128);
        assert_eq!(config.auth.password_policy.nist.min_length, 15);
        let c = Credentials::from_config(&config.auth).expect("credentials");
        assert!(c.sealer.is_none());
        assert_eq!(c.totp, totp::Totp::default());
    }

    #[test]
    fn bad_auth_settings_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.txt").display().to_string();
        for (toml, wrong) in [
            ("[auth.mfa]\nkey = \"c2hvcnQ=\"\n", "auth.mfa.key"),
            (
                "[auth.mfa]\nkey = \"zz\"\n",
                "must be 32 bytes as base64 or as 64 hex digits",
            ),
            (
                &format!(
                    "[auth.mfa]\nkey = \"{}\"\nold_keys = [\"x\"]\n",
                    "ab".repeat(32)
                ),
                "auth.mfa.old_keys[0]",
            ),
            (
                "[auth.mfa]\nrequired_roles = [\"admin\"]\n",
                "required_roles",
            ),
            ("[auth.password_policy]\nmax_length = 32\n", "max_length"),
            ("[auth.password_policy]\nprofile = \"strict\"\n", "strict"),
            (
                &format!("[auth.password_policy]\nblocklist_file = {missing:?}\n"),
                "blocklist_file",
            ),
            (
                "[auth.password_policy.classic]\nmin_classes = 5\n",
                "min_classes",
            ),
            (
                "[auth.password_policy.classic]\nclasses = [\"emoji\"]\n",
                "emoji",
            ),
            (
                "[auth.password_policy.classic]\nexpire_days = 10\nwarn_days = 10\n",
                "warn_days",
            ),
            (
                "[auth.password_policy.nist]\nmin_length = 6\n",
                "min_length_with_mfa",
            ),
            ("[auth.argon2]\niterations = 0\n", "auth.argon2"),
            ("[auth.argon2]\nworkers = 0\n", "workers"),
            ("[auth.argon2]\nmemory = 1\n", "memory"),
        ] {
            let msg = Config::from_parts(toml, Vec::new())
                .expect_err(toml)
                .to_string();
            assert!(msg.contains(wrong), "{toml}: {msg}");
        }
        // A string where a table belongs is refused.
        let env = vec![("ROLLCALL_AUTH_MFA".to_owned(), "x".to_owned())];
        assert!(Config::from_parts("", env).is_err(), "unknown key named");
    }
}

//! Tests of the password policies: every rule of both profiles, by name.

use chrono::NaiveDate;

use super::*;
use crate::credentials::hashing::Cost;

fn policies(config: PasswordPolicyConfig) -> Policies {
    Policies::new(&config, Blocklist::with_own("acme-support-2026\n"))
}

fn rules(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|v| v.rule).collect()
}

fn candidate(password: &str) -> Candidate<'_> {
    Candidate {
        password,
        user_name: "lea.martin",
        email: Some("lmartin@example.com"),
        has_mfa: false,
    }
}

#[test]
fn nist_lengths_depend_on_mfa_and_count_characters() {
    let p = policies(PasswordPolicyConfig::default());
    let nist = PolicyProfile::Nist;
    let short = p.check(nist, &candidate("violet harbour"));
    assert_eq!(rules(&short), ["min_length"]);
    assert_eq!(
        short[0].message,
        "at least 15 characters (8 with a second factor)"
    );
    assert!(p.check(nist, &candidate("violet harbours")).is_empty());
    let with_mfa = Candidate {
        has_mfa: true,
        ..candidate("kettle#9")
    };
    assert!(p.check(nist, &with_mfa).is_empty());
    let too_short = Candidate {
        has_mfa: true,
        ..candidate("kettle9")
    };
    let v = p.check(nist, &too_short);
    assert_eq!(rules(&v), ["min_length"]);
    assert_eq!(v[0].message, "at least 8 characters");
    // 15 Chinese characters are 15 characters (45 bytes); 14 are too few.
    assert!(
        p.check(nist, &candidate("春眠不觉晓处处闻啼鸟夜来风雨声"))
            .is_empty()
    );
    assert_eq!(
        rules(&p.check(nist, &candidate("春眠不觉晓处处闻啼鸟夜来风雨"))),
        ["min_length"]
    );
    // Counted after NFKC: "ﬃ" is three characters.
    assert!(p.check(nist, &candidate("ﬃﬃﬃﬃﬃ")).is_empty());
    // No composition rules: lower-case letters and spaces alone are fine.
    assert!(
        p.check(nist, &candidate("correct horse battery staple"))
            .is_empty()
    );
}

#[test]
fn max_length_applies_to_both_profiles() {
    let p = policies(PasswordPolicyConfig::default());
    let long = "Ab1!".repeat(32);
    assert!(p.check(PolicyProfile::Nist, &candidate(&long)).is_empty());
    let longer = format!("{long}x");
    for profile in [PolicyProfile::Nist, PolicyProfile::Classic] {
        let v = p.check(profile, &candidate(&longer));
        assert_eq!(rules(&v), ["max_length"], "{profile:?}");
        assert_eq!(v[0].message, "at most 128 characters");
    }
}

#[test]
fn blocklisted_passwords_are_refused_in_any_case_or_width() {
    let p = policies(PasswordPolicyConfig::default());
    let with_mfa = |pw| Candidate {
        has_mfa: true,
        ..candidate(pw)
    };
    for pw in [
        "password",
        "PASSWORD",
        "ｐａｓｓｗｏｒｄ",
        "iloveyou",
        "ACME-Support-2026",
    ] {
        let v = p.check(PolicyProfile::Nist, &with_mfa(pw));
        assert!(rules(&v).contains(&"blocklisted"), "{pw}: {v:?}");
    }
    assert!(
        p.check(PolicyProfile::Nist, &with_mfa("kettle#9"))
            .is_empty()
    );
    // Several violations at once.
    let v = p.check(PolicyProfile::Nist, &candidate("password"));
    assert_eq!(rules(&v), ["min_length", "blocklisted"]);
}

#[test]
fn user_name_and_email_are_refused_and_named() {
    let p = policies(PasswordPolicyConfig::default());
    let v = p.check(PolicyProfile::Nist, &candidate("my name is LEA.MARTIN ok"));
    assert_eq!(rules(&v), ["contains_user_name"]);
    let v = p.check(PolicyProfile::Nist, &candidate("ask LMartin for the code"));
    assert_eq!(rules(&v), ["contains_email"]);
    // A user name that is an email address: its local part counts too.
    let c = Candidate {
        user_name: "zhang.wei@example.com",
        email: None,
        ..candidate("hello zhang.wei, welcome")
    };
    assert_eq!(
        rules(&p.check(PolicyProfile::Nist, &c)),
        ["contains_user_name"]
    );
    // Width and case do not hide it.
    let c = Candidate {
        user_name: "Lea",
        email: Some("li@example.com"),
        ..candidate("ＬＥＡ's garden of roses")
    };
    assert_eq!(
        rules(&p.check(PolicyProfile::Nist, &c)),
        ["contains_user_name"]
    );
    // Too short to count: a 2-character user name, a 3-character local part.
    let c = Candidate {
        user_name: "li",
        email: Some("bob@example.com"),
        ..candidate("li and bob went hiking")
    };
    assert!(p.check(PolicyProfile::Nist, &c).is_empty());
}

#[test]
fn classic_needs_classes_as_configured() {
    let p = policies(PasswordPolicyConfig::default());
    let classic = PolicyProfile::Classic;
    let v = p.check(classic, &candidate("violetharbour"));
    assert_eq!(rules(&v), ["missing_class"]);
    assert_eq!(
        v[0].message,
        "at least 3 of: an upper-case letter, a lower-case letter, a digit, a symbol (has 1)"
    );
    assert!(p.check(classic, &candidate("Violetharbour7")).is_empty());
    assert!(p.check(classic, &candidate("violet harbour7")).is_empty());
    assert_eq!(rules(&p.check(classic, &candidate("Vh7!"))), ["min_length"]);
    let mut config = PasswordPolicyConfig::default();
    config.classic.classes = vec![CharClass::Digit, CharClass::Symbol];
    config.classic.min_classes = 2;
    config.classic.min_length = 8;
    let p = policies(config);
    let v = p.check(classic, &candidate("VIOLETharbour7"));
    assert_eq!(rules(&v), ["missing_class"]);
    assert_eq!(v[0].message, "each of: a digit, a symbol");
    assert!(p.check(classic, &candidate("violet-7")).is_empty());
}

#[test]
fn profiles_are_chosen_per_role() {
    let mut config = PasswordPolicyConfig::default();
    config.roles.insert("admin".into(), PolicyProfile::Classic);
    let p = policies(config.clone());
    assert_eq!(p.profile_for("admin"), PolicyProfile::Classic);
    assert_eq!(p.profile_for("agent"), PolicyProfile::Nist);
    config.profile = PolicyProfile::Classic;
    config.roles.insert("agent".into(), PolicyProfile::Nist);
    let p = policies(config);
    assert_eq!(p.profile_for("team_lead"), PolicyProfile::Classic);
    assert_eq!(p.profile_for("agent"), PolicyProfile::Nist);
}

fn at(day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, day)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .expect("date")
}

#[test]
fn classic_passwords_expire_with_a_warning_nist_ones_never() {
    let mut config = PasswordPolicyConfig::default();
    config.classic.expire_days = 30;
    config.classic.warn_days = 7;
    let p = policies(config);
    let changed = at(1, 12);
    let classic = PolicyProfile::Classic;
    assert_eq!(p.expiry(classic, changed, at(1, 12)), Expiry::Ok);
    assert_eq!(p.expiry(classic, changed, at(23, 12)), Expiry::Ok);
    assert_eq!(
        p.expiry(classic, changed, at(24, 12)),
        Expiry::Warn { days_left: 7 }
    );
    assert_eq!(
        p.expiry(classic, changed, at(30, 13)),
        Expiry::Warn { days_left: 1 }
    );
    assert_eq!(p.expiry(classic, changed, at(31, 12)), Expiry::Expired);
    assert_eq!(
        p.expiry(
            PolicyProfile::Nist,
            changed,
            at(31, 12) + chrono::Duration::days(3650)
        ),
        Expiry::Ok
    );
    let mut never = PasswordPolicyConfig::default();
    never.classic.expire_days = 0;
    let p = policies(never);
    assert_eq!(p.expiry(classic, changed, at(31, 12)), Expiry::Ok);
}

#[tokio::test]
async fn classic_refuses_the_last_passwords_nist_keeps_no_history() {
    let cheap = Cost {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    let hasher = Hasher::new(cheap, 1, 16).expect("hasher");
    let mut config = PasswordPolicyConfig::default();
    config.classic.history = 2;
    let p = policies(config);
    let mut previous = Vec::new();
    for pw in ["Newest-pass-3", "Older-pass-2", "Oldest-pass-1"] {
        previous.push(hasher.hash(pw).await.expect("hash"));
    }
    let classic = PolicyProfile::Classic;
    for pw in ["Newest-pass-3", "Older-pass-2"] {
        let v = p
            .check_all(classic, &hasher, &candidate(pw), &previous)
            .await
            .expect("check");
        assert_eq!(rules(&v), ["reused"], "{pw}");
        assert_eq!(v[0].message, "not one of the last 2 passwords");
    }
    // Beyond the history, and a new one, are fine.
    for pw in ["Oldest-pass-1", "Brand-new-pass-4"] {
        let v = p
            .check_all(classic, &hasher, &candidate(pw), &previous)
            .await
            .expect("check");
        assert!(v.is_empty(), "{pw}: {v:?}");
    }
    assert_eq!(p.history_len(PolicyProfile::Nist), 0);
    let v = p
        .check_all(
            PolicyProfile::Nist,
            &hasher,
            &candidate("Newest-pass-3 and more"),
            &previous,
        )
        .await
        .expect("check");
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn generated_passwords_pass_both_profiles() {
    let p = policies(PasswordPolicyConfig::default());
    for profile in [PolicyProfile::Nist, PolicyProfile::Classic] {
        let a = p.generate(profile);
        let b = p.generate(profile);
        assert_ne!(a, b);
        assert!(a.chars().count() >= 20, "{a}");
        for pw in [&a, &b] {
            let c = Candidate {
                password: pw,
                user_name: "ana",
                email: None,
                has_mfa: false,
            };
            assert_eq!(p.check(PolicyProfile::Nist, &c), vec![], "{pw}");
            assert_eq!(p.check(PolicyProfile::Classic, &c), vec![], "{pw}");
        }
    }
}

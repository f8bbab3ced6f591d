//! Realistic synthetic people for `seed-agents --realistic`: Latin and Chinese names,
//! departments, skill groups and channels, deterministic per seed number.

/// What one synthetic agent is called and where it works.
pub struct Person {
    pub given: String,
    pub family: String,
    pub display: String,
    /// Local part of the email address (ASCII).
    pub mail: String,
    pub department: String,
    pub skill_groups: Vec<String>,
    pub channels: Vec<String>,
}

const GIVEN: [&str; 24] = [
    "Owen", "Maria", "James", "Aisha", "Lukas", "Sofia", "Noah", "Emma", "Mateo", "Olivia", "Hiro",
    "Priya", "Liam", "Chloe", "Omar", "Elena", "Ravi", "Anna", "Jonas", "Fatima", "Diego",
    "Ingrid", "Kofi", "Mia",
];
const FAMILY: [&str; 24] = [
    "Sterling", "Garcia", "Smith", "Khan", "Müller", "Rossi", "Johnson", "Dubois", "Silva",
    "Novak", "Tanaka", "Patel", "O'Brien", "Martin", "Haddad", "Petrova", "Kumar", "Berg",
    "Schmidt", "Ali", "López", "Larsen", "Mensah", "Weber",
];
/// Chinese family names with their pinyin, the most common first.
const XING: [(&str, &str); 20] = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
];
const MING: [(&str, &str); 24] = [
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂英", "guiying"),
    ("浩然", "haoran"),
    ("子涵", "zihan"),
];
const DEPARTMENTS: [&str; 20] = [
    "Support Tier 1",
    "Support Tier 2",
    "Billing",
    "Returns",
    "Onboarding",
    "VIP Care",
    "Technical Support",
    "Sales Chat",
    "Retention",
    "Escalations",
    "Shipping",
    "Payments",
    "Accounts",
    "Partner Desk",
    "Night Shift",
    "Weekend Team",
    "Quality",
    "Training",
    "Social Care",
    "Mandarin Desk",
];
const SKILLS: [&str; 8] = [
    "billing",
    "refunds",
    "tech",
    "vip",
    "mandarin",
    "spanish",
    "german",
    "escalation",
];
const CHANNELS: [&str; 6] = ["web", "app", "wechat", "phone", "email", "ticket"];

/// A cheap, well-mixed hash of `n` (splitmix64's finaliser).
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(list: &[T], h: u64) -> T {
    list[(h % list.len() as u64) as usize]
}

/// Synthetic person number `n`: three in ten have Chinese names; one in ten thousand is a
/// Quixote (a rare name for searches).
pub fn person(n: u32) -> Person {
    let h = mix(u64::from(n));
    let (given, family, display, mail) = if n % 10_000 == 7 {
        let g = pick(&GIVEN, h >> 8);
        (
            g.to_owned(),
            "Quixote".to_owned(),
            format!("{g} Quixote"),
            format!("{}.quixote", g.to_lowercase()),
        )
    } else if h % 10 < 3 {
        let (x, xp) = pick(&XING, h >> 8);
        let (m, mp) = pick(&MING, h >> 20);
        (
            m.to_owned(),
            x.to_owned(),
            format!("{x}{m}"),
            format!("{mp}.{xp}"),
        )
    } else {
        let g = pick(&GIVEN, h >> 8);
        let f = pick(&FAMILY, h >> 20);
        let ascii: String = f
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        (
            g.to_owned(),
            f.to_owned(),
            format!("{g} {f}"),
            format!("{}.{ascii}", g.to_lowercase()),
        )
    };
    let mut skill_groups = vec![pick(&SKILLS, h >> 32).to_owned()];
    let second = pick(&SKILLS, h >> 40).to_owned();
    if !skill_groups.contains(&second) {
        skill_groups.push(second);
    }
    Person {
        given,
        family,
        display,
        mail: format!("{mail}.{n}"),
        department: pick(&DEPARTMENTS, h >> 48).to_owned(),
        skill_groups,
        channels: vec![pick(&CHANNELS, h >> 52).to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_deterministic_and_varied() {
        let a = person(42);
        assert_eq!(a.display, person(42).display);
        let chinese = (1..=1000)
            .filter(|&n| !person(n).display.is_ascii())
            .count();
        assert!((200..400).contains(&chinese), "{chinese}");
        assert_eq!(person(10_007).family, "Quixote");
        assert!(person(5).mail.ends_with(".5"));
    }
}

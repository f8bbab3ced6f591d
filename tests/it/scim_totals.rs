//! `totalResults` on SCIM list pages: told by the page when it can be, counted once on a
//! cursor listing's first page and carried in its cursor.

use serde_json::Value;

use crate::both;
use crate::harness::{TestServer, q};

fn total(v: &Value) -> Option<i64> {
    v["totalResults"].as_i64()
}

both!(cursor_pages_carry_the_first_pages_count, |b| {
    let s = TestServer::start(b);
    for i in 0..5 {
        s.create_user(&format!("carried{i}"));
    }
    let (st, p1) = s.scim("GET", "/Users?cursor=&count=2", None);
    assert_eq!((st, total(&p1)), (200, Some(5)), "{p1}");
    // An agent created after the first page: later pages report the count the listing
    // started with (not counted again), and still reach the new agent (keyset order).
    s.create_user("carried5");
    let mut next = p1["nextCursor"].as_str().map(str::to_owned);
    let mut seen = p1["Resources"].as_array().map_or(0, Vec::len);
    while let Some(c) = next {
        let (st, p) = s.scim("GET", &format!("/Users?count=2&cursor={}", q(&c)), None);
        assert_eq!((st, total(&p)), (200, Some(5)), "{p}");
        seen += p["Resources"].as_array().map_or(0, Vec::len);
        next = p["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 6);
    // A fresh listing counts again.
    let (_, fresh) = s.scim("GET", "/Users?cursor=&count=2", None);
    assert_eq!(total(&fresh), Some(6), "{fresh}");
});

both!(a_cursor_sent_with_another_filter_is_counted_again, |b| {
    let s = TestServer::start(b);
    for i in 0..4 {
        s.create_user(&format!("fp{i}"));
    }
    let (_, p1) = s.scim("GET", "/Users?cursor=&count=1", None);
    assert_eq!(total(&p1), Some(4));
    let c = p1["nextCursor"].as_str().expect("nextCursor");
    let f = q("userName sw \"fp\" and not (userName eq \"fp3\")");
    let (st, p) = s.scim(
        "GET",
        &format!("/Users?count=1&filter={f}&cursor={}", q(c)),
        None,
    );
    assert_eq!((st, total(&p)), (200, Some(3)), "{p}");
    // Groups do not take a count carried from Users either.
    s.create_group("fp group", &[]);
    let (st, g) = s.scim("GET", &format!("/Groups?count=1&cursor={}", q(c)), None);
    assert_eq!((st, total(&g)), (200, Some(1)), "{g}");
});

both!(index_pages_total_with_and_without_counting, |b| {
    let s = TestServer::start(b);
    for i in 0..7 {
        s.create_user(&format!("ix{i}"));
    }
    for (path, want, items) in [
        ("/Users?startIndex=1&count=100", 7, 7),
        ("/Users?startIndex=6&count=100", 7, 2),
        ("/Users?startIndex=1&count=3", 7, 3),
        ("/Users?startIndex=4&count=3", 7, 3),
        ("/Users?startIndex=50&count=3", 7, 0),
        ("/Users?count=0", 7, 0),
        ("/Users?filter=userName%20eq%20%22ix3%22", 1, 1),
        ("/Users?filter=userName%20eq%20%22nobody%22", 0, 0),
        ("/Users?filter=userName%20sw%20%22ix%22&count=2", 7, 2),
        (
            "/Users?filter=userName%20sw%20%22ix%22&startIndex=9&count=2",
            7,
            0,
        ),
    ] {
        let (st, v) = s.scim("GET", path, None);
        assert_eq!(st, 200, "{path}: {v}");
        assert_eq!(total(&v), Some(want), "{path}: {v}");
        assert_eq!(
            v["Resources"].as_array().map_or(0, Vec::len),
            items,
            "{path}: {v}"
        );
    }
});

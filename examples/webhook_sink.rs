//! A fast webhook receiver for `scripts/bench-webhooks`: answers every POST with 200 over
//! keep-alive connections, and for each message notes how long after the change (the body's
//! `timestamp`, the audit entry's time) it arrived. After `COUNT` messages — or 10 s without
//! one — it prints one JSON line: the count, the latency p50/p99/max in ms, and the messages
//! a second between the first and the last.
//!
//!     cargo run --release --example webhook_sink -- PORT COUNT

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Seen {
    at: Instant,
    latency_ms: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(9900);
    let count: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1000);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let (tx, rx) = mpsc::channel::<Seen>();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, tx));
        }
    });
    println!("ready");
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(s) => seen.push(s),
            Err(_) => break,
        }
    }
    let mut lat: Vec<f64> = seen.iter().map(|s| s.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let span = match (seen.first(), seen.last()) {
        (Some(a), Some(b)) => (b.at - a.at).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span > 0.0 {
        (seen.len() - 1) as f64 / span
    } else {
        0.0
    };
    // The slowest messages and where in the run they came (the first, or spread out).
    let mut slow: Vec<(usize, f64)> = seen.iter().map(|s| s.latency_ms).enumerate().collect();
    slow.sort_by(|a, b| b.1.total_cmp(&a.1));
    let slow: Vec<String> = slow
        .iter()
        .take(5)
        .map(|(i, ms)| format!("[{i}, {ms:.1}]"))
        .collect();
    println!(
        "{{\"count\": {}, \"p50_ms\": {:.1}, \"p99_ms\": {:.1}, \"max_ms\": {:.1}, \"per_sec\": {:.0}, \"slowest\": [{}]}}",
        seen.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        rate,
        slow.join(", ")
    );
}

fn serve(stream: TcpStream, tx: mpsc::Sender<Seen>) {
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        // Request line and headers.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let arrived = Instant::now();
        if out
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
        let latency_ms = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["timestamp"].as_str().map(str::to_owned))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_microseconds())
            .map_or(f64::NAN, |us| us as f64 / 1000.0);
        let _ = tx.send(Seen {
            at: arrived,
            latency_ms,
        });
    }
}

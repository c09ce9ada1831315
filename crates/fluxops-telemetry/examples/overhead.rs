//! What telemetry costs a request: the miniature handler from the tests, served with export
//! off, with export to a live local receiver (every operation, and one in ten with
//! `trace_sample_ratio(0.1)`), and with export to a dead endpoint (a closed port), each measured
//! with 200 sequential requests and with a run at concurrency 32.
//!
//! ```text
//! cargo run --release -p fluxops-telemetry --example overhead [-- ROUNDS [REQUESTS]]
//! ```
//!
//! Each mode runs in its own child process (a process can install only one global subscriber);
//! modes are interleaved over several rounds and the median per mode is printed. The receiver
//! runs in this parent process and only counts uploads, but its TLS work still competes for the
//! same cores, as it would not in Azure: the "export on" figures are, if anything, pessimistic.

// Shared with the integration tests; each target uses a part of it.
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use fluxops_telemetry::{LogFormat, TelemetryBuilder};
use serde_json::json;
use support::receiver::{Receiver, client_trusting};

const MODES: [&str; 4] = ["off", "export", "sampled", "dead"];
/// The trace sample ratio of the `sampled` mode.
const SAMPLED_RATIO: f64 = 0.1;
const CONCURRENCY: usize = 32;
const N_SEQUENTIAL: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        _ => parent(&args),
    }
}

/// One measured run, as the child prints it.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// CPU time of the whole child process (server, load generator, export threads) per
    /// request, from `/proc` (0 where there is none).
    cpu_per_request_us: f64,
    sequential_p50_us: f64,
    sequential_p99_us: f64,
    throughput: f64,
    concurrent_p50_us: f64,
    concurrent_p99_us: f64,
}

fn parent(args: &[String]) {
    let n_rounds: usize = args.first().and_then(|n| n.parse().ok()).unwrap_or(3);
    let n_requests: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(30_000);
    let receiver = Receiver::start_discarding();
    let certificate_path =
        std::env::temp_dir().join(format!("fluxops-overhead-{}.der", std::process::id()));
    std::fs::write(&certificate_path, receiver.certificate()).expect("write certificate");
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let dead = format!("InstrumentationKey=k;IngestionEndpoint=https://127.0.0.1:{dead_port}/");
    let live = receiver.connection_string();

    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); MODES.len()];
    for round in 1..=n_rounds {
        for (mode_idx, mode) in MODES.iter().enumerate() {
            let connection_string = match *mode {
                "export" | "sampled" => live.as_str(),
                "dead" => dead.as_str(),
                _ => "",
            };
            let output = Command::new(std::env::current_exe().expect("own path"))
                .args(["child", mode, connection_string])
                .arg(&certificate_path)
                .arg(n_requests.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .output()
                .expect("run child");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout
                .lines()
                .find_map(|line| line.strip_prefix("RESULT "))
                .unwrap_or_else(|| panic!("{mode} run printed no result:\n{stdout}"));
            let values: Vec<f64> = line
                .split_whitespace()
                .map(|value| value.parse().expect("number"))
                .collect();
            let run = Run {
                cpu_per_request_us: values[0],
                sequential_p50_us: values[1],
                sequential_p99_us: values[2],
                throughput: values[3],
                concurrent_p50_us: values[4],
                concurrent_p99_us: values[5],
            };
            eprintln!("round {round} {mode:>6}: {run:?}");
            runs[mode_idx].push(run);
        }
    }
    let _ = std::fs::remove_file(&certificate_path);

    let median = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let baseline = median(runs[0].iter().map(|run| run.throughput).collect());
    println!(
        "\n{n_rounds} rounds, medians; {N_SEQUENTIAL} sequential requests, then {n_requests} at concurrency {CONCURRENCY}"
    );
    println!(
        "| mode | sequential p50 | sequential p99 | c{CONCURRENCY} req/s | vs off | c{CONCURRENCY} p50 | c{CONCURRENCY} p99 | CPU per request |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (mode, runs) in MODES.iter().zip(&runs) {
        let field = |pick: fn(&Run) -> f64| median(runs.iter().map(pick).collect());
        let throughput = field(|run| run.throughput);
        println!(
            "| {mode} | {:.0} µs | {:.0} µs | {throughput:.0} | {:+.1}% | {:.0} µs | {:.0} µs | {:.1} µs |",
            field(|run| run.sequential_p50_us),
            field(|run| run.sequential_p99_us),
            (throughput / baseline - 1.0) * 100.0,
            field(|run| run.concurrent_p50_us),
            field(|run| run.concurrent_p99_us),
            field(|run| run.cpu_per_request_us),
        );
    }
    println!(
        "\nuploads received by the live receiver: {}",
        receiver.n_uploads()
    );
}

fn child(args: &[String]) {
    let [mode, connection_string, certificate_path, n_requests] = args else {
        panic!("child MODE CONNECTION_STRING CERTIFICATE_PATH N_REQUESTS")
    };
    let n_requests: usize = n_requests.parse().expect("request count");
    // As in production: JSON lines, `info` (the result line is told apart by its prefix).
    let mut builder =
        TelemetryBuilder::new("fluxops-overhead", "0.0.0").log_format(LogFormat::Json);
    if !connection_string.is_empty() {
        builder = builder.connection_string(connection_string);
    }
    if mode == "export" || mode == "sampled" {
        let certificate = std::fs::read(certificate_path).expect("certificate");
        builder = builder.http_client(client_trusting(&certificate));
    }
    if mode == "sampled" {
        builder = builder.trace_sample_ratio(SAMPLED_RATIO);
    }
    let telemetry = builder.init();
    assert_eq!(telemetry.is_exporting(), mode != "off");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = runtime.block_on(async {
        let metrics = telemetry.metrics();
        support::app::load_model(&metrics).await;
        let base = support::app::serve(support::app::app(metrics)).await;
        let url = format!("{base}/api/predict");
        let client = reqwest::Client::new();
        let body = json!({"features": [0.5, -1.25, 3.0, 0.0]});
        let send = || async {
            let started = Instant::now();
            let response = client.post(&url).json(&body).send().await.expect("request");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
            started.elapsed()
        };
        for _ in 0..1_000 {
            send().await;
        }
        let mut sequential = Vec::with_capacity(N_SEQUENTIAL);
        for _ in 0..N_SEQUENTIAL {
            sequential.push(send().await);
        }

        let next = Arc::new(AtomicUsize::new(0));
        let cpu_before = process_cpu();
        let started = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let next = Arc::clone(&next);
                let client = client.clone();
                let url = url.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < n_requests {
                        let sent = Instant::now();
                        let response = client.post(&url).json(&body).send().await.expect("request");
                        assert_eq!(response.status(), 200);
                        response.bytes().await.expect("body");
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut concurrent = Vec::with_capacity(n_requests);
        for worker in workers {
            concurrent.extend(worker.await.expect("worker"));
        }
        let elapsed = started.elapsed();
        let cpu = process_cpu().saturating_sub(cpu_before);
        Run {
            cpu_per_request_us: cpu.as_secs_f64() * 1e6 / n_requests as f64,
            sequential_p50_us: percentile_us(&mut sequential, 0.50),
            sequential_p99_us: percentile_us(&mut sequential, 0.99),
            throughput: n_requests as f64 / elapsed.as_secs_f64(),
            concurrent_p50_us: percentile_us(&mut concurrent, 0.50),
            concurrent_p99_us: percentile_us(&mut concurrent, 0.99),
        }
    });
    println!(
        "RESULT {} {} {} {} {} {}",
        run.cpu_per_request_us,
        run.sequential_p50_us,
        run.sequential_p99_us,
        run.throughput,
        run.concurrent_p50_us,
        run.concurrent_p99_us
    );
    drop(runtime);
    telemetry.shutdown();
}

/// User plus system CPU time of this process so far (zero where `/proc` is missing).
fn process_cpu() -> Duration {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on Linux).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn percentile_us(latencies: &mut [Duration], quantile: f64) -> f64 {
    latencies.sort();
    let idx = ((latencies.len() as f64 - 1.0) * quantile).round() as usize;
    latencies[idx].as_secs_f64() * 1e6
}

//! HTTP/1.1 load generator for the benchmark harness (bench/run.py): the same client drives every
//! server's PUT and GET phases, so differences between servers are not differences between clients.
//!
//! `get`: round-robin GETs over a list of paths for a fixed duration → requests/s and latency
//! percentiles. `put`: PUTs a list of bodies once, in order, within a time budget → the rate per
//! block of N requests, so a slowdown as the collection grows is visible. Both print one JSON
//! object on stdout. Any non-2xx status or transport failure is an error and is counted as one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use clap::{Args as ClapArgs, Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "HTTP/1.1 load generator for Madang's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// GET a list of paths round-robin for a fixed duration.
    Get(GetArgs),
    /// PUT a list of bodies once each, in order, within a time budget.
    Put(PutArgs),
}

#[derive(ClapArgs)]
struct Common {
    /// Server base, e.g. http://127.0.0.1:8080 (plain HTTP only).
    #[arg(long)]
    base: String,
    /// Number of workers, each with its own keep-alive connection.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Basic auth user (optional).
    #[arg(long)]
    user: Option<String>,
    /// Basic auth password.
    #[arg(long, default_value = "")]
    password: String,
    /// Send `Authorization: Bearer <token>` instead of Basic.
    #[arg(long, conflicts_with = "user")]
    bearer: Option<String>,
    /// Runtime threads. One is the default: on a 2-core machine every thread the client takes is
    /// a core the server under test does not get.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(ClapArgs)]
struct GetArgs {
    #[command(flatten)]
    common: Common,
    /// File with one path per line.
    #[arg(long)]
    paths_file: Option<PathBuf>,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Paths (in addition to --paths-file).
    paths: Vec<String>,
}

#[derive(ClapArgs)]
struct PutArgs {
    #[command(flatten)]
    common: Common,
    /// JSON lines of {"path": ..., "body": ...}, PUT in file order.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Or a directory whose files are PUT (sorted by name) to --prefix + file name.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Path prefix for --dir, e.g. /dav/calendars/bench/default/.
    #[arg(long, default_value = "/")]
    prefix: String,
    #[arg(long, default_value = "application/octet-stream")]
    content_type: String,
    /// Stop handing out new requests after this many seconds; in-flight ones finish.
    #[arg(long, default_value_t = 60.0)]
    budget_secs: f64,
    /// Report the rate for every block of this many completed requests.
    #[arg(long, default_value_t = 1000)]
    block: usize,
}

/// What every worker needs to open connections and build requests.
struct Target {
    authority: String,
    auth_header: Option<String>,
}

impl Target {
    fn new(common: &Common) -> anyhow::Result<Self> {
        let Some(rest) = common.base.strip_prefix("http://") else { bail!("--base must start with http://") };
        let authority = rest.trim_end_matches('/').to_string();
        if authority.contains('/') {
            bail!("--base must not have a path: {}", common.base);
        }
        let auth_header = match (&common.bearer, &common.user) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some(u)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", common.password))
            )),
            (None, None) => None,
        };
        Ok(Self { authority, auth_header })
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream =
            TcpStream::connect(&self.authority).await.with_context(|| format!("connect {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, method: Method, path: &str, content_type: Option<&str>, body: Bytes) -> Request<Full<Bytes>> {
        let mut builder = Request::builder().method(method).uri(path).header(hyper::header::HOST, &self.authority);
        if let Some(auth) = &self.auth_header {
            builder = builder.header(hyper::header::AUTHORIZATION, auth);
        }
        if let Some(ct) = content_type {
            builder = builder.header(hyper::header::CONTENT_TYPE, ct);
        }
        builder.body(Full::new(body)).expect("request parts are valid")
    }
}

/// One keep-alive connection that reopens itself: some servers (Radicale's wsgiref) close the
/// connection after every response, and that must cost them a reconnect, not an error.
struct Conn<'a> {
    target: &'a Target,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl<'a> Conn<'a> {
    fn new(target: &'a Target) -> Self {
        Self { target, sender: None }
    }

    /// Sends one request and reads the whole body; returns the status code.
    async fn send(&mut self, make: impl Fn() -> Request<Full<Bytes>>) -> anyhow::Result<u16> {
        // A request on a connection the server closed between requests fails before the server
        // saw it; one retry on a fresh connection tells that apart from a real failure.
        for attempt in 0..2 {
            let reusable = match self.sender.as_mut() {
                Some(s) => s.ready().await.is_ok(),
                None => false,
            };
            if !reusable {
                self.sender = Some(self.target.connect().await?);
            }
            let sender = self.sender.as_mut().expect("connected above");
            match sender.send_request(make()).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.into_body().collect().await?;
                    return Ok(status);
                }
                Err(e) if attempt == 0 && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) => {
                    self.sender = None;
                }
                Err(e) => {
                    self.sender = None;
                    return Err(e.into());
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    statuses: BTreeMap<String, usize>,
    latencies_us: Vec<u32>,
    error_samples: Vec<String>,
}

impl Tally {
    fn record(&mut self, result: &anyhow::Result<u16>, elapsed: Duration) -> bool {
        self.requests += 1;
        self.latencies_us.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
        let ok = match result {
            Ok(code) => {
                *self.statuses.entry(code.to_string()).or_default() += 1;
                (200..300).contains(code)
            }
            Err(e) => {
                *self.statuses.entry("transport".into()).or_default() += 1;
                if self.error_samples.len() < 5 {
                    self.error_samples.push(format!("{e:#}"));
                }
                false
            }
        };
        if !ok {
            self.errors += 1;
        }
        ok
    }

    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.latencies_us.extend(other.latencies_us);
        for s in other.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(s);
            }
        }
    }

    fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        f64::from(sorted[idx]) / 1000.0
    }
}

async fn run_get(args: GetArgs) -> anyhow::Result<serde_json::Value> {
    let target = Arc::new(Target::new(&args.common)?);
    let mut paths = args.paths;
    if let Some(file) = &args.paths_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        paths.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if paths.is_empty() {
        bail!("no paths to GET");
    }
    let paths = Arc::new(paths);
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.common.concurrency {
        let target = target.clone();
        let paths = paths.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&target);
            let mut tally = Tally::default();
            // Workers start at different offsets so they do not all hit the same object.
            let mut i = w * paths.len() / args.common.concurrency.max(1);
            while start.elapsed() < duration {
                let path = &paths[i % paths.len()];
                i += 1;
                let t = Instant::now();
                let result = conn.send(|| target.request(Method::GET, path, None, Bytes::new())).await;
                tally.record(&result, t.elapsed());
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for w in workers {
        total.merge(w.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut total.latencies_us);
    lat.sort_unstable();
    Ok(json!({
        "requests": total.requests,
        "errors": total.errors,
        "statuses": total.statuses,
        "elapsed": elapsed,
        "rps": total.requests as f64 / elapsed,
        "ok_rps": (total.requests - total.errors) as f64 / elapsed,
        "p50_ms": Tally::percentile_ms(&lat, 0.50),
        "p95_ms": Tally::percentile_ms(&lat, 0.95),
        "p99_ms": Tally::percentile_ms(&lat, 0.99),
        "error_samples": total.error_samples,
    }))
}

fn load_put_items(args: &PutArgs) -> anyhow::Result<Vec<(String, Bytes)>> {
    let mut items = Vec::new();
    if let Some(file) = &args.jsonl {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
            let (Some(path), Some(body)) = (v["path"].as_str(), v["body"].as_str()) else {
                bail!("line {}: expected {{\"path\": string, \"body\": string}}", n + 1);
            };
            items.push((path.to_string(), Bytes::from(body.to_string())));
        }
    }
    if let Some(dir) = &args.dir {
        let mut names: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        names.sort();
        for p in names.into_iter().filter(|p| p.is_file()) {
            let name = p.file_name().and_then(|n| n.to_str()).context("non-UTF-8 file name")?.to_string();
            items.push((format!("{}{name}", args.prefix), Bytes::from(std::fs::read(&p)?)));
        }
    }
    if items.is_empty() {
        bail!("nothing to PUT: give --jsonl or --dir");
    }
    Ok(items)
}

async fn run_put(args: PutArgs) -> anyhow::Result<serde_json::Value> {
    let target = Arc::new(Target::new(&args.common)?);
    let items = Arc::new(load_put_items(&args)?);
    let content_type = Arc::new(args.content_type.clone());
    let budget = Duration::from_secs_f64(args.budget_secs);
    let block = args.block.max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicUsize::new(0));
    let out_of_time = Arc::new(AtomicBool::new(false));
    // Times at which the k-th block of completions was reached; written once per block.
    let block_marks = Arc::new(Mutex::new(Vec::<(usize, f64)>::new()));
    let failed = Arc::new(Mutex::new(Vec::<usize>::new()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.common.concurrency {
        let (target, items, content_type) = (target.clone(), items.clone(), content_type.clone());
        let (next, completed, out_of_time) = (next.clone(), completed.clone(), out_of_time.clone());
        let (block_marks, failed) = (block_marks.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&target);
            let mut tally = Tally::default();
            loop {
                if start.elapsed() >= budget {
                    out_of_time.store(true, Ordering::Relaxed);
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, body)) = items.get(i) else { break };
                let t = Instant::now();
                let result =
                    conn.send(|| target.request(Method::PUT, path, Some(content_type.as_str()), body.clone())).await;
                if !tally.record(&result, t.elapsed()) {
                    failed.lock().expect("not poisoned").push(i);
                }
                let done = completed.fetch_add(1, Ordering::Relaxed) + 1;
                if done % block == 0 || done == items.len() {
                    block_marks.lock().expect("not poisoned").push((done, start.elapsed().as_secs_f64()));
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for w in workers {
        total.merge(w.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut marks = block_marks.lock().expect("not poisoned").clone();
    marks.sort_by_key(|m| m.0);
    let mut blocks = Vec::new();
    let (mut prev_n, mut prev_t) = (0usize, 0.0f64);
    for (upto, t) in marks {
        let secs = t - prev_t;
        blocks.push(json!({"upto": upto, "secs": secs, "rate": (upto - prev_n) as f64 / secs.max(1e-9)}));
        (prev_n, prev_t) = (upto, t);
    }
    // The unfinished tail, so a peer that ran out of budget still shows its last rate.
    if prev_n < total.requests {
        let secs = elapsed - prev_t;
        blocks.push(json!({"upto": total.requests, "secs": secs, "rate": (total.requests - prev_n) as f64 / secs.max(1e-9), "partial": true}));
    }
    let mut failed = failed.lock().expect("not poisoned").clone();
    failed.sort_unstable();
    let mut lat = std::mem::take(&mut total.latencies_us);
    lat.sort_unstable();
    Ok(json!({
        "total": items.len(),
        "done": total.requests - total.errors,
        "attempted": total.requests,
        "errors": total.errors,
        "failed_indices": failed,
        "out_of_time": out_of_time.load(Ordering::Relaxed) && total.requests < items.len(),
        "statuses": total.statuses,
        "elapsed": elapsed,
        "rate": (total.requests - total.errors) as f64 / elapsed,
        "p50_ms": Tally::percentile_ms(&lat, 0.50),
        "p95_ms": Tally::percentile_ms(&lat, 0.95),
        "blocks": blocks,
        "error_samples": total.error_samples,
    }))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let threads = match &cli.mode {
        Mode::Get(a) => a.common.threads,
        Mode::Put(a) => a.common.threads,
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    let out = runtime.block_on(async {
        match cli.mode {
            Mode::Get(a) => run_get(a).await,
            Mode::Put(a) => run_put(a).await,
        }
    })?;
    println!("{out}");
    Ok(())
}

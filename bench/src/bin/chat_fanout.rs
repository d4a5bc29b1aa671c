//! The chat fan-out benchmark's driver (bench/chat_fanout.py starts the servers and runs it): N
//! connected clients in C channels, messages sent at a fixed rate for a fixed time, and for every
//! member the latency from send to receipt, what was lost, duplicated or out of order, and what
//! the servers and the driver itself spent.
//!
//! Two targets speak the same workload:
//! - `madang`: every client is a user holding `GET /api/v1/push` (Server-Sent Events, one
//!   connection each) and counting `chat.message` events with `op: "new"`; a sender is a member
//!   that `POST`s `/api/v1/chat/channels/{id}/messages` `{text, client_id}` on a pool of
//!   keep-alive connections. The driver creates the channels with their members first.
//! - `reference`: every client holds one WebSocket to bench/reference/chat_ws_redis.py,
//!   subscribes to its channel and sends on that same socket, as its protocol intends.
//!
//! Message k goes to channel k mod C from its members in turn, at `start + k / rate` (open loop;
//! at most `--max-in-flight` sends wait for an answer, and how late the schedule ran is printed).
//! Its text carries k and the send time in microseconds on the driver's monotonic clock, so the
//! receiving side needs no state to compute the latency. Receipts are counted per (message,
//! member): 0 at the end is a loss, more than 1 a duplicate; a member seeing a channel seq not
//! above the last one it saw is out of order. Prints one JSON object on stdout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum TargetKind {
    Madang,
    Reference,
}

#[derive(Parser, Debug)]
#[command(about = "Chat fan-out benchmark driver (see bench/README.md)")]
struct Args {
    #[arg(long, value_enum)]
    target: TargetKind,
    /// Madang: http://127.0.0.1:PORT; reference: ws://127.0.0.1:PORT.
    #[arg(long)]
    base: String,
    /// Madang: a file of `name password` lines (app passwords), at least --clients of them.
    #[arg(long)]
    users: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Channels; --clients must be a multiple of it.
    #[arg(long, default_value_t = 50)]
    channels: usize,
    /// Messages per second, over all channels.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds to wait after the last answer to a send for receipts still on their way.
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// Prefix of the channel names (unique per run).
    #[arg(long, default_value = "fanout")]
    channel_prefix: String,
    /// Server processes whose CPU and RSS are measured (Madang, or the reference).
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// The load balancer's processes, measured apart.
    #[arg(long, value_delimiter = ',')]
    proxy_pids: Vec<u32>,
    /// A shell command printing the storage's process ids (PostgreSQL backends of the run's
    /// database, the Redis server), run at the start and at the end of the measured window.
    #[arg(long)]
    store_pids_cmd: Option<String>,
    /// Sends waiting for their answer at most; the schedule slips (and says so) beyond it.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Clients connecting at the same time while the run is set up.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// Runtime threads: one by default, so the servers keep the rest of the machine; the
    /// output says how busy it was.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Latencies in a lock-free histogram: 10 µs buckets up to 1 s, then 1 ms buckets up to 120 s.
struct Histogram {
    fine: Vec<AtomicU32>,
    coarse: Vec<AtomicU32>,
    max_us: AtomicU64,
}

impl Histogram {
    const FINE_US: u64 = 10;
    const FINE_N: usize = 100_000;
    const COARSE_US: u64 = 1000;
    const COARSE_N: usize = 120_000;

    fn new() -> Self {
        Self {
            fine: (0..Self::FINE_N).map(|_| AtomicU32::new(0)).collect(),
            coarse: (0..Self::COARSE_N).map(|_| AtomicU32::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    fn record(&self, us: u64) {
        self.max_us.fetch_max(us, Ordering::Relaxed);
        let fine = (us / Self::FINE_US) as usize;
        if fine < Self::FINE_N {
            self.fine[fine].fetch_add(1, Ordering::Relaxed);
        } else {
            let coarse = ((us / Self::COARSE_US) as usize).min(Self::COARSE_N - 1);
            self.coarse[coarse].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count(&self) -> u64 {
        self.fine.iter().chain(&self.coarse).map(|c| u64::from(c.load(Ordering::Relaxed))).sum()
    }

    /// The upper edge of the bucket holding the p-quantile, in milliseconds.
    fn percentile_ms(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in self.fine.iter().enumerate() {
            seen += u64::from(c.load(Ordering::Relaxed));
            if seen >= rank {
                return Some(((i as u64 + 1) * Self::FINE_US) as f64 / 1000.0);
            }
        }
        for (i, c) in self.coarse.iter().enumerate() {
            seen += u64::from(c.load(Ordering::Relaxed));
            if seen >= rank {
                return Some(((i as u64 + 1) * Self::COARSE_US) as f64 / 1000.0);
            }
        }
        Some(self.max_us.load(Ordering::Relaxed) as f64 / 1000.0)
    }

    fn summary(&self) -> Value {
        json!({
            "count": self.count(),
            "p50_ms": self.percentile_ms(0.50),
            "p90_ms": self.percentile_ms(0.90),
            "p99_ms": self.percentile_ms(0.99),
            "p999_ms": self.percentile_ms(0.999),
            "max_ms": self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        })
    }
}

/// One client: a user (Madang) or a socket's name (reference), in one channel.
struct Client {
    name: String,
    /// `Basic …` for Madang.
    auth: String,
    channel: usize,
    /// Position among the channel's members: the column of the receipt table.
    pos: usize,
}

/// What every task shares: the plan, the receipt table and the tallies.
struct Shared {
    start: Instant,
    members: usize,
    planned: usize,
    /// Receipts per (message, member): index k * members + pos.
    receipts: Vec<AtomicU8>,
    acked: Vec<AtomicBool>,
    /// Send time of message k, µs since `start` (for the reference's acks).
    sent_at: Vec<AtomicU64>,
    latency: Histogram,
    ack_latency: Histogram,
    /// Per second of the send schedule (message k is in second k / rate): the slowest receipt,
    /// µs, and how many receipts took over 20 ms, so a report shows whether slow receipts
    /// are spread out or come in bursts.
    timeline: Vec<(AtomicU64, AtomicU32)>,
    rate: f64,
    received: AtomicU64,
    duplicates: AtomicU64,
    out_of_order: AtomicU64,
    foreign: AtomicU64,
    reconnects: AtomicU64,
    sent: AtomicUsize,
    send_errors: AtomicUsize,
    /// Messages still waiting for the answer to their send.
    in_flight: AtomicUsize,
    errors: Mutex<Vec<String>>,
    /// Set when the run is over: readers stop reconnecting.
    done: AtomicBool,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn error(&self, e: String) {
        let mut errors = self.errors.lock().expect("not poisoned");
        if errors.len() < 10 {
            errors.push(e);
        }
    }

    /// Counts one received message event for one member; `text` is the message text, `seq` its
    /// channel sequence number, `last_seq` what this member saw last.
    fn receipt(&self, client: &Client, text: &str, seq: Option<i64>, last_seq: &mut i64) {
        let now = self.now_us();
        let mut parts = text.split(' ');
        let (Some("fanout"), Some(k), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (Ok(k), Ok(t)) = (k.parse::<usize>(), t.parse::<u64>()) else {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if k >= self.planned {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        let before = self.receipts[k * self.members + client.pos].fetch_add(1, Ordering::Relaxed);
        if before > 0 {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let us = now.saturating_sub(t);
        self.latency.record(us);
        if let Some((max, slow)) = self.timeline.get((k as f64 / self.rate) as usize) {
            max.fetch_max(us, Ordering::Relaxed);
            if us > 20_000 {
                slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(seq) = seq {
            if seq <= *last_seq {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            *last_seq = (*last_seq).max(seq);
        }
    }
}

/// CPU seconds (utime + stime) and resident memory of one process, from /proc.
#[derive(Clone, Copy, Default)]
struct ProcSample {
    cpu_s: f64,
    rss_mib: f64,
    hwm_mib: f64,
}

fn proc_sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed (proc(5)).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on every Linux architecture Madang builds for (proc(5): sysconf(_SC_CLK_TCK)).
    Some(ProcSample { cpu_s: ticks / 100.0, rss_mib: kib("VmRSS:") / 1024.0, hwm_mib: kib("VmHWM:") / 1024.0 })
}

fn sample_all(pids: &[String]) -> HashMap<String, ProcSample> {
    pids.iter().filter_map(|p| proc_sample(p).map(|s| (p.clone(), s))).collect()
}

async fn store_pids(cmd: &Option<String>) -> Vec<String> {
    let Some(cmd) = cmd.clone() else { return Vec::new() };
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// CPU spent by `pids` between two samples; a process that appeared in between counts whole.
fn cpu_between(before: &HashMap<String, ProcSample>, after: &HashMap<String, ProcSample>) -> f64 {
    after.iter().map(|(pid, a)| a.cpu_s - before.get(pid).map_or(0.0, |b| b.cpu_s)).sum()
}

// --------------------------------------------------------------------------- HTTP (Madang)

/// Where Madang listens, and the keep-alive connections the sends share.
struct Http {
    authority: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Http {
    fn new(base: &str) -> anyhow::Result<Self> {
        let Some(rest) = base.strip_prefix("http://") else { bail!("--base must start with http:// for madang") };
        Ok(Self { authority: rest.trim_end_matches('/').to_string(), idle: Mutex::new(Vec::new()) })
    }

    async fn connect<B>(&self) -> anyhow::Result<SendRequest<B>>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream =
            TcpStream::connect(&self.authority).await.with_context(|| format!("connect {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// One JSON request on a pooled connection: (status, body).
    async fn json(&self, method: Method, path: &str, auth: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        let body = Bytes::from(body.to_string());
        let mut attempt = 0;
        loop {
            let pooled = self.idle.lock().expect("not poisoned").pop();
            let mut sender = match pooled {
                Some(s) => s,
                None => self.connect().await?,
            };
            let ready = sender.ready().await.is_ok();
            if !ready {
                // Closed while idle (the server or the proxy timed it out): never sent.
                continue;
            }
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, &self.authority)
                .header(hyper::header::AUTHORIZATION, auth)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))?;
            match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    let bytes = resp.into_body().collect().await?.to_bytes();
                    self.idle.lock().expect("not poisoned").push(sender);
                    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    return Ok((status, value));
                }
                // A keep-alive connection closed just as it was used: the request never left.
                Err(e) if attempt == 0 && e.is_canceled() => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Creates one public channel per group of members, the first as its creator with the others
/// as members; returns the channels' ids.
async fn madang_setup(
    http: &Arc<Http>,
    args: &Args,
    clients: &[Arc<Client>],
    members: usize,
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(args.channels);
    for c in 0..args.channels {
        let group = &clients[c * members..(c + 1) * members];
        let name = format!("{}-{c}", args.channel_prefix);
        let others: Vec<&str> = group[1..].iter().map(|m| m.name.as_str()).collect();
        let body = json!({"name": name, "kind": "public", "members": others});
        let (status, body) = http.json(Method::POST, "/api/v1/chat/channels", &group[0].auth, body).await?;
        if status != StatusCode::CREATED {
            bail!("creating channel {name} as {}: {status} {body}", group[0].name);
        }
        ids.push(body["id"].as_i64().context("channel without id")?);
    }
    Ok(ids)
}

/// One member's push stream: connects, reports `ready`, counts `chat.message` events, and
/// resumes with `Last-Event-ID` if the stream ends before the run does.
async fn sse_client(
    http: Arc<Http>,
    shared: Arc<Shared>,
    client: Arc<Client>,
    channel_id: i64,
    ready: mpsc::UnboundedSender<anyhow::Result<()>>,
) {
    let mut ready = Some(ready);
    let mut last_id: Option<String> = None;
    let mut last_seq = 0i64;
    loop {
        let result = sse_once(&http, &shared, &client, channel_id, &mut ready, &mut last_id, &mut last_seq).await;
        if shared.done.load(Ordering::Relaxed) {
            return;
        }
        if let Some(r) = ready.take() {
            let _ = r.send(result.and_then(|()| Err(anyhow::anyhow!("stream ended before ready"))));
            return;
        }
        if let Err(e) = result {
            shared.error(format!("push stream of {}: {e:#}", client.name));
        }
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sse_once(
    http: &Http,
    shared: &Shared,
    client: &Client,
    channel_id: i64,
    ready: &mut Option<mpsc::UnboundedSender<anyhow::Result<()>>>,
    last_id: &mut Option<String>,
    last_seq: &mut i64,
) -> anyhow::Result<()> {
    let mut sender = http.connect::<Empty<Bytes>>().await?;
    let mut req = Request::builder()
        .uri("/api/v1/push")
        .header(hyper::header::HOST, &http.authority)
        .header(hyper::header::AUTHORIZATION, &client.auth)
        .header(hyper::header::ACCEPT, "text/event-stream");
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.as_str());
    }
    let resp = sender.send_request(req.body(Empty::new())?).await?;
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        bail!("GET /api/v1/push: {status} {}", String::from_utf8_lossy(&body));
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        // Events end with a blank line (HTML §9.2.5); Madang writes LF only.
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event[..end]);
            let (mut id, mut kind, mut data) = (None, "message", String::new());
            for line in text.split('\n') {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim_start().to_string());
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim_start();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if let Some(id) = id {
                *last_id = Some(id);
            }
            match kind {
                "ready" => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Ok(()));
                    }
                }
                "chat.message" => {
                    let Ok(v) = serde_json::from_str::<Value>(&data) else {
                        shared.error(format!("unparsable chat.message: {data}"));
                        continue;
                    };
                    if v["op"] != "new" {
                        continue;
                    }
                    if v["channel"].as_i64() != Some(channel_id) {
                        shared.foreign.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let m = &v["message"];
                    shared.receipt(client, m["text"].as_str().unwrap_or(""), m["seq"].as_i64(), last_seq);
                }
                "resync" => shared.error(format!("{} got resync: {data}", client.name)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Sends message k as its member over HTTP; records the answer.
async fn madang_send(http: Arc<Http>, shared: Arc<Shared>, client: Arc<Client>, channel_id: i64, k: usize, run: u64) {
    let t = shared.now_us();
    shared.sent_at[k].store(t, Ordering::Relaxed);
    let body = json!({"text": format!("fanout {k} {t}"), "client_id": format!("fanout-{run}-{k}")});
    let path = format!("/api/v1/chat/channels/{channel_id}/messages");
    match http.json(Method::POST, &path, &client.auth, body).await {
        Ok((status, _)) if status.is_success() => {
            shared.ack_latency.record(shared.now_us().saturating_sub(t));
            shared.acked[k].store(true, Ordering::Relaxed);
        }
        Ok((status, body)) => {
            shared.send_errors.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("send {k} as {}: {status} {body}", client.name));
        }
        Err(e) => {
            shared.send_errors.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("send {k} as {}: {e:#}", client.name));
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
}

// --------------------------------------------------------------------------- WebSocket (reference)

/// One reference client: a WebSocket subscribed to its channel; the writer half takes the
/// frames to send from `outbox`.
async fn ws_client(
    base: String,
    shared: Arc<Shared>,
    client: Arc<Client>,
    channel: String,
    mut outbox: mpsc::UnboundedReceiver<String>,
    ready: mpsc::UnboundedSender<anyhow::Result<()>>,
) {
    let url = format!("{}/?user={}", base.trim_end_matches('/'), client.name);
    let ws = match tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("connect {url}: {e}")));
            return;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let subscribe = json!({"op": "subscribe", "channel": channel}).to_string();
    if let Err(e) = sink.send(WsMessage::text(subscribe)).await {
        let _ = ready.send(Err(anyhow::anyhow!("subscribe: {e}")));
        return;
    }
    let writer = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(text) = outbox.recv().await {
                if let Err(e) = sink.send(WsMessage::text(text)).await {
                    shared.error(format!("websocket send: {e}"));
                    return;
                }
            }
        })
    };
    let mut ready = Some(ready);
    let mut last_seq = 0i64;
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(WsMessage::Text(t)) => t,
            Ok(WsMessage::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                if !shared.done.load(Ordering::Relaxed) {
                    shared.error(format!("websocket of {}: {e}", client.name));
                }
                break;
            }
        };
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            shared.error(format!("unparsable frame: {}", text.as_str()));
            continue;
        };
        match v["op"].as_str() {
            Some("subscribed") => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
            }
            Some("new") => {
                if v["channel"].as_str() != Some(channel.as_str()) {
                    shared.foreign.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let m = &v["message"];
                shared.receipt(&client, m["text"].as_str().unwrap_or(""), m["seq"].as_i64(), &mut last_seq);
            }
            Some("ack") => {
                let k =
                    v["client_id"].as_str().and_then(|c| c.rsplit('-').next()).and_then(|k| k.parse::<usize>().ok());
                if let Some(k) = k.filter(|k| *k < shared.planned) {
                    let t = shared.sent_at[k].load(Ordering::Relaxed);
                    shared.ack_latency.record(shared.now_us().saturating_sub(t));
                    shared.acked[k].store(true, Ordering::Relaxed);
                    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
            _ => shared.error(format!("unexpected frame: {v}")),
        }
    }
    if let Some(r) = ready.take() {
        let _ = r.send(Err(anyhow::anyhow!("closed before subscribed")));
    }
    if !shared.done.load(Ordering::Relaxed) {
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    writer.abort();
}

// --------------------------------------------------------------------------- the run

fn read_users(path: &PathBuf, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let users: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (u, p) = l.trim().split_once(' ').unwrap_or((l.trim(), ""));
            (u.to_string(), p.to_string())
        })
        .take(n)
        .collect();
    if users.len() < n {
        bail!("{} has {} users, {n} needed", path.display(), users.len());
    }
    Ok(users)
}

async fn run(args: Args) -> anyhow::Result<Value> {
    if args.channels == 0 || args.clients == 0 || !args.clients.is_multiple_of(args.channels) {
        bail!("--clients ({}) must be a positive multiple of --channels ({})", args.clients, args.channels);
    }
    let members = args.clients / args.channels;
    if members > 255 {
        bail!("at most 255 members per channel");
    }
    let planned = (args.rate * args.duration).round() as usize;
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let names: Vec<(String, String)> = match args.target {
        TargetKind::Madang => read_users(args.users.as_ref().context("--users is needed for madang")?, args.clients)?,
        TargetKind::Reference => (0..args.clients).map(|i| (format!("u{i}"), String::new())).collect(),
    };
    let clients: Vec<Arc<Client>> = names
        .into_iter()
        .enumerate()
        .map(|(i, (name, password))| {
            let auth =
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}")));
            Arc::new(Client { name, auth, channel: i / members, pos: i % members })
        })
        .collect();
    let shared = Arc::new(Shared {
        start: Instant::now(),
        members,
        planned,
        receipts: (0..planned * members).map(|_| AtomicU8::new(0)).collect(),
        acked: (0..planned).map(|_| AtomicBool::new(false)).collect(),
        sent_at: (0..planned).map(|_| AtomicU64::new(0)).collect(),
        latency: Histogram::new(),
        ack_latency: Histogram::new(),
        timeline: (0..=args.duration.ceil() as usize).map(|_| (AtomicU64::new(0), AtomicU32::new(0))).collect(),
        rate: args.rate,
        received: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        foreign: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        sent: AtomicUsize::new(0),
        send_errors: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });

    // Set up: channels (Madang), then every client connected and subscribed.
    let setup_start = Instant::now();
    let http = match args.target {
        TargetKind::Madang => Some(Arc::new(Http::new(&args.base)?)),
        TargetKind::Reference => None,
    };
    let channel_ids = match &http {
        Some(http) => madang_setup(http, &args, &clients, members).await?,
        None => (0..args.channels as i64).collect(),
    };
    let setup_secs = setup_start.elapsed().as_secs_f64();
    let connect_start = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut outboxes = Vec::new();
    let mut tasks = Vec::new();
    let mut connected = 0;
    for (i, client) in clients.iter().enumerate() {
        // Connect in waves so the server's accept queue and the handshakes are not one burst.
        if i >= args.connect_concurrency.max(1) {
            match ready_rx.recv().await {
                Some(Ok(())) => connected += 1,
                Some(Err(e)) => bail!("client could not connect: {e:#}"),
                None => bail!("clients gone"),
            }
        }
        let (shared, client, tx) = (shared.clone(), client.clone(), ready_tx.clone());
        match args.target {
            TargetKind::Madang => {
                let http = http.clone().expect("madang has http");
                let id = channel_ids[client.channel];
                tasks.push(tokio::spawn(sse_client(http, shared, client, id, tx)));
            }
            TargetKind::Reference => {
                let (out_tx, out_rx) = mpsc::unbounded_channel();
                outboxes.push(out_tx);
                let channel = format!("{}-{}", args.channel_prefix, client.channel);
                tasks.push(tokio::spawn(ws_client(args.base.clone(), shared, client, channel, out_rx, tx)));
            }
        }
    }
    while connected < clients.len() {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(e))) => bail!("client could not connect: {e:#}"),
            Ok(None) => bail!("clients gone"),
            Err(_) => bail!("{connected}/{} clients ready after 60 s", clients.len()),
        }
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    // Let the last streams' first bytes settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The measured window: from the first send to the end of the grace period.
    let server_pids: Vec<String> = args.server_pids.iter().map(u32::to_string).collect();
    let proxy_pids: Vec<String> = args.proxy_pids.iter().map(u32::to_string).collect();
    let store_before = sample_all(&store_pids(&args.store_pids_cmd).await);
    let (server_before, proxy_before) = (sample_all(&server_pids), sample_all(&proxy_pids));
    let self_before = proc_sample("self").unwrap_or_default();
    let window_start = Instant::now();
    let send_start_us = shared.now_us();
    let permits = Arc::new(Semaphore::new(args.max_in_flight.max(1)));
    let mut max_lag = Duration::ZERO;
    for k in 0..planned {
        let due = window_start + Duration::from_secs_f64(k as f64 / args.rate);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due.into()).await;
        } else {
            max_lag = max_lag.max(now - due);
        }
        let channel = k % args.channels;
        let pos = (k / args.channels) % members;
        let client = clients[channel * members + pos].clone();
        shared.sent.fetch_add(1, Ordering::Relaxed);
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        match args.target {
            TargetKind::Madang => {
                let permit = permits.clone().acquire_owned().await?;
                let (http, shared) = (http.clone().expect("madang has http"), shared.clone());
                let id = channel_ids[channel];
                tokio::spawn(async move {
                    madang_send(http, shared, client, id, k, run_id).await;
                    drop(permit);
                });
            }
            TargetKind::Reference => {
                // Over the member's own socket; the ack comes back on it (counted by its reader).
                while shared.in_flight.load(Ordering::Relaxed) > args.max_in_flight {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let t = shared.now_us();
                shared.sent_at[k].store(t, Ordering::Relaxed);
                let frame = json!({"op": "send", "channel": format!("{}-{channel}", args.channel_prefix),
                                   "text": format!("fanout {k} {t}"), "client_id": format!("fanout-{run_id}-{k}")});
                if outboxes[channel * members + pos].send(frame.to_string()).is_err() {
                    shared.send_errors.fetch_add(1, Ordering::Relaxed);
                    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
    let send_secs = (shared.now_us() - send_start_us) as f64 / 1e6;
    // Wait for every send's answer (bounded), then for the receipts, at most --grace seconds.
    let answers_deadline = Instant::now() + Duration::from_secs(30);
    while shared.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < answers_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unanswered = shared.in_flight.load(Ordering::Relaxed);
    let acked = shared.acked.iter().filter(|a| a.load(Ordering::Relaxed)).count();
    let expected = (acked * members) as u64;
    let grace_deadline = Instant::now() + Duration::from_secs_f64(args.grace);
    while Instant::now() < grace_deadline {
        let got = shared.received.load(Ordering::Relaxed) - shared.duplicates.load(Ordering::Relaxed);
        if got >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window_secs = window_start.elapsed().as_secs_f64();
    let self_after = proc_sample("self").unwrap_or_default();
    let (server_after, proxy_after) = (sample_all(&server_pids), sample_all(&proxy_pids));
    let store_after = sample_all(&store_pids(&args.store_pids_cmd).await);
    shared.done.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }

    // Tally: a loss is an acknowledged message some member never got.
    let mut lost = 0u64;
    let mut lost_messages = 0u64;
    let mut unacked_delivered = 0u64;
    for k in 0..planned {
        let row = &shared.receipts[k * members..(k + 1) * members];
        let missing = row.iter().filter(|c| c.load(Ordering::Relaxed) == 0).count() as u64;
        if shared.acked[k].load(Ordering::Relaxed) {
            lost += missing;
            lost_messages += u64::from(missing > 0);
        } else if missing < members as u64 {
            unacked_delivered += 1;
        }
    }
    let server_cpu = cpu_between(&server_before, &server_after);
    let driver_cpu = self_after.cpu_s - self_before.cpu_s;
    let per_process: Vec<Value> = server_pids
        .iter()
        .filter_map(|p| {
            server_after.get(p).map(|a| {
                json!({"pid": p, "cpu_s": a.cpu_s - server_before.get(p).map_or(0.0, |b| b.cpu_s),
                       "rss_mib": a.rss_mib, "hwm_mib": a.hwm_mib})
            })
        })
        .collect();
    let errors = shared.errors.lock().expect("not poisoned").clone();
    Ok(json!({
        "target": format!("{:?}", args.target).to_lowercase(),
        "clients": args.clients,
        "channels": args.channels,
        "members_per_channel": members,
        "rate": args.rate,
        "duration": args.duration,
        "planned": planned,
        "sent": shared.sent.load(Ordering::Relaxed),
        "acked": acked,
        "send_errors": shared.send_errors.load(Ordering::Relaxed),
        "unanswered": unanswered,
        "send_secs": send_secs,
        "achieved_rate": shared.sent.load(Ordering::Relaxed) as f64 / send_secs.max(1e-9),
        "schedule_lag_max_ms": max_lag.as_secs_f64() * 1000.0,
        "ack": shared.ack_latency.summary(),
        "expected": expected,
        "received": shared.received.load(Ordering::Relaxed),
        "lost": lost,
        "lost_messages": lost_messages,
        "duplicates": shared.duplicates.load(Ordering::Relaxed),
        "out_of_order": shared.out_of_order.load(Ordering::Relaxed),
        "foreign": shared.foreign.load(Ordering::Relaxed),
        "unacked_delivered": unacked_delivered,
        "reconnects": shared.reconnects.load(Ordering::Relaxed),
        "latency": shared.latency.summary(),
        "timeline": shared.timeline.iter().map(|(max, slow)| serde_json::json!({
            "max_ms": max.load(Ordering::Relaxed) as f64 / 1000.0,
            "over_20ms": slow.load(Ordering::Relaxed),
        })).collect::<Vec<_>>(),
        "setup_secs": setup_secs,
        "connect_secs": connect_secs,
        "window_secs": window_secs,
        "driver_cpu_s": driver_cpu,
        "driver_cpu_pct": 100.0 * driver_cpu / window_secs,
        "server_cpu_s": server_cpu,
        "server_cpu_pct": 100.0 * server_cpu / window_secs,
        "server_rss_mib": server_after.values().map(|s| s.rss_mib).sum::<f64>(),
        "server_hwm_mib": server_after.values().map(|s| s.hwm_mib).sum::<f64>(),
        "servers": per_process,
        "proxy_cpu_s": cpu_between(&proxy_before, &proxy_after),
        "proxy_rss_mib": proxy_after.values().map(|s| s.rss_mib).sum::<f64>(),
        "store_cpu_s": cpu_between(&store_before, &store_after),
        "store_processes": store_after.len(),
        "errors": errors,
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?
    };
    let out = runtime.block_on(run(args))?;
    println!("{out}");
    // The aborted streams' tasks are dropped with the runtime; do not wait for their sockets.
    runtime.shutdown_background();
    Ok(())
}

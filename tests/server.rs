//! The real `madang serve` process: restarts, `kill -9` during writes,
//! graceful shutdown. On both databases.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, TestDb, madang};
use tokio::sync::Mutex;

async fn add_user(env: &[(String, String)], name: &str, password: &str) {
    let o = madang(env, &["user", "add", name, "--email", &format!("{name}@example.com")], &format!("{password}\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

async fn new_app_password(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
    label: &str,
) -> Option<String> {
    let r = client
        .post(format!("{base}/api/v1/me/app-passwords"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({ "label": label }))
        .send()
        .await
        .ok()?;
    if r.status() != 201 {
        return None;
    }
    let body: serde_json::Value = r.json().await.ok()?;
    Some(body["password"].as_str()?.to_string())
}

async fn status_of_me(client: &reqwest::Client, base: &str, user: &str, password: &str) -> u16 {
    client
        .get(format!("{base}/api/v1/me"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: plain syscall on a child process we started.
    unsafe {
        libc::kill(pid, sig);
    }
}

async fn restart_keeps_data(db: &TestDb) {
    let env = db.env();
    add_user(&env, "alice", "alice's password").await;
    let client = reqwest::Client::new();
    let server = Server::start(&env).await;
    let secret = new_app_password(&client, &server.base, "alice", "alice's password", "phone").await.unwrap();
    assert_eq!(status_of_me(&client, &server.base, "alice", &secret).await, 200);
    drop(server);

    let server = Server::start(&env).await;
    assert_eq!(status_of_me(&client, &server.base, "alice", &secret).await, 200);
    assert_eq!(status_of_me(&client, &server.base, "alice", "alice's password").await, 200);
}

/// Eight clients create app passwords as fast as they can; the server is
/// killed with SIGKILL in the middle. Every write the server acknowledged
/// (201) must be there after a restart.
async fn kill_9_loses_no_acknowledged_write(db: &TestDb) {
    let env = db.env();
    add_user(&env, "writer", "writer's password").await;
    let mut server = Server::start(&env).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let base = server.base.clone();
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0.. {
                if Instant::now() > deadline {
                    break;
                }
                match new_app_password(&client, &base, "writer", "writer's password", &format!("w{worker}-{n}")).await {
                    Some(secret) => acknowledged.lock().await.push(secret),
                    None => break,
                }
            }
        }));
    }
    // Let writes flow, then pull the plug.
    while acknowledged.lock().await.len() < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(server.pid(), libc::SIGKILL);
    let _ = server.child.wait();
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= 40, "only {} writes before the kill", acknowledged.len());
    drop(server);

    let server = Server::start(&env).await;
    let client = reqwest::Client::new();
    for secret in &acknowledged {
        assert_eq!(status_of_me(&client, &server.base, "writer", secret).await, 200, "acknowledged app password lost");
    }
    let listed: Vec<serde_json::Value> = client
        .get(format!("{}/api/v1/me/app-passwords", server.base))
        .basic_auth("writer", Some("writer's password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.len() >= acknowledged.len());
}

/// SIGTERM stops accepting but lets a request that is already in flight
/// finish; then the process exits 0.
async fn sigterm_finishes_in_flight_requests(db: &TestDb) {
    let env = db.env();
    add_user(&env, "slow", "slow's password").await;
    let mut server = Server::start(&env).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let body = br#"{"label": "uploaded slowly"}"#;
    let auth = base64_basic("slow", "slow's password");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/me/app-passwords HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..10]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    signal(server.pid(), libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused while the old one is served.
    assert!(reqwest::Client::new().get(format!("{}/healthz", server.base)).send().await.is_err());

    stream.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

on_both_databases!(restart_keeps_data, kill_9_loses_no_acknowledged_write, sigterm_finishes_in_flight_requests);

//! The real `madang serve` process under request bodies built to be slow
//! (issue 19, "Quadratic XML"): they are refused or answered quickly, `/healthz`
//! keeps answering while they are parsed, and the process's peak memory stays
//! bounded. SQLite only: XML parsing happens before any database work.

mod common;

use std::time::{Duration, Instant};

use common::{Server, TestDb, madang};

const USER: &str = "alice";
const PASSWORD: &str = "alice's password";

/// A PROPFIND whose root declares `n` namespace prefixes (~2.4 MiB for 100,000).
fn many_prefixes(n: usize) -> String {
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:""#);
    for i in 0..n {
        body.push_str(&format!(r#" xmlns:p{i}="urn:x:{i}""#));
    }
    body + "><D:allprop/></D:propfind>"
}

/// A PROPFIND whose root carries `n` attributes (~1 MiB for 100,000).
fn many_attributes(n: usize) -> String {
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:""#);
    for i in 0..n {
        body.push_str(&format!(r#" a{i}="""#));
    }
    body + "><D:allprop/></D:propfind>"
}

/// A PROPPATCH removing `n` properties (~1 MiB for 99,000).
fn many_removals(n: usize) -> String {
    let mut body = String::from(r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop>"#);
    for i in 0..n {
        body.push_str(&format!("<D:n{i}/>"));
    }
    body + "</D:prop></D:remove></D:propertyupdate>"
}

/// The largest parse a PROPFIND can ask for and be answered: as many
/// properties as allowed, and elements up to the limit in an unknown
/// element, which RFC 4918 §17 says to ignore.
fn largest_accepted_propfind() -> String {
    let mut body = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
    for i in 0..madang_dav::propfind::MAX_PROPERTIES {
        body.push_str(&format!("<D:n{i}/>"));
    }
    body.push_str(r#"</D:prop><x:ignored xmlns:x="urn:x">"#);
    for i in 0..madang_dav::xml::MAX_ELEMENTS - madang_dav::propfind::MAX_PROPERTIES - 10 {
        body.push_str(&format!("<x:e{i}/>"));
    }
    body + "</x:ignored></D:propfind>"
}

/// Peak resident set size of a process, in bytes (`VmHWM`).
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM value");
    kib * 1024
}

/// Sends a DAV request to the user's principal; returns its status and duration.
/// CPU time a process has used so far (user + system), from `/proc/<pid>/stat`.
fn cpu_time(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat format").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

async fn send(client: &reqwest::Client, base: &str, method: &str, body: String) -> (u16, Duration) {
    let start = Instant::now();
    let status = client
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}/dav/principals/{USER}/"))
        .basic_auth(USER, Some(PASSWORD))
        .header("depth", "0")
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        // Before the fix the request ran for minutes; the client's timeout ends the test.
        .unwrap_or(0);
    (status, start.elapsed())
}

/// See: issue 19, "Quadratic XML". Two at once, as in the issue, of the
/// 100,000-prefix and the 100,000-attribute bodies, then of a PROPPATCH with
/// 99,000 removals and of the largest PROPFIND that is answered. Before the
/// fix each refused body took ~12 s of CPU on an async worker (minutes in a
/// debug build) and `/healthz` stalled behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue19_quadratic_xml_does_not_stall_the_server() {
    let db = TestDb::sqlite();
    let env = db.env();
    let added = madang(&env, &["user", "add", USER, "--email", "alice@example.com"], &format!("{PASSWORD}\n"));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let server = Server::start(&env).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    // Once first, so that password verification is cached and the home exists.
    let (status, _) = send(&client, &server.base, "PROPFIND", String::new()).await;
    assert_eq!(status, 207);
    let rss_before = peak_rss(server.pid());
    let cpu_before = cpu_time(server.pid());

    let heavy = [
        ("PROPFIND", 400, many_prefixes(100_000)),
        ("PROPFIND", 400, many_attributes(100_000)),
        ("PROPPATCH", 400, many_removals(99_000)),
        ("PROPFIND", 207, largest_accepted_propfind()),
    ];
    let base = server.base.clone();
    let load = tokio::spawn(async move {
        let mut answers = Vec::new();
        for (method, expected, body) in heavy {
            let (first, second) =
                tokio::join!(send(&client, &base, method, body.clone()), send(&client, &base, method, body));
            answers.extend([first, second].map(|(status, took)| (expected, status, took)));
        }
        answers
    });

    // Probe `/healthz` for as long as the heavy requests run.
    let probe = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    while probes < 5 || !load.is_finished() {
        let start = Instant::now();
        let ok = probe.get(format!("{}/healthz", server.base)).send().await.is_ok_and(|r| r.status() == 200);
        let took = if ok { start.elapsed() } else { Duration::from_secs(5) };
        slowest = slowest.max(took);
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers = load.await.unwrap();
    let longest = answers.iter().map(|(_, _, took)| *took).max().unwrap_or_default();
    let rss_after = peak_rss(server.pid());
    let cpu = cpu_time(server.pid()) - cpu_before;
    eprintln!(
        "four pairs of heavy requests: longest {longest:?}, server CPU {cpu:?}; /healthz slowest {slowest:?} over \
         {probes} probes; peak RSS {} MiB before, {} MiB after",
        rss_before >> 20,
        rss_after >> 20
    );
    for (expected, status, took) in answers {
        assert_eq!(status, expected, "after {took:?}");
    }
    assert!(slowest < Duration::from_millis(500), "/healthz took {slowest:?} while bodies were parsed");
    // A debug build parses the largest accepted body in under a second.
    assert!(longest < Duration::from_secs(10), "a heavy request took {longest:?}");
    // Two bodies of 1–2.5 MiB at a time: their trees stay within a bounded multiple.
    assert!(rss_after < 128 << 20, "peak RSS {} MiB", rss_after >> 20);
}

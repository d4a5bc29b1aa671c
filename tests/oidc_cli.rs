//! `madang oidc …` as an admin runs it: the real binary against both databases.

mod common;

use common::{TestDb, madang};

fn out(o: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

async fn clients_are_managed_from_the_command_line(db: &TestDb) {
    let env = db.env();
    let add = madang(
        &env,
        &[
            "oidc",
            "client",
            "add",
            "gitea",
            "--redirect-uri",
            "https://git.example.org/user/oauth2/madang/callback",
            "--post-logout-redirect-uri",
            "https://git.example.org/",
            "--pkce",
            "optional",
            "--scope",
            "openid email profile groups",
        ],
        "",
    );
    let (stdout, stderr) = out(&add);
    assert!(add.status.success(), "{stderr}");
    let secret = stdout.lines().find_map(|l| l.strip_prefix("client_secret: ")).expect("secret printed");
    assert_eq!(secret.len(), 43);

    let public =
        madang(&env, &["oidc", "client", "add", "app", "--public", "--redirect-uri", "http://127.0.0.1/cb"], "");
    let (stdout, stderr) = out(&public);
    assert!(public.status.success(), "{stderr}");
    assert!(!stdout.contains("client_secret"), "{stdout}");

    let list = madang(&env, &["oidc", "client", "list"], "");
    let (stdout, _) = out(&list);
    assert!(stdout.contains("gitea") && stdout.contains("confidential") && stdout.contains("public"), "{stdout}");

    let show = madang(&env, &["oidc", "client", "show", "gitea", "--json"], "");
    let (stdout, _) = out(&show);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["pkce"], "optional");
    assert!(!stdout.contains(secret) && !stdout.contains("secret_hash"), "{stdout}");

    let rotated = madang(&env, &["oidc", "client", "rotate-secret", "gitea"], "");
    let (stdout, _) = out(&rotated);
    let new = stdout.lines().find_map(|l| l.strip_prefix("client_secret: ")).expect("new secret");
    assert_ne!(new, secret);

    // Errors: one line, non-zero.
    let dup = madang(&env, &["oidc", "client", "add", "gitea", "--redirect-uri", "https://x.example/cb"], "");
    let (_, stderr) = out(&dup);
    assert_eq!(dup.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let bad = madang(&env, &["oidc", "client", "add", "x", "--redirect-uri", "https://x.example/cb#frag"], "");
    assert_eq!(bad.status.code(), Some(2), "{}", out(&bad).1);
    let insecure = madang(&env, &["oidc", "client", "add", "y", "--redirect-uri", "not a uri"], "");
    assert_eq!(insecure.status.code(), Some(2));
    let public_optional = madang(
        &env,
        &["oidc", "client", "add", "z", "--public", "--pkce", "optional", "--redirect-uri", "https://z/cb"],
        "",
    );
    assert_eq!(public_optional.status.code(), Some(2));

    let delete = madang(&env, &["oidc", "client", "delete", "gitea"], "");
    assert!(delete.status.success());
    let gone = madang(&env, &["oidc", "client", "show", "gitea"], "");
    assert_eq!(gone.status.code(), Some(1));
    assert!(out(&gone).1.contains("no OAuth client `gitea`"));
}

async fn rotate_keys_prints_new_key_ids(db: &TestDb) {
    let env = db.env();
    let first = madang(&env, &["oidc", "rotate-keys"], "");
    let (stdout, stderr) = out(&first);
    assert!(first.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "one RS256 and one ES256 key: {stdout}");
    let second = madang(&env, &["oidc", "rotate-keys"], "");
    assert_ne!(out(&second).0, stdout);
}

/// Review finding L1: token lifetimes had no upper bound, and adding a huge
/// one to a time could panic. Configuration now refuses them, saying why.
async fn review_l1_token_lifetimes_are_capped(db: &TestDb) {
    for (var, value, allowed) in [
        ("MADANG_OIDC_ACCESS_TOKEN_LIFETIME", "2d", "from `10s` to `1d`"),
        ("MADANG_OIDC_REFRESH_TOKEN_LIFETIME", "400d", "from `1m` to `365d`"),
        ("MADANG_OIDC_REFRESH_TOKEN_LIFETIME", "100000000d", "from `1m` to `365d`"),
    ] {
        let mut env = db.env();
        env.push((var.into(), value.into()));
        let run = madang(&env, &["oidc", "client", "list"], "");
        let (_, stderr) = out(&run);
        assert_eq!(run.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(allowed) && stderr.contains(var), "{stderr}");
    }
    let mut env = db.env();
    env.push(("MADANG_OIDC_ACCESS_TOKEN_LIFETIME".into(), "1d".into()));
    env.push(("MADANG_OIDC_REFRESH_TOKEN_LIFETIME".into(), "365d".into()));
    let run = madang(&env, &["oidc", "client", "list"], "");
    assert!(run.status.success(), "{}", out(&run).1);
}

on_both_databases!(
    clients_are_managed_from_the_command_line,
    rotate_keys_prints_new_key_ids,
    review_l1_token_lifetimes_are_capped
);

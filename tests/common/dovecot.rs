//! The harness's Dovecot as the mail tests find it: conformance-tests/dovecot.sh, started twice
//! by .ci/test (once with CONDSTORE/QRESYNC hidden), and the OAuth provider it starts beside each.

use std::path::PathBuf;

/// One Dovecot: its directory, ports and throw-away CA, and its OAuth provider's URL.
pub struct Harness {
    pub dir: PathBuf,
    pub imap: u16,
    pub imaps: u16,
    pub submission: u16,
    pub ca: Vec<u8>,
    pub oauth: Option<String>,
}

/// The full Dovecot, or with `basic` the one without CONDSTORE/QRESYNC (its variables start
/// `MADANG_TEST_DOVECOT_BASIC_`). `None`, after a loud line, when it was not started;
/// `MADANG_REQUIRE_DOVECOT=1` (CI) makes that a failure.
pub fn harness(basic: bool) -> Option<Harness> {
    let prefix = if basic { "MADANG_TEST_DOVECOT_BASIC" } else { "MADANG_TEST_DOVECOT" };
    let var = |k: &str| std::env::var(format!("{prefix}_{k}")).ok();
    let port = |k: &str| var(k).and_then(|v| v.parse::<u16>().ok());
    let found = (|| {
        Some(Harness {
            dir: PathBuf::from(var("DIR")?),
            imap: port("IMAP")?,
            imaps: port("IMAPS")?,
            submission: port("SUBMISSION")?,
            ca: std::fs::read(var("CA")?).ok()?,
            oauth: var("OAUTH"),
        })
    })();
    if found.is_none() {
        let flag = if basic { " --no-condstore" } else { "" };
        if std::env::var("MADANG_REQUIRE_DOVECOT").is_ok_and(|v| v == "1") {
            panic!("MADANG_REQUIRE_DOVECOT=1 but no {prefix}_*: run conformance-tests/dovecot.sh start DIR{flag}");
        }
        eprintln!(
            "!!!!! MAIL TEST SKIPPED: start conformance-tests/dovecot.sh{flag} and export its {prefix}_* lines !!!!!"
        );
    }
    found
}

/// Where the test provider sends the browser back (nothing listens there: tests read the
/// redirect's `Location`).
pub const OAUTH_REDIRECT: &str = "http://madang.test/mail/oauth/callback";

/// conformance-tests/oauth_provider.py at `idp`, as an administrator would configure it.
pub fn test_idp(idp: &str) -> madang::mail::oauth::Provider {
    madang::mail::oauth::Provider::custom(
        "Test IdP",
        format!("{idp}/authorize"),
        format!("{idp}/token"),
        "mail offline_access".into(),
        "madang-test".into(),
        "madang-test-secret".into(),
    )
}

//! Golden tests over `fixtures/mail/`: real-world shapes of mail (EUC-KR and ISO-2022-JP, quoted-
//! printable HTML with a tracker and a script, broken MIME with an unknown charset and an RFC 2231
//! file name, folded headers with a 60-id References chain and an attached message). Each is read
//! the way the sync reads it (header, then the text's first bytes) and the way the reader reads it
//! (whole), and compared with `<name>.golden.json`. `UPDATE_GOLDEN=1` rewrites the golden files;
//! read the diff before committing one.

use std::path::Path;
use std::sync::Arc;

use madang_mail::body::{Images, read};
use madang_mail::summary::{PREVIEW_BYTES, summarize};
use serde_json::{Value, json};

fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(raw.len());
    (&raw[..at], &raw[at..])
}

fn describe(raw: &[u8]) -> Value {
    let (header, text) = split(raw);
    let s = summarize(header, &text[..text.len().min(PREVIEW_BYTES)]);
    let images = Images { proxy: None, part_url: Arc::new(|p| format!("/part/{p}")) };
    let body = read(raw, &images);
    json!({
        "summary": {
            "from": [s.from.name, s.from.email],
            "to": s.to.iter().map(|a| [a.name.clone(), a.email.clone()]).collect::<Vec<_>>(),
            "cc": s.cc.iter().map(|a| [a.name.clone(), a.email.clone()]).collect::<Vec<_>>(),
            "subject": s.subject, "base_subject": s.base_subject, "is_reply": s.is_reply,
            "message_id": s.message_id, "in_reply_to": s.in_reply_to,
            "references": s.references.len(), "last_reference": s.references.last(),
            "sent_at": s.sent_at.map(|d| d.to_rfc3339()), "preview": s.preview,
        },
        "body": body.map(|b| json!({
            "text": b.text.trim().chars().take(300).collect::<String>(),
            "html": b.html, "remote_images": b.remote_images,
            "attachments": b.attachments.iter().map(|a| json!([a.name, a.content_type, a.size, a.inline])).collect::<Vec<_>>(),
        })),
    })
}

#[test]
fn the_corpus_reads_as_its_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/mail");
    let mut seen = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names.into_iter().filter(|p| p.extension().is_some_and(|e| e == "eml")) {
        seen += 1;
        let got = describe(&std::fs::read(&path).unwrap());
        let golden = path.with_extension("golden.json");
        if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
            std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(&golden).unwrap_or_default()).unwrap_or(Value::Null);
        if got != want {
            failures.push(format!("{}:\n{}", path.display(), serde_json::to_string_pretty(&got).unwrap()));
        }
    }
    assert!(seen >= 5, "the corpus is in fixtures/mail/");
    assert!(failures.is_empty(), "differs from the golden file (UPDATE_GOLDEN=1 rewrites):\n{}", failures.join("\n"));
}

//! Golden-file checks for tests: compare with `testdata/golden/<name>`, or
//! rewrite the file when `UPDATE_EXPECT=1` is set (then review the diff).

use std::path::PathBuf;

pub(crate) fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden").join(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_EXPECT=1 to create it", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file; run with UPDATE_EXPECT=1 and review.\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

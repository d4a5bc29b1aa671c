//! Logs (tracing) and metrics (Prometheus) set-up, once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global log subscriber. Logs go to stderr so that commands
/// such as `madang app-password add` keep stdout for their result.
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::builder().parse_lossy(&config.level);
    // Colour only for a person at a terminal: a log file or journald gets
    // plain text (and formatting skips the escape codes on every line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    // Ignore the error when a subscriber is already set (tests call this
    // more than once in one process).
    let _ = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// The process-wide Prometheus recorder. The `metrics` macros write to a
/// global recorder, so there is exactly one, shared by every router built in
/// this process (tests build many).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; the handle
            // still renders this recorder's (then empty) metrics.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

//! The SMTP submission listener (RFC 6409 / 4954): Madang's own EHLO and AUTH, then each
//! transaction relayed through the linked account's submission server.

use std::sync::Arc;

use super::MailProxy;
use super::listen::Conn;

/// Serves one SMTP submission connection until it ends.
pub async fn serve(proxy: Arc<MailProxy>, conn: Conn) {
    let _ = (proxy, conn);
}

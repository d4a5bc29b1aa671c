//! The IMAP listener (RFC 9051 / 3501): Madang's own pre-authentication state, then a relay to
//! the linked account's server.

use std::sync::Arc;

use super::MailProxy;
use super::listen::Conn;

/// Serves one IMAP connection until it ends.
pub async fn serve(proxy: Arc<MailProxy>, conn: Conn) {
    let _ = (proxy, conn);
}

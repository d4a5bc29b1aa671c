//! QRESYNC (RFC 7162 §3.2) for the incremental sync: turning it on for a session, and the flag
//! fetch that also says which messages were expunged (`VANISHED`), so that a folder which lost
//! messages needs no `UID SEARCH ALL`. Protocol only, like `sync`: the caller updates the index.
//!
//! Both commands are read here up to their tagged answer (as `command` does) instead of through
//! async-imap's methods. Those hand every untagged answer they do not expect (`ENABLED`,
//! `VANISHED`) to `Session::unsolicited_responses`, a channel of 100 that silently drops what does
//! not fit, and nothing else in Madang empties it; a server may also spread one answer over many
//! `VANISHED` lines. Read here, no line can be lost.

use std::ops::RangeInclusive;

use async_imap::error::Error;
use async_imap::imap_proto::{AttributeValue, Capability, Response, Status};

use super::connect::{Connector, Failure, Session, Step};
use super::sync::flag_name;

/// Sends `ENABLE QRESYNC` (RFC 5161 §3.1, RFC 7162 §3.2.3): right after login, since ENABLE is
/// only valid before a folder is selected. Answers whether the server says it did
/// (`* ENABLED QRESYNC`, RFC 5161 §3.2): only then does this session get `VANISHED` answers.
/// Enabling QRESYNC enables CONDSTORE as well (RFC 7162 §3.2.3).
pub async fn enable(connector: &Connector, session: &mut Session) -> Result<bool, Failure> {
    connector
        .step(Step::Protocol, async {
            let tag = session.run_command("ENABLE QRESYNC").await?;
            let mut enabled = false;
            loop {
                let Some(response) = session.read_response().await? else { return Err(Error::ConnectionLost) };
                // imap-proto parses `* ENABLED …` and `* CAPABILITY …` alike; only the first
                // names what this session has turned on.
                let is_enabled =
                    response.borrow_owner().get(..10).is_some_and(|l| l.eq_ignore_ascii_case(b"* ENABLED "));
                match response.parsed() {
                    Response::Capabilities(names) if is_enabled => {
                        enabled |= names
                            .iter()
                            .any(|c| matches!(c, Capability::Atom(name) if name.eq_ignore_ascii_case("QRESYNC")));
                    }
                    Response::Done { tag: done, status, .. } if *done == tag => {
                        return Ok(enabled && matches!(status, Status::Ok));
                    }
                    _ => {}
                }
            }
        })
        .await
}

/// UIDs a server reported expunged, kept as the ranges it sent and never expanded: a server may
/// name UIDs the folder never had (`VANISHED (EARLIER) 1:4000000000` is a correct answer when it
/// does not keep expunges apart by mod-sequence, RFC 7162 §3.2.6 and §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vanished {
    ranges: Vec<RangeInclusive<u32>>,
}

impl Vanished {
    /// Adds one `VANISHED` line's ranges; `8:3` is `3:8` (a `seq-range` names the values between
    /// its ends "regardless of order", RFC 9051 §9).
    pub fn add(&mut self, ranges: &[RangeInclusive<u32>]) {
        self.ranges.extend(ranges.iter().map(|r| {
            let (a, b) = (*r.start(), *r.end());
            a.min(b)..=a.max(b)
        }));
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Those of `uids` (the index's) that the ranges name, in their order: the ranges sorted and
    /// merged once, then one binary search per UID, so the work follows the index's size and the
    /// number of ranges, never how many UIDs a range spans.
    pub fn among(&self, uids: &[i64]) -> Vec<i64> {
        let mut sorted: Vec<(u32, u32)> = self.ranges.iter().map(|r| (*r.start(), *r.end())).collect();
        sorted.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(sorted.len());
        for (start, end) in sorted {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let named = |uid: u32| {
            let i = merged.partition_point(|&(start, _)| start <= uid);
            i > 0 && uid <= merged[i - 1].1
        };
        uids.iter().copied().filter(|&u| u32::try_from(u).is_ok_and(named)).collect()
    }
}

/// What `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE n VANISHED)` answered (RFC 7162 §3.2.6).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The messages whose flags changed since `n`: UID, flags, MODSEQ.
    pub flags: Vec<(u32, Vec<String>, Option<u64>)>,
    /// The UIDs expunged since `n`.
    pub vanished: Vanished,
}

/// Flags changed and messages expunged since `changedsince`, in one command (RFC 7162 §3.2.6);
/// the session must have QRESYNC enabled (`enable`) and the folder selected.
pub async fn fetch_changes(
    connector: &Connector,
    session: &mut Session,
    changedsince: u64,
) -> Result<Changes, Failure> {
    let command = format!("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {changedsince} VANISHED)");
    connector
        .step(Step::Protocol, async {
            let tag = session.run_command(&command).await?;
            let mut changes = Changes::default();
            loop {
                let Some(response) = session.read_response().await? else { return Err(Error::ConnectionLost) };
                match response.parsed() {
                    Response::Fetch(_, attributes) => {
                        let (mut uid, mut flags, mut modseq) = (None, None, None);
                        for attribute in attributes {
                            match attribute {
                                AttributeValue::Uid(u) => uid = Some(*u),
                                AttributeValue::Flags(f) => {
                                    flags = Some(f.iter().filter_map(|f| flag_name(f.as_ref().into())).collect())
                                }
                                AttributeValue::ModSeq(m) => modseq = Some(*m),
                                _ => {}
                            }
                        }
                        // A FETCH without UID or FLAGS is some other session's news, not an
                        // answer to this command: it says nothing about the flags.
                        if let (Some(uid), Some(flags)) = (uid, flags) {
                            changes.flags.push((uid, flags, modseq));
                        }
                    }
                    // With `(EARLIER)` the expunges before this command (the answer to the
                    // VANISHED modifier); without, those made while it ran (RFC 7162 §3.2.10,
                    // in place of EXPUNGE once QRESYNC is enabled). Both are this folder's.
                    Response::Vanished { uids, .. } => changes.vanished.add(uids),
                    Response::Done { tag: done, status, outcome, .. } if *done == tag => {
                        let text = outcome.information.as_deref().unwrap_or_default().to_string();
                        return match status {
                            Status::Ok => Ok(changes),
                            Status::No => Err(Error::No(text)),
                            _ => Err(Error::Bad(text)),
                        };
                    }
                    _ => {}
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vanished(ranges: &[RangeInclusive<u32>]) -> Vanished {
        let mut v = Vanished::default();
        v.add(ranges);
        v
    }

    #[test]
    fn vanished_ranges_are_intersected_with_the_index_never_expanded() {
        // The whole UID space: answered at once, without a four-billion-element list.
        let all = vanished(&[1..=4_000_000_000]);
        assert_eq!(all.among(&[1, 7, 50_000, 4_000_000_000]), [1, 7, 50_000, 4_000_000_000]);
        assert_eq!(all.among(&[4_000_000_001, 0, -3]), Vec::<i64>::new());
        // Single UIDs, ranges written backwards, overlaps, adjacent ranges, several lines.
        let mut v = vanished(&[9..=9, RangeInclusive::new(8, 3), 5..=6]);
        v.add(&[20..=30, 31..=31, 25..=40]);
        assert_eq!(v.among(&[1, 2, 3, 4, 7, 8, 9, 10, 19, 20, 35, 40, 41]), [3, 4, 7, 8, 9, 20, 35, 40]);
        assert!(Vanished::default().among(&[1, 2]).is_empty());
        assert!(Vanished::default().is_empty() && !v.is_empty());
    }
}

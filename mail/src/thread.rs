//! Conversations (JWZ, <https://www.jwz.org/doc/threading.html>, as RFC 5256 §2.2's REFERENCES
//! threading): messages are in one thread when they are linked by Message-IDs, their own or ones
//! they reference, directly or through others, including ids no message we have carries (JWZ's
//! empty containers). When nothing links a reply, its base subject does (the subject step).
//!
//! The index applies this incrementally: each synced batch is grouped here, then each group is
//! joined with the threads its ids already belong to (`mail_thread_refs`), merging threads a new
//! message connects. The result is the same as threading the whole folder at once, except that
//! JWZ's tree shape (who replied to whom) is not kept: a conversation view lists by date.

use std::collections::HashMap;

/// The Message-IDs that link one message: its own, then `In-Reply-To`, then `References`.
pub fn links<'a>(message_id: Option<&'a str>, in_reply_to: Option<&'a str>, references: &'a [String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(references.len() + 2);
    for id in message_id.into_iter().chain(in_reply_to).chain(references.iter().map(String::as_str)) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Messages of one batch that are linked, with every id they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Indexes into the batch, ascending.
    pub members: Vec<usize>,
    /// Every Message-ID the members name, in first-seen order.
    pub ids: Vec<String>,
}

/// Groups a batch: messages sharing any id, transitively, are one group. A message with no id
/// at all is a group of its own.
pub fn group(batch: &[Vec<&str>]) -> Vec<Group> {
    // Union-find over messages; ids point at the first message that named them.
    let mut parent: Vec<usize> = (0..batch.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, ids) in batch.iter().enumerate() {
        for id in ids {
            match owner.get(id) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for (i, ids) in batch.iter().enumerate() {
        let root = find(&mut parent, i);
        let g = *index.entry(root).or_insert_with(|| {
            groups.push(Group { members: Vec::new(), ids: Vec::new() });
            groups.len() - 1
        });
        groups[g].members.push(i);
        for id in ids {
            if !groups[g].ids.iter().any(|x| x == id) {
                groups[g].ids.push((*id).to_string());
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&[&'static str]]) -> Vec<Vec<&'static str>> {
        list.iter().map(|l| l.to_vec()).collect()
    }

    #[test]
    fn replies_join_their_parents_through_missing_ones() {
        // c replies to b, b (not in the batch) replied to a; d is alone; e has no id.
        let batch = ids(&[&["a"], &["c", "b", "a"], &["d"], &[], &["f", "b"]]);
        let g = group(&batch);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].members, vec![0, 1, 4]);
        assert_eq!(g[0].ids, vec!["a", "c", "b", "f"]);
        assert_eq!(g[1].members, vec![2]);
        assert_eq!(g[2].members, vec![3]);
        assert!(g[2].ids.is_empty());
    }

    #[test]
    fn a_late_message_bridges_two_groups() {
        let batch = ids(&[&["x"], &["y"], &["z", "x", "y"]]);
        assert_eq!(group(&batch).len(), 1);
    }

    #[test]
    fn links_are_unique_and_ordered() {
        let refs = vec!["r1".to_string(), "p".to_string()];
        assert_eq!(links(Some("m"), Some("p"), &refs), vec!["m", "p", "r1"]);
        assert!(links(None, None, &[]).is_empty());
    }
}

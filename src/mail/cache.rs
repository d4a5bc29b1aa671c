//! Messages recently read, bounded in bytes (`mail.body_cache_size`): opening a message twice,
//! or its attachments after it, does not fetch it from the server again. What is kept is what
//! was fetched: the whole message, or the parts the reader needed (`index::Opened`). Least
//! recently used goes first; anything larger than a quarter of the budget is never kept.
//!
//! The key is not the row id alone: SQLite may give a deleted row's id to a new row, so the key
//! also names the owner, folder, UID, size and arrival (`MailService::cache_key`), and a reused
//! id can never serve another message's bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What an entry costs against the budget.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for Vec<u8> {
    fn bytes(&self) -> usize {
        self.len()
    }
}

#[derive(Debug)]
struct Inner<T> {
    entries: HashMap<String, Arc<T>>,
    order: VecDeque<String>,
    bytes: usize,
}

/// Messages by key.
#[derive(Debug)]
pub struct BodyCache<T> {
    budget: usize,
    inner: Mutex<Inner<T>>,
}

impl<T: Weigh> BodyCache<T> {
    pub fn new(budget: usize) -> BodyCache<T> {
        BodyCache { budget, inner: Mutex::new(Inner { entries: HashMap::new(), order: VecDeque::new(), bytes: 0 }) }
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let found = inner.entries.get(key).cloned()?;
        inner.order.retain(|k| k != key);
        inner.order.push_back(key.to_string());
        Some(found)
    }

    pub fn put(&self, key: &str, raw: Arc<T>) {
        if raw.bytes() > self.budget / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.insert(key.to_string(), raw.clone()) {
            inner.bytes -= old.bytes();
            inner.order.retain(|k| k != key);
        }
        inner.bytes += raw.bytes();
        inner.order.push_back(key.to_string());
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.bytes();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first_and_the_budget_holds() {
        let cache = BodyCache::<Vec<u8>>::new(100);
        cache.put("1", Arc::new(vec![0; 20]));
        cache.put("2", Arc::new(vec![0; 20]));
        cache.put("3", Arc::new(vec![0; 30])); // over a quarter: not kept
        assert!(cache.get("3").is_none());
        assert!(cache.get("1").is_some()); // 1 is now the most recent
        for id in 4..8 {
            cache.put(&id.to_string(), Arc::new(vec![0; 20]));
        }
        // Five fit: 2, the least recently used, went for 7.
        assert!(cache.get("2").is_none());
        assert!(cache.get("1").is_some()); // used again: 4 is now the oldest
        cache.put("8", Arc::new(vec![0; 20]));
        assert!(cache.get("4").is_none());
        assert!(cache.get("1").is_some() && cache.get("8").is_some());
        let bytes = cache.inner.lock().unwrap().bytes;
        assert!(bytes <= 100, "{bytes}");
    }
}

//! Single use without a database: a bounded in-memory set of used link nonces and OAuth
//! states, each kept until its own expiry.
//!
//! Trade-off (issue 3 asks to document it): the set is per process and forgets on restart,
//! so on its own it stops a replay only against the same instance within its lifetime. The
//! durable half is Clerk: once onboarding has recorded the connection in the user's public
//! metadata (`mentorship.discord_user_id` / `status = active` for that purchase), the start
//! route refuses the link for good (`MentorshipRecord::is_connected_for`). The gap is a
//! replay that reaches *another* instance, or this one after a restart, in the seconds
//! before onboarding writes that metadata — and the replayer would still need the buyer's
//! link and a Discord account of their own, and would only send a second
//! `user/discord.connected` for the same buyer. OAuth states need no durability: their
//! cookie dies after ten minutes.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most entries kept; beyond it the entry closest to expiry is dropped first. 10 000 is
/// months of this academy's traffic in well under a megabyte.
pub const CAPACITY: usize = 10_000;

/// Used nonces and states, each with the Unix time after which it cannot be replayed anyway.
#[derive(Debug, Default)]
pub struct UsedTokens {
    entries: Mutex<HashMap<String, i64>>,
}

impl UsedTokens {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `key` was used.
    pub fn is_used(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Marks `key` used until `expires_at`; returns false when it already was (the caller
    /// must then refuse).
    pub fn mark_used(&self, key: &str, expires_at: i64, now: i64) -> bool {
        let mut entries = self.lock();
        if entries.contains_key(key) {
            return false;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, exp| *exp > now);
        }
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, exp)| **exp)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key.to_owned(), expires_at);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_can_be_used_once() {
        let used = UsedTokens::new();
        assert!(!used.is_used("a"));
        assert!(used.mark_used("a", 100, 0));
        assert!(used.is_used("a"));
        assert!(!used.mark_used("a", 100, 0));
    }

    #[test]
    fn the_set_stays_bounded_and_drops_expired_entries_first() {
        let used = UsedTokens::new();
        for i in 0..CAPACITY {
            let exp = if i == 0 { 5 } else { 1_000 };
            assert!(used.mark_used(&format!("k{i}"), exp, 0));
        }
        assert!(used.mark_used("new", 1_000, 10));
        assert!(!used.is_used("k0"), "the expired entry made room");
        assert!(used.is_used("k1"));
    }
}

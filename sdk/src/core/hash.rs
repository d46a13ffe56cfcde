//! Step ID hashing and per-request repeat counting (docs/protocol.md §1.2).

use std::collections::HashMap;

use sha1::{Digest, Sha1};

/// Hashes a user-facing step ID: lowercase hex SHA-1 of its UTF-8 bytes (40 characters).
pub fn hash_step_id(id: &str) -> String {
    let mut out = String::with_capacity(HASH_LEN);
    hash_step_id_into(id, None, &mut out);
    out
}

/// Appends to `out` the hash of `id` (when `suffix` is `None`) or of `id:n` (when `Some(n)`).
///
/// docs/protocol.md §1.2: the n-th repeat of an id is hashed as `id:n`. The suffix is fed to SHA-1
/// piecewise, so no `id:n` string is built; this runs for every step of every request.
pub fn hash_step_id_into(id: &str, suffix: Option<u32>, out: &mut String) {
    push_lower_hex(&step_digest(id, suffix), out);
}

/// The SHA-1 digest of a step id (`id`, or `id:n` with `Some(n)`): the bytes whose
/// lowercase hex is the hashed step id. The memo is keyed by it, so a replayed step is
/// looked up without formatting its hash as text.
pub fn step_digest(id: &str, suffix: Option<u32>) -> StepDigest {
    let mut hasher = Sha1::new();
    hasher.update(id.as_bytes());
    if let Some(n) = suffix {
        let mut digits = [0; U32_MAX_DIGITS];
        hasher.update(b":");
        hasher.update(write_decimal(n, &mut digits));
    }
    hasher.finalize().into()
}

/// The SHA-1 digest of a hashed step id.
pub type StepDigest = [u8; 20];

/// A table keyed by step digests: a vector searched linearly while it is small (most
/// functions have a handful of steps, and comparing a few 20-byte keys is cheaper than
/// hashing one and allocating a table), a hash table beyond. Its hasher is foldhash, seeded
/// per process: SipHash cost more than the lookups it serves, and the seed keeps the bucket
/// of a digest unpredictable.
#[derive(Debug, Clone)]
pub struct DigestTable<V> {
    repr: Repr<V>,
}

#[derive(Debug, Clone)]
enum Repr<V> {
    Small(Vec<(StepDigest, V)>),
    Large(HashMap<StepDigest, V, foldhash::fast::RandomState>),
}

/// Up to this many keys, a [`DigestTable`] is a vector.
const SMALL_TABLE: usize = 16;

impl<V> Default for DigestTable<V> {
    fn default() -> Self {
        DigestTable {
            repr: Repr::Small(Vec::new()),
        }
    }
}

impl<V> DigestTable<V> {
    /// An empty table with room for `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        let repr = if capacity <= SMALL_TABLE {
            Repr::Small(Vec::with_capacity(capacity))
        } else {
            Repr::Large(HashMap::with_capacity_and_hasher(
                capacity,
                Default::default(),
            ))
        };
        DigestTable { repr }
    }

    /// A table of these entries; of two entries with one key, the later wins.
    pub fn from_entries(mut entries: Vec<(StepDigest, V)>) -> Self {
        if entries.len() > SMALL_TABLE {
            let mut map = HashMap::with_capacity_and_hasher(entries.len(), Default::default());
            map.extend(entries);
            return DigestTable {
                repr: Repr::Large(map),
            };
        }
        // Keep the last entry of each key, as a map would.
        let mut i = 0;
        while i < entries.len() {
            if entries[i + 1..].iter().any(|(key, _)| *key == entries[i].0) {
                entries.remove(i);
            } else {
                i += 1;
            }
        }
        DigestTable {
            repr: Repr::Small(entries),
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(entries) => entries.len(),
            Repr::Large(map) => map.len(),
        }
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`.
    pub fn get(&self, key: &StepDigest) -> Option<&V> {
        match &self.repr {
            Repr::Small(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Repr::Large(map) => map.get(key),
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &StepDigest) -> Option<V> {
        match &mut self.repr {
            Repr::Small(entries) => {
                let at = entries.iter().position(|(k, _)| k == key)?;
                Some(entries.swap_remove(at).1)
            }
            Repr::Large(map) => map.remove(key),
        }
    }

    /// The value of `key`, inserted with `V::default()` when absent.
    pub fn entry_or_default(&mut self, key: StepDigest) -> &mut V
    where
        V: Default,
    {
        if let Repr::Small(entries) = &mut self.repr {
            if entries.len() >= SMALL_TABLE && !entries.iter().any(|(k, _)| *k == key) {
                let map = std::mem::take(entries).into_iter().collect();
                self.repr = Repr::Large(map);
            }
        }
        match &mut self.repr {
            Repr::Small(entries) => {
                let at = match entries.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        entries.push((key, V::default()));
                        entries.len() - 1
                    }
                };
                &mut entries[at].1
            }
            Repr::Large(map) => map.entry(key).or_default(),
        }
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &StepDigest> {
        let (small, large) = match &self.repr {
            Repr::Small(entries) => (Some(entries.iter().map(|(k, _)| k)), None),
            Repr::Large(map) => (None, Some(map.keys())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        let (small, large) = match &self.repr {
            Repr::Small(entries) => (Some(entries.iter().map(|(_, v)| v)), None),
            Repr::Large(map) => (None, Some(map.values())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }
}

/// Parses a hashed step id (40 lowercase hex digits, as this SDK writes them) back into its
/// digest; anything else is `None`, since it can never equal a hash this SDK computes.
pub fn parse_step_hash(hash: &str) -> Option<StepDigest> {
    /// Value of each lowercase hex digit; `INVALID` for every other byte. Every memo key of
    /// every call goes through here, so it is a table lookup, not a branch per digit.
    const NIBBLES: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    const INVALID: u8 = 0xff;
    let bytes = hash.as_bytes();
    if bytes.len() != HASH_LEN {
        return None;
    }
    let mut digest = [0; 20];
    // OR-ing the nibbles keeps the 0xf0 bits clear only if every digit was valid; checked
    // once at the end instead of per digit.
    let mut invalid = 0;
    for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let (high, low) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
        invalid |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(digest)
}

/// Appends the hashed step id (lowercase hex) of `digest` to `out`.
pub fn push_step_hash(digest: &StepDigest, out: &mut String) {
    push_lower_hex(digest, out);
}

/// A step's hashed ID together with its repeat index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HashedStepId {
    /// Lowercase hex SHA-1 sent to and received from the executor as the op `id`.
    pub hash: String,
    /// 0 for the first occurrence of the user id, n for its n-th repeat; reported as
    /// `userland.index` (docs/protocol.md §1.2).
    pub index: u32,
}

/// Counts how often each user step ID has been seen during one request.
///
/// Create one per request: docs/protocol.md §1.2 counters are per user ID, per request, in
/// discovery order.
#[derive(Debug, Default)]
pub struct StepIdCounter {
    /// Occurrences seen so far for each user id, keyed by the digest of the id (which the
    /// first occurrence needs anyway), so counting a step allocates nothing; the next
    /// repeat index equals this count.
    seen: DigestTable<u32>,
}

impl StepIdCounter {
    /// A counter with room for `steps` distinct ids, so replaying a run whose memo holds
    /// that many steps never grows (and rehashes) the table.
    pub fn with_capacity(steps: usize) -> Self {
        StepIdCounter {
            seen: DigestTable::with_capacity(steps),
        }
    }

    /// Records one more occurrence of `user_id` and returns its hash.
    ///
    /// The first occurrence hashes `user_id` as-is (index 0); the n-th repeat hashes
    /// `user_id:n` (index n).
    pub fn next(&mut self, user_id: &str) -> HashedStepId {
        let (digest, index) = self.next_digest(user_id);
        let mut hash = String::with_capacity(HASH_LEN);
        push_lower_hex(&digest, &mut hash);
        HashedStepId { hash, index }
    }

    /// Like [`StepIdCounter::next`], but returns the digest instead of its hex text: the
    /// replay of a memoized step never needs the text.
    pub fn next_digest(&mut self, user_id: &str) -> (StepDigest, u32) {
        let first = step_digest(user_id, None);
        let count = self.seen.entry_or_default(first);
        let index = *count;
        // Four billion repeats of one id in a single request cannot happen in practice;
        // saturating keeps this total without a panic path.
        *count = count.saturating_add(1);
        if index == 0 {
            (first, 0)
        } else {
            (step_digest(user_id, Some(index)), index)
        }
    }
}

/// Hex length of a SHA-1 digest.
const HASH_LEN: usize = 40;

/// Decimal digits in `u32::MAX`.
const U32_MAX_DIGITS: usize = 10;

/// Writes `n` in decimal into the tail of `buf` and returns the written digits.
fn write_decimal(mut n: u32, buf: &mut [u8; U32_MAX_DIGITS]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        // `n % 10` is below 10, so the narrowing cast is lossless.
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// Appends `bytes` to `out` as lowercase hex.
fn push_lower_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: usize) -> StepDigest {
        step_digest(&n.to_string(), None)
    }

    #[test]
    fn a_digest_table_behaves_like_a_map_small_and_large() {
        for n in [3, SMALL_TABLE, SMALL_TABLE + 1, 100] {
            let mut table = DigestTable::with_capacity(1);
            for round in 1..=2u32 {
                for i in 0..n {
                    *table.entry_or_default(digest(i)) += 1;
                    assert_eq!(table.get(&digest(i)), Some(&round), "n = {n}, i = {i}");
                }
            }
            assert_eq!(table.len(), n);
            assert_eq!(table.values().sum::<u32>() as usize, 2 * n);
            for i in (0..n).rev() {
                assert_eq!(table.remove(&digest(i)), Some(2));
                assert_eq!(table.remove(&digest(i)), None);
            }
            assert!(table.is_empty());
        }
    }

    #[test]
    fn a_digest_table_from_entries_keeps_the_last_entry_of_a_key() {
        for extra in [0, SMALL_TABLE] {
            let mut entries = vec![
                (digest(1), "first"),
                (digest(2), "two"),
                (digest(1), "last"),
            ];
            entries.extend((100..100 + extra).map(|i| (digest(i), "filler")));
            let mut table = DigestTable::from_entries(entries);
            assert_eq!(table.len(), 2 + extra);
            assert_eq!(table.remove(&digest(1)), Some("last"));
            assert_eq!(
                table.get(&digest(1)),
                None,
                "the earlier duplicate is gone too"
            );
            assert_eq!(table.get(&digest(2)), Some(&"two"));
        }
    }

    #[test]
    fn step_ids_hash_to_the_protocol_vectors() {
        let vectors = [
            ("my-step-id", "e7d8a2f140845095749d60246ff1110c9d01d76a"),
            ("first step", "98bf98df193bcce7c33e6bc50927cf2ac21206cb"),
            ("second step", "764e20ec975d4ef820d0f42e6a5833384bd7ee36"),
            ("sleep", "c3ca5f787365eae0dea86250e27d476406956478"),
            ("wait", "daaad336276d15594d0e765f96c17cd746bf4971"),
            ("for 2s", "dd44d5dc73e81cfbd3c93d03c50160b0b8dc3d6a"),
            ("complete", "0737c22d3bfae812339732d14d8c7dbd6dc4e09c"),
        ];
        for (id, expected) in vectors {
            assert_eq!(hash_step_id(id), expected, "hash of {id:?}");
        }
    }

    #[test]
    fn suffixed_hash_equals_hash_of_the_joined_string() {
        for n in [0, 1, 9, 10, 4_294_967_295] {
            let mut out = String::new();
            hash_step_id_into("a", Some(n), &mut out);
            assert_eq!(out, hash_step_id(&format!("a:{n}")), "suffix {n}");
        }
    }

    #[test]
    fn step_hashes_parse_back_into_their_digest() {
        let hash = hash_step_id("first step");
        let digest = parse_step_hash(&hash).expect("a hash parses");
        assert_eq!(digest, step_digest("first step", None));
        let mut text = String::new();
        push_step_hash(&digest, &mut text);
        assert_eq!(text, hash);
        assert_eq!(parse_step_hash(&hash.to_uppercase()), None);
        assert_eq!(parse_step_hash("step"), None);
        assert_eq!(parse_step_hash(&format!("{}x", &hash[..39])), None);
    }

    #[test]
    fn hash_into_appends_to_the_buffer() {
        let mut out = String::from("x");
        hash_step_id_into("sleep", None, &mut out);
        assert_eq!(out, "xc3ca5f787365eae0dea86250e27d476406956478");
    }

    #[test]
    fn repeats_of_an_id_hash_as_id_then_id_colon_n() {
        let mut counter = StepIdCounter::default();
        let first = counter.next("a");
        let second = counter.next("a");
        let third = counter.next("a");
        assert_eq!((first.hash, first.index), (hash_step_id("a"), 0));
        assert_eq!((second.hash, second.index), (hash_step_id("a:1"), 1));
        assert_eq!((third.hash, third.index), (hash_step_id("a:2"), 2));
    }

    #[test]
    fn each_user_id_has_its_own_repeat_counter() {
        let mut counter = StepIdCounter::default();
        assert_eq!(counter.next("a").index, 0);
        assert_eq!(counter.next("b").index, 0);
        assert_eq!(counter.next("a").index, 1);
        let b = counter.next("b");
        assert_eq!((b.hash, b.index), (hash_step_id("b:1"), 1));
    }

    #[test]
    fn counters_do_not_leak_between_requests() {
        let mut first_request = StepIdCounter::default();
        first_request.next("a");
        let mut second_request = StepIdCounter::default();
        assert_eq!(second_request.next("a").index, 0);
    }
}

//! Duplicate ids across the batches of a bulk job: 64-bit id hashes of an Arrow string column,
//! and a set of them. The job (Python, `jobs/dedupe.py`) keeps the rules: which rows claim an
//! id, the exact string comparison behind every hash found again, the messages.

use arrow_array::Array;

use crate::alloc::{try_reserve, try_zeroed_u64};
use crate::arrow_io::{for_each_str, is_string};
use crate::error::{Error, Result};
use crate::table::id_hash;

/// The hash of every value of a string column (Utf8, LargeUtf8 or Utf8View); a null hashes
/// like "". Never 0: that is the set's empty slot.
pub fn hash_ids(ids: &dyn Array) -> Result<Vec<u64>> {
    // An array's length need not be backed by memory (a null array of 2^40 rows holds none):
    // the type is checked before the output is sized, and its allocation may fail.
    if !is_string(ids.data_type()) {
        return Err(Error::Malformed(format!(
            "ids must be strings, not {}",
            ids.data_type()
        )));
    }
    let mut out = try_zeroed_u64("ids", ids.len())?;
    for_each_str(ids, |i, v| {
        out[i] = id_hash(v.unwrap_or("").as_bytes()).max(1)
    });
    Ok(out)
}

/// A set of non-zero u64 hashes: open addressing with linear probing, at most 3/4 full. A key's
/// home slot is its top bits, so keys given in ascending order visit the table in order.
pub struct IdSet {
    slots: Vec<u64>,
    shift: u32,
    len: usize,
}

const MIN_SLOTS: usize = 1 << 12;
/// How many keys ahead `insert_all` fetches a home slot: enough to cover a memory access.
const PREFETCH_DISTANCE: usize = 16;

/// The most slots a table can have: the largest power of two of 8-byte slots that is a possible
/// allocation (at most `isize::MAX` bytes: 2^59 slots on 64 bits).
const MAX_SLOTS: usize = 1 << (usize::BITS - 5);
/// The most keys a set can be sized for (its table at most 3/4 full).
pub const MAX_KEYS: usize = MAX_SLOTS / 4 * 3 - 1;

/// The slots for `keys` keys: at most 3/4 full; a power of two. `None` past `MAX_KEYS`.
fn slots_for(keys: usize) -> Option<usize> {
    if keys > MAX_KEYS {
        return None;
    }
    Some((keys * 4 / 3 + 1).max(MIN_SLOTS).next_power_of_two())
}

fn too_many(keys: usize) -> Error {
    Error::ResourceExhausted(format!(
        "a set of {keys} ids is more than one table can hold (at most {MAX_KEYS})"
    ))
}

impl IdSet {
    /// A set sized for `expected` keys (it grows past them). The table's memory is only touched
    /// where keys land. `Error::ResourceExhausted` when that table cannot be had.
    pub fn with_capacity(expected: usize) -> Result<Self> {
        let n = slots_for(expected).ok_or_else(|| too_many(expected))?;
        Ok(Self {
            slots: try_zeroed_u64("id set slots", n)?,
            shift: 64 - n.trailing_zeros(),
            len: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table's size in bytes.
    pub fn nbytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// Inserts every key (0 counts as 1); returns, per key, whether it was in the set already
    /// (a key given twice is found the second time).
    /// `Error::ResourceExhausted` (the set unchanged) when the table cannot grow to hold them.
    pub fn insert_all(&mut self, keys: &[u64]) -> Result<Vec<bool>> {
        let total = self.len.saturating_add(keys.len());
        if total > self.slots.len() / 4 * 3 {
            self.grow(total)?;
        }
        // A big table is mostly out of cache, and a batch's keys land far apart: each key's
        // home slot is fetched a few keys ahead, so the misses overlap.
        let mut found = Vec::new();
        try_reserve(&mut found, "id set flags", keys.len())?;
        for (i, &k) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + PREFETCH_DISTANCE) {
                self.prefetch(ahead.max(1));
            }
            found.push(!self.insert(k.max(1)));
        }
        Ok(found)
    }

    #[inline]
    fn prefetch(&self, key: u64) {
        let slot = &self.slots[(key >> self.shift) as usize];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot fault;
        // the pointer is a valid element of `slots` anyway. SSE is part of x86_64.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// True when `key` was new.
    #[inline]
    fn insert(&mut self, key: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (key >> self.shift) as usize;
        loop {
            let slot = self.slots[i];
            if slot == key {
                return false;
            }
            if slot == 0 {
                self.slots[i] = key;
                self.len += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// A table for `keys` keys with every key so far; unchanged when it cannot be had.
    fn grow(&mut self, keys: usize) -> Result<()> {
        let n = slots_for(keys).ok_or_else(|| too_many(keys))?;
        let old = std::mem::replace(&mut self.slots, try_zeroed_u64("id set slots", n)?);
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for k in old.into_iter().filter(|&k| k != 0) {
            self.insert(k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{LargeStringArray, StringArray};

    #[test]
    fn hashes_depend_on_the_id_only() {
        let ids = ["", "a", "acct-1", "é", "x"];
        let utf8 = hash_ids(&StringArray::from(ids.to_vec())).unwrap();
        let large = hash_ids(&LargeStringArray::from(ids.to_vec())).unwrap();
        let sliced = StringArray::from(vec!["pad", "", "a", "acct-1", "é", "x"]).slice(1, 5);
        assert_eq!(utf8, large);
        assert_eq!(utf8, hash_ids(&sliced).unwrap());
        let with_null = hash_ids(&StringArray::from(vec![None, Some("")])).unwrap();
        assert_eq!(with_null[0], with_null[1]);
        assert!(utf8.iter().all(|&h| h != 0));
        assert!(hash_ids(&arrow_array::Int64Array::from(vec![1])).is_err());
    }

    #[test]
    fn found_flags_follow_insertion_and_survive_growth() {
        let mut set = IdSet::with_capacity(0).unwrap();
        let keys: Vec<u64> = (1..=50_000u64)
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for part in keys.chunks(7_001) {
            assert!(set.insert_all(part).unwrap().iter().all(|&found| !found));
        }
        assert_eq!(set.len(), keys.len());
        assert!(set.nbytes() >= keys.len() * 8 * 4 / 3);
        assert!(set.insert_all(&keys).unwrap().iter().all(|&found| found));
        assert_eq!(set.insert_all(&[5, 5]).unwrap(), [false, true]);
    }

    #[test]
    fn keys_sharing_their_top_bits_probe_past_each_other() {
        let mut set = IdSet::with_capacity(10).unwrap();
        let crowded: Vec<u64> = (1..5_000).collect(); // all in slot 0's neighbourhood
        assert!(set.insert_all(&crowded).unwrap().iter().all(|&f| !f));
        assert!(set.insert_all(&crowded).unwrap().iter().all(|&f| f));
        assert_eq!(set.insert_all(&[0, 1]).unwrap(), [true, true]); // 0 counts as 1
    }

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        // 2^33 keys: a 128 GiB table, more than this machine has; 2^62 and up: no table at all.
        for expected in [1usize << 33, 1 << 40, 1 << 62, MAX_KEYS + 1, usize::MAX] {
            match IdSet::with_capacity(expected) {
                Err(Error::ResourceExhausted(_)) => {}
                Err(e) => panic!("expected ResourceExhausted for {expected}, got {e}"),
                // A machine that can map it lazily: fine, as long as it is a real table.
                Ok(set) => assert!(set.nbytes() >= expected * 8),
            }
        }
        assert_eq!(slots_for(MAX_KEYS), Some(MAX_SLOTS));
        assert_eq!(slots_for(MAX_KEYS + 1), None);
    }

    #[test]
    fn a_null_array_of_many_rows_is_refused_before_any_allocation() {
        let nulls = arrow_array::NullArray::new(1 << 40);
        assert!(matches!(hash_ids(&nulls), Err(Error::Malformed(_))));
    }
}

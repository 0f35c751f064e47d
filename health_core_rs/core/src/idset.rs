//! Duplicate ids across the batches of a bulk job: 64-bit id hashes of an Arrow string column,
//! and a set of them. The job (Python, `jobs/dedupe.py`) keeps the rules: which rows claim an
//! id, the exact string comparison behind every hash found again, the messages.

use arrow_array::Array;

use crate::arrow_io::for_each_str;
use crate::error::{Error, Result};
use crate::table::id_hash;

/// The hash of every value of a string column (Utf8, LargeUtf8 or Utf8View); a null hashes
/// like "". Never 0: that is the set's empty slot.
pub fn hash_ids(ids: &dyn Array) -> Result<Vec<u64>> {
    let mut out = vec![0u64; ids.len()];
    let ok = for_each_str(ids, |i, v| {
        out[i] = id_hash(v.unwrap_or("").as_bytes()).max(1);
    });
    if !ok {
        return Err(Error::Malformed(format!(
            "ids must be strings, not {}",
            ids.data_type()
        )));
    }
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

fn slots_for(keys: usize) -> usize {
    // At most 3/4 full; a power of two.
    (keys.saturating_mul(4) / 3 + 1)
        .max(MIN_SLOTS)
        .next_power_of_two()
}

impl IdSet {
    /// A set sized for `expected` keys (it grows past them). The table's memory is only touched
    /// where keys land.
    pub fn with_capacity(expected: usize) -> Self {
        let n = slots_for(expected);
        Self {
            slots: vec![0; n],
            shift: 64 - n.trailing_zeros(),
            len: 0,
        }
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
    pub fn insert_all(&mut self, keys: &[u64]) -> Vec<bool> {
        if (self.len + keys.len()) * 4 > self.slots.len() * 3 {
            self.grow(self.len + keys.len());
        }
        // A big table is mostly out of cache, and a batch's keys land far apart: each key's
        // home slot is fetched a few keys ahead, so the misses overlap.
        let mut found = Vec::with_capacity(keys.len());
        for (i, &k) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + PREFETCH_DISTANCE) {
                self.prefetch(ahead.max(1));
            }
            found.push(!self.insert(k.max(1)));
        }
        found
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

    fn grow(&mut self, keys: usize) {
        let old = std::mem::take(&mut self.slots);
        let n = slots_for(keys);
        self.slots = vec![0; n];
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for k in old.into_iter().filter(|&k| k != 0) {
            self.insert(k);
        }
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
        let mut set = IdSet::with_capacity(0);
        let keys: Vec<u64> = (1..=50_000u64)
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for part in keys.chunks(7_001) {
            assert!(set.insert_all(part).iter().all(|&found| !found));
        }
        assert_eq!(set.len(), keys.len());
        assert!(set.nbytes() >= keys.len() * 8 * 4 / 3);
        assert!(set.insert_all(&keys).iter().all(|&found| found));
        assert_eq!(set.insert_all(&[5, 5]), [false, true]);
    }

    #[test]
    fn keys_sharing_their_top_bits_probe_past_each_other() {
        let mut set = IdSet::with_capacity(10);
        let crowded: Vec<u64> = (1..5_000).collect(); // all in slot 0's neighbourhood
        assert!(set.insert_all(&crowded).iter().all(|&f| !f));
        assert!(set.insert_all(&crowded).iter().all(|&f| f));
        assert_eq!(set.insert_all(&[0, 1]), [true, true]); // 0 counts as 1
    }
}

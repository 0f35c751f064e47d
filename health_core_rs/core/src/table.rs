//! The columnar account table that every input form (protobuf rows, protobuf columns, Arrow)
//! decodes into and that scoring reads: one column per catalog attribute, indexed by `AttrId`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use arrow_buffer::NullBuffer;

use crate::error::Violation;
use crate::ir::{
    AttrType, CompiledRuleset, BOOL_MISSING, CODE_MISSING, CODE_OTHER, NANOS_PER_DAY, TIME_MISSING,
};

/// The values of one attribute for every account of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column<'a> {
    /// No account has a value (the attribute was not sent at all).
    Absent,
    /// NUMBER; NaN = no value. Borrowed from Arrow when the input needs no conversion.
    Number(Cow<'a, [f64]>),
    /// NUMBER borrowed from an Arrow Float64 array with nulls: a row has no value when its
    /// validity bit is clear (whatever the value slot holds) or its value is NaN. Saves copying
    /// the column to write NaN into the null slots.
    NumberMasked(&'a [f64], NullBuffer),
    /// TEXT literal codes or ORDINAL levels; `CODE_MISSING` = no value.
    Code(Vec<u32>),
    /// `BOOL_FALSE`, `BOOL_TRUE` or `BOOL_MISSING`.
    Bool(Vec<u8>),
    /// Nanoseconds since the epoch; `TIME_MISSING` = no value.
    Time(Vec<i64>),
}

impl Column<'_> {
    /// Whether row `row` has no value (rows out of range have none).
    #[inline]
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Column::Absent => true,
            Column::Number(v) => v.get(row).is_none_or(|x| x.is_nan()),
            Column::NumberMasked(v, valid) => {
                v.get(row).is_none_or(|x| x.is_nan()) || row >= valid.len() || valid.is_null(row)
            }
            Column::Code(v) => v.get(row).is_none_or(|&x| x == CODE_MISSING),
            Column::Bool(v) => v.get(row).is_none_or(|&x| x == BOOL_MISSING),
            Column::Time(v) => v.get(row).is_none_or(|&x| x == TIME_MISSING),
        }
    }

    /// An all-missing column of the kind that fits `ty`.
    pub fn missing(ty: AttrType, len: usize) -> Column<'static> {
        match ty {
            AttrType::Number => Column::Number(Cow::Owned(vec![f64::NAN; len])),
            AttrType::Text | AttrType::Ordinal => Column::Code(vec![CODE_MISSING; len]),
            AttrType::Bool => Column::Bool(vec![BOOL_MISSING; len]),
            AttrType::Time => Column::Time(vec![TIME_MISSING; len]),
        }
    }
}

/// Accounts in columnar form, ready to score.
#[derive(Debug, Clone, Default)]
pub struct AccountTable<'a> {
    /// Number of accounts.
    pub len: usize,
    /// One column per catalog attribute (index = `AttrId`).
    pub columns: Vec<Column<'a>>,
    /// Cancelled flags; empty = every account is active.
    pub cancelled: Vec<bool>,
    /// Per `CompiledRuleset::lookbacks` entry: the earlier values (NaN = none); `None` = none at all.
    pub lookbacks: Vec<Option<Vec<f64>>>,
    /// Rows that cannot be scored (bulk path only); empty = none.
    pub bad: Vec<bool>,
    /// The borrowed NUMBER columns were not checked for infinite values: the scorer checks each
    /// block as it reads it and reports any in `ChunkOut::found_infinite` (bulk path only).
    pub unchecked_infinite: bool,
}

impl AccountTable<'_> {
    #[inline]
    pub fn is_cancelled(&self, row: usize) -> bool {
        self.cancelled.get(row).copied().unwrap_or(false)
    }

    #[inline]
    pub fn is_bad(&self, row: usize) -> bool {
        self.bad.get(row).copied().unwrap_or(false)
    }
}

/// FxHash (rustc's hasher): much faster than SipHash for the short keys we look up per value.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// Per-call lookup structures borrowed from the ruleset: attribute names and TEXT/ORDINAL codes
/// with a fast hasher.
pub struct Names<'r> {
    pub rules: &'r CompiledRuleset,
    attrs: FxMap<&'r str, u32>,
    codes: Vec<FxMap<&'r str, u32>>,
    /// Per lookback attribute: the indices into `rules.lookbacks` that use it.
    pub lookbacks_of: Vec<Vec<usize>>,
}

impl<'r> Names<'r> {
    pub fn new(rules: &'r CompiledRuleset) -> Self {
        let attrs = rules
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i as u32));
        let codes = rules
            .attributes
            .iter()
            .map(|a| a.codes.iter().map(|(k, &v)| (k.as_str(), v)).collect())
            .collect();
        let mut lookbacks_of = vec![Vec::new(); rules.attributes.len()];
        for (i, &(attr, _)) in rules.lookbacks.iter().enumerate() {
            if let Some(v) = lookbacks_of.get_mut(attr as usize) {
                v.push(i);
            }
        }
        Self {
            rules,
            attrs: attrs.collect(),
            codes,
            lookbacks_of,
        }
    }

    #[inline]
    pub fn attr(&self, name: &str) -> Option<u32> {
        self.attrs.get(name).copied()
    }

    #[inline]
    pub fn ty(&self, attr: u32) -> AttrType {
        self.rules.attributes[attr as usize].ty
    }

    /// The code of a non-empty TEXT/ORDINAL value: `CODE_OTHER` for a TEXT value no rule
    /// compares with, `None` for an undeclared ORDINAL level.
    #[inline]
    pub fn code(&self, attr: u32, text: &str) -> Option<u32> {
        match self.codes.get(attr as usize).and_then(|m| m.get(text)) {
            Some(&c) => Some(c),
            None if self.ty(attr) == AttrType::Text => Some(CODE_OTHER),
            None => None,
        }
    }
}

/// A protobuf Timestamp as i64 nanoseconds, if it is valid and representable (and not the
/// missing sentinel).
pub fn timestamp_nanos(seconds: i64, nanos: i32) -> Option<i64> {
    if !(0..1_000_000_000).contains(&nanos) {
        return None;
    }
    let t = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    i64::try_from(t).ok().filter(|&t| t != TIME_MISSING)
}

/// The current instant in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The look-back instant of a "change in" predicate with `period_days`.
pub fn lookback_instant(as_of: i128, period_days: u32) -> i128 {
    as_of - i128::from(period_days) * NANOS_PER_DAY
}

/// `x * y` as a 128-bit product folded to 64 bits: the mixing step of wyhash/foldhash.
#[inline(always)]
fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn le32(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u64::from(u32::from_le_bytes(w))
}

const HASH_K: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// A 64-bit hash of an id with well-mixed bits (wyhash-style folded multiplies). Ids are
/// usually short, so up to 16 bytes are read as two (overlapping) words with no loop.
#[inline]
pub fn id_hash(s: &[u8]) -> u64 {
    let len = s.len();
    let (a, b) = if len <= 16 {
        if len >= 8 {
            (le64(s), le64(&s[len - 8..]))
        } else if len >= 4 {
            (le32(s), le32(&s[len - 4..]))
        } else if len > 0 {
            let (x, y, z) = (s[0], s[len / 2], s[len - 1]);
            (u64::from(x) << 16 | u64::from(y) << 8 | u64::from(z), 0)
        } else {
            (0, 0)
        }
    } else {
        let mut h = HASH_K[3];
        let mut chunks = s.chunks_exact(16);
        for c in &mut chunks {
            h = fold_mul(le64(c) ^ HASH_K[0], le64(&c[8..]) ^ h);
        }
        (
            h,
            le64(&s[len - 16..]) ^ le64(&s[len - 8..]).rotate_left(29),
        )
    };
    let h = fold_mul(a ^ HASH_K[0], b ^ HASH_K[1] ^ len as u64);
    fold_mul(h ^ HASH_K[2], HASH_K[3])
}

/// `a == b` for byte strings, without a library call for the short ones (up to 16 bytes are
/// compared as two overlapping words): the per-row comparison of text columns and ids.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        0 => true,
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..=7 => le32(a) == le32(b) && le32(&a[len - 4..]) == le32(&b[len - 4..]),
        8..=16 => le64(a) == le64(b) && le64(&a[len - 8..]) == le64(&b[len - 8..]),
        _ => a == b,
    }
}

/// Ids per partition of the duplicate check: a partition's table stays in cache.
const IDS_PER_PARTITION: usize = 4096;

/// Flags every empty (or null) id and every later occurrence of an id already seen.
/// `report(row, first)` is called in row order, with the row of the first occurrence for a
/// duplicate.
pub fn check_ids(ids: &[Option<&str>], report: impl FnMut(usize, Option<usize>)) {
    if ids_ascending(ids.len(), |i| ids[i].map(str::as_bytes)) {
        return;
    }
    check_ids_with(
        ids.len(),
        1,
        |i| {
            ids[i]
                .filter(|s| !s.is_empty())
                .map(|s| id_hash(s.as_bytes()))
        },
        |a, b| ids[a] == ids[b],
        report,
    );
}

/// Whether every id is present and non-empty and greater than the one before it, in byte order
/// or in (length, bytes) order: then none repeats, and the hashing check is not needed. Ids
/// exported in key order or numbered in sequence (`acct-9` < `acct-10` by length) pass; ids in
/// any other order fail within a few rows, so the attempt costs next to nothing.
pub fn ids_ascending<'s>(n: usize, id: impl Fn(usize) -> Option<&'s [u8]>) -> bool {
    let present = |i: usize| id(i).filter(|s| !s.is_empty());
    let Some(mut prev) = (n > 0).then(|| present(0)).flatten() else {
        return n == 0;
    };
    let (mut bytewise, mut by_length) = (true, true);
    for i in 1..n {
        let Some(cur) = present(i) else {
            return false;
        };
        let less = prev < cur;
        bytewise &= less;
        by_length &= prev.len() < cur.len() || (prev.len() == cur.len() && less);
        if !(bytewise || by_length) {
            return false;
        }
        prev = cur;
    }
    true
}

/// A hash slot with no id (a null or empty id); real hashes are kept below it.
const NO_ID: u64 = u64::MAX;

/// The most rows one duplicate-id check (`check_ids_with`) takes: it stores `row + 1` in 32 bits
/// (0 marks an empty slot).
pub const MAX_ROWS: usize = u32::MAX as usize - 1;

/// `check_ids` over ids given by functions: `hash(row)` is None for a missing or empty id (and
/// `id_hash` of its bytes otherwise); `same(a, b)` compares two non-empty ids. Runs on up to
/// `threads` threads.
///
/// One hash table over a million ids misses the cache on nearly every probe; so the ids are
/// first partitioned by the top bits of their hash (a counting sort, which keeps rows ascending
/// within a partition), each as one word: the next 32 bits of the hash above the row. Each
/// partition is then checked with a small open-addressing table of those words, which stays in
/// cache; ids are compared only when the 32 hash bits agree.
pub fn check_ids_with(
    n: usize,
    threads: usize,
    hash: impl Fn(usize) -> Option<u64> + Sync,
    same: impl Fn(usize, usize) -> bool + Sync,
    mut report: impl FnMut(usize, Option<usize>),
) {
    assert!(n <= MAX_ROWS, "too many ids for one check");
    let bits = (n / IDS_PER_PARTITION)
        .max(1)
        .next_power_of_two()
        .trailing_zeros();
    let parts = 1usize << bits;
    let part_of = move |h: u64| h.checked_shr(64 - bits).unwrap_or(0) as usize;
    // The 32 hash bits below the partition bits, above the row.
    let entry = move |h: u64, row: usize| ((h << bits) >> 32 << 32) | (row as u64 + 1);
    // Per chunk: hashes (NO_ID for a missing id) and the partition histogram.
    let chunks = crate::pool::map_ranges(n, threads, |s, e| {
        let mut hashes = Vec::with_capacity(e - s);
        let mut hist = vec![0u32; parts];
        for row in s..e {
            let h = match hash(row) {
                Some(h) => h.min(NO_ID - 1),
                None => NO_ID,
            };
            hashes.push(h);
        }
        for &h in &hashes {
            if h != NO_ID {
                hist[part_of(h)] += 1;
            }
        }
        (s, hashes, hist)
    });
    let mut found: Vec<(usize, Option<usize>)> = Vec::new();
    // Partition-major offsets: partition p, then chunk order, so rows stay ascending.
    let mut next = vec![0usize; chunks.len() * parts];
    let mut starts = vec![0usize; parts + 1];
    let mut at = 0;
    for p in 0..parts {
        starts[p] = at;
        for (c, (_, _, hist)) in chunks.iter().enumerate() {
            next[c * parts + p] = at;
            at += hist[p] as usize;
        }
    }
    starts[parts] = at;
    let mut entries = vec![0u64; at];
    for (c, (s, hashes, _)) in chunks.iter().enumerate() {
        let next = &mut next[c * parts..(c + 1) * parts];
        for (k, &h) in hashes.iter().enumerate() {
            if h == NO_ID {
                found.push((s + k, None));
                continue;
            }
            let slot = &mut next[part_of(h)];
            entries[*slot] = entry(h, s + k);
            *slot += 1;
        }
    }
    drop(chunks);
    let (entries, starts) = (&entries, &starts);
    // Partitions in one contiguous group per thread, each group reusing one table.
    let groups = threads.clamp(1, parts);
    let per_group = crate::pool::map_items(groups, threads, |g| {
        let mut dups = Vec::new();
        let mut table: Vec<u64> = Vec::new();
        for p in parts * g / groups..parts * (g + 1) / groups {
            let es = &entries[starts[p]..starts[p + 1]];
            let size = (es.len() * 2).next_power_of_two().max(16);
            table.clear();
            table.resize(size, 0);
            let mask = size - 1;
            for &e in es {
                let tag = e >> 32;
                let mut slot = (tag as usize) & mask;
                loop {
                    let other = table[slot];
                    if other == 0 {
                        table[slot] = e;
                        break;
                    }
                    if other >> 32 == tag {
                        let (row, first) = ((e as u32 - 1) as usize, (other as u32 - 1) as usize);
                        if same(first, row) {
                            dups.push((row, Some(first)));
                            break;
                        }
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        dups
    });
    for d in per_group {
        found.extend(d);
    }
    found.sort_unstable();
    for (row, first) in found {
        report(row, first);
    }
}

/// Sorts `(row, violation)` pairs by row, keeping each row's order, and drops the rows.
pub fn sorted_violations(mut v: Vec<(usize, Violation)>) -> Vec<Violation> {
    v.sort_by_key(|(row, _)| *row);
    v.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::{check_ids, same_bytes};

    #[test]
    fn ascending_ids_need_no_hashing() {
        let check = |ids: &[&str]| super::ids_ascending(ids.len(), |i| Some(ids[i].as_bytes()));
        assert!(check(&[]));
        assert!(check(&["a", "b", "ba", "c"])); // byte order
        assert!(check(&["acct-8", "acct-9", "acct-10", "acct-11"])); // by length, then bytes
        assert!(!check(&["a", "a"]));
        assert!(!check(&["acct-9", "acct-10", "acct-10"]));
        assert!(!check(&["b", "a"]));
        assert!(!check(&["a", ""]));
        // Each order holds for part of the ids only.
        assert!(!check(&["b", "ab", "c", "ca", "d"]));
        assert!(!super::ids_ascending(2, |i| (i == 0).then_some(b"a".as_slice())));
        // Duplicates are still found when the ids are not ascending.
        let mut found = Vec::new();
        check_ids(&[Some("b"), Some("a"), Some("b")], |r, f| {
            found.push((r, f))
        });
        assert_eq!(found, vec![(2, Some(0))]);
    }

    #[test]
    fn same_bytes_is_equality() {
        let words: Vec<Vec<u8>> = (0..40usize)
            .flat_map(|len| {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let mut variants = vec![base.clone()];
                for at in [0, len / 2, len.saturating_sub(1)] {
                    if at < len {
                        let mut v = base.clone();
                        v[at] ^= 1;
                        variants.push(v);
                    }
                }
                variants
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn duplicate_ids_across_partitions() {
        let names: Vec<String> = (0..20_000).map(|i| format!("id-{}", i % 9_000)).collect();
        let mut ids: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        ids[5] = None;
        ids[6] = Some("");
        let mut found = Vec::new();
        check_ids(&ids, |row, first| found.push((row, first)));
        let mut expect = vec![(5, None), (6, None)];
        // Rows 9000.. repeat 0..; the first occurrence is always the earliest row.
        expect.extend((9_000..20_000).map(|r| (r, Some(r % 9_000))));
        expect.retain(|&(r, f)| !matches!(f, Some(5 | 6)) || r < 9_000);
        // ids 5 and 6 were blanked, so their second occurrence is the first one seen.
        expect.extend([(18_005, Some(9_005)), (18_006, Some(9_006))]);
        expect.sort_unstable();
        assert_eq!(found, expect);
    }
}

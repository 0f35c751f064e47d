//! The columnar account table that every input form (protobuf rows, protobuf columns, Arrow)
//! decodes into and that scoring reads: one column per catalog attribute, indexed by `AttrId`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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
            Column::Number(v) => v.get(row).map_or(true, |x| x.is_nan()),
            Column::Code(v) => v.get(row).map_or(true, |&x| x == CODE_MISSING),
            Column::Bool(v) => v.get(row).map_or(true, |&x| x == BOOL_MISSING),
            Column::Time(v) => v.get(row).map_or(true, |&x| x == TIME_MISSING),
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

/// Flags every later occurrence of an id already seen, and every empty id. `report(row, first)`
/// receives the row and, for a duplicate, the row of the first occurrence.
pub fn check_ids<'s>(
    ids: impl ExactSizeIterator<Item = Option<&'s str>>,
    mut report: impl FnMut(usize, Option<usize>),
) {
    let mut seen: FxMap<&'s str, u32> = FxMap::default();
    seen.reserve(ids.len());
    for (row, id) in ids.enumerate() {
        match id {
            None | Some("") => report(row, None),
            Some(id) => {
                if let Some(&first) = seen.get(id) {
                    report(row, Some(first as usize));
                } else {
                    seen.insert(id, row as u32);
                }
            }
        }
    }
}

/// Sorts `(row, violation)` pairs by row, keeping each row's order, and drops the rows.
pub fn sorted_violations(mut v: Vec<(usize, Violation)>) -> Vec<Violation> {
    v.sort_by_key(|(row, _)| *row);
    v.into_iter().map(|(_, v)| v).collect()
}

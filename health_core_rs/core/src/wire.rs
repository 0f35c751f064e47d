//! Hand-written protobuf wire decoding of a row-form `ScoreAccountsRequest`: the bytes are walked
//! once and every value goes straight into a `RowSink`, borrowing ids, keys and texts from the
//! input (no `Account`, no `HashMap`, no `String` per key or per account).
//!
//! It accepts and rejects exactly what prost accepts and rejects, and builds exactly the table and
//! the violations that `rows::table_from_accounts` builds from prost's decoding (the tests below
//! check it on random and mutated requests). The prost rules it mirrors:
//! - last value wins for scalar fields and for duplicate map keys; a message field that occurs
//!   more than once is merged (a `Timestamp` keeps the fields the later occurrence lacks; a
//!   `NumberHistory` value that occurs twice in one map entry keeps the points of both);
//! - a map entry without key or value uses the default (`""`, a `Value` with no kind);
//! - every known field must have its declared wire type;
//! - strings must be valid UTF-8 (also keys and texts that are ignored);
//! - unknown fields of every wire type are skipped, groups included, with prost's recursion limit
//!   (100 levels, counted from the request).
//!
//! A request that sets `account_columns` is left to the prost path (`score_request` returns
//! `None`).

use crate::api::{as_of_nanos, score_and_encode};
use crate::cancel::Cancel;
use crate::error::{Error, Result, Violation};
use crate::ir::CompiledRuleset;
use crate::proto::ScoreView;
use crate::rows::{PointRef, RowSink, ValueRef};
use crate::table::{now_nanos, sorted_violations, AccountTable, Names};

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// prost's recursion budget at the request's own fields; each nested message takes one.
const DEPTH_REQUEST: u32 = 100;
const DEPTH_ACCOUNT: u32 = DEPTH_REQUEST - 1;
const DEPTH_ENTRY: u32 = DEPTH_ACCOUNT - 1;
const DEPTH_VALUE: u32 = DEPTH_ENTRY - 1;

fn malformed(what: &str) -> Error {
    Error::Malformed(format!("failed to decode Protobuf message: {what}"))
}

#[inline(always)]
fn varint(buf: &mut &[u8]) -> Result<u64> {
    if let Some((&b, rest)) = buf.split_first() {
        if b < 0x80 {
            *buf = rest;
            return Ok(u64::from(b));
        }
    }
    Ok(prost::encoding::decode_varint(buf)?)
}

/// A field key: (tag, wire type), with prost's checks.
#[inline(always)]
fn key(buf: &mut &[u8]) -> Result<(u32, u8)> {
    let k = varint(buf)?;
    if k > u64::from(u32::MAX) {
        return Err(malformed("invalid key value"));
    }
    let wire = (k & 7) as u8;
    if wire > FIXED32 {
        return Err(malformed("invalid wire type value"));
    }
    let tag = (k as u32) >> 3;
    if tag == 0 {
        return Err(malformed("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

#[inline(always)]
fn expect(wire: u8, want: u8) -> Result<()> {
    if wire == want {
        Ok(())
    } else {
        Err(malformed("invalid wire type"))
    }
}

/// A length-delimited body, checked against what remains.
#[inline(always)]
fn delimited<'b>(buf: &mut &'b [u8]) -> Result<&'b [u8]> {
    let len = varint(buf)?;
    if len > buf.len() as u64 {
        return Err(malformed("buffer underflow"));
    }
    let (body, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(body)
}

#[inline(always)]
fn fixed64(buf: &mut &[u8]) -> Result<u64> {
    match buf.split_first_chunk::<8>() {
        Some((b, rest)) => {
            *buf = rest;
            Ok(u64::from_le_bytes(*b))
        }
        None => Err(malformed("buffer underflow")),
    }
}

#[inline(always)]
fn utf8(b: &[u8]) -> Result<&str> {
    std::str::from_utf8(b).map_err(|_| malformed("invalid string value: data is not UTF-8 encoded"))
}

/// Skips one unknown field, as `prost::encoding::skip_field` with `depth` levels left.
fn skip(buf: &mut &[u8], wire: u8, tag: u32, depth: u32) -> Result<()> {
    if depth == 0 {
        return Err(malformed("recursion limit reached"));
    }
    let len = match wire {
        VARINT => {
            varint(buf)?;
            0
        }
        FIXED64 => 8,
        LEN => varint(buf)?,
        START_GROUP => loop {
            let (inner_tag, inner_wire) = key(buf)?;
            if inner_wire == END_GROUP {
                if inner_tag != tag {
                    return Err(malformed("unexpected end group tag"));
                }
                break 0;
            }
            skip(buf, inner_wire, inner_tag, depth - 1)?;
        },
        END_GROUP => return Err(malformed("unexpected end group tag")),
        _ => 4,
    };
    if len > buf.len() as u64 {
        return Err(malformed("buffer underflow"));
    }
    *buf = &buf[len as usize..];
    Ok(())
}

/// Merges a `google.protobuf.Timestamp` body into `ts` (seconds, nanos); `depth` is the budget
/// of its fields.
fn merge_timestamp(mut buf: &[u8], ts: &mut (i64, i32), depth: u32) -> Result<()> {
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, VARINT)?;
                ts.0 = varint(&mut buf)? as i64;
            }
            2 => {
                expect(wire, VARINT)?;
                ts.1 = varint(&mut buf)? as i32;
            }
            _ => skip(&mut buf, wire, tag, depth)?,
        }
    }
    Ok(())
}

/// Attribute names by their bytes: open addressing over a cheap hash of the length and the
/// first and last bytes, at most a quarter full.
struct Keys<'r> {
    names: Vec<&'r [u8]>,
    /// Attribute ids; `u32::MAX` = empty.
    slots: Vec<u32>,
    mask: usize,
}

#[inline(always)]
fn key_hash(k: &[u8]) -> u64 {
    let n = k.len();
    let le8 = |b: &[u8]| b.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c));
    let le4 = |b: &[u8]| {
        b.first_chunk::<4>()
            .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
    };
    let (a, b) = if n >= 8 {
        (le8(k), le8(&k[n - 8..]))
    } else if n >= 4 {
        (le4(k), le4(&k[n - 4..]))
    } else if let (Some(&x), Some(&y)) = (k.first(), k.last()) {
        (
            u64::from(x) | u64::from(k[n / 2]) << 8 | u64::from(y) << 16,
            0,
        )
    } else {
        (0, 0)
    };
    let h = (a ^ b.rotate_left(29) ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 29)
}

impl<'r> Keys<'r> {
    fn new(rules: &'r CompiledRuleset) -> Self {
        let names: Vec<&[u8]> = rules.attributes.iter().map(|a| a.name.as_bytes()).collect();
        let size = (names.len() * 4).next_power_of_two().max(16);
        let mask = size - 1;
        let mut slots = vec![u32::MAX; size];
        for (i, name) in names.iter().enumerate() {
            let mut at = key_hash(name) as usize & mask;
            while slots[at] != u32::MAX {
                at = (at + 1) & mask;
            }
            slots[at] = i as u32;
        }
        Self { names, slots, mask }
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<u32> {
        let mut at = key_hash(key) as usize & self.mask;
        loop {
            let a = *self.slots.get(at)?;
            if a == u32::MAX {
                return None;
            }
            if self.names.get(a as usize).is_some_and(|n| same(n, key)) {
                return Some(a);
            }
            at = (at + 1) & self.mask;
        }
    }

    /// The attribute named `key` (`None`: not in the catalog), checking that an unknown key is
    /// UTF-8 (a known one is).
    #[inline]
    fn resolve(&self, key: &[u8]) -> Result<Option<u32>> {
        match self.get(key) {
            Some(a) => Ok(Some(a)),
            None => utf8(key).map(|_| None),
        }
    }
}

/// Byte equality without a `memcmp` call for short keys.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 16 {
            a.iter().zip(b).all(|(x, y)| x == y)
        } else {
            a == b
        }
}

/// Row decoder state, reused across accounts.
struct Rows<'b, 'n, 'r> {
    keys: Keys<'r>,
    sink: RowSink<'n, 'r>,
    /// One per account decoded so far.
    ids: Vec<&'b str>,
    /// Per attribute (then: account start, after an unknown key): the key that followed it last
    /// time and what that resolved to. Accounts usually list their attributes in the same order,
    /// so most keys are found by one comparison.
    next_key: Vec<(&'b [u8], Option<u32>)>,
    /// The `next_key` slot of the current position.
    prev: usize,
    /// Per attribute: `row + 1` when this account already set it, and where in `values`.
    seen: Vec<(usize, u32)>,
    values: Vec<(u32, ValueRef<'b>)>,
    /// Per attribute: `row + 1` when this account already has a history for it, and where in
    /// `histories`.
    seen_history: Vec<(usize, u32)>,
    /// This account's (attribute, range of `points`).
    histories: Vec<(u32, usize, usize)>,
    /// (row, attribute, range of `points`) of every account: as_of may come last.
    deferred: Vec<(usize, u32, usize, usize)>,
    points: Vec<PointRef>,
}

impl<'b, 'n, 'r> Rows<'b, 'n, 'r> {
    /// Resolves an `attributes` key, predicting it from the key before.
    #[inline]
    fn resolve_next(&mut self, key: &'b [u8]) -> Result<Option<u32>> {
        let unknown = self.next_key.len() - 1;
        let slot = self.prev;
        let a = match self.next_key.get(slot) {
            Some(&(k, a)) if same(k, key) => a,
            _ => {
                let a = self.keys.resolve(key)?;
                if let Some(s) = self.next_key.get_mut(slot) {
                    *s = (key, a);
                }
                a
            }
        };
        self.prev = a.map_or(unknown, |a| a as usize);
        Ok(a)
    }

    /// Decodes one account body into the next row.
    fn account(&mut self, mut buf: &'b [u8]) -> Result<()> {
        let row = self.ids.len();
        if row >= self.sink.len() {
            self.sink.resize(row + row / 2 + 64)?;
        }
        let mut id = "";
        let mut status = 0i32;
        self.prev = self.next_key.len() - 2;
        self.values.clear();
        self.histories.clear();
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            match tag {
                5 => {
                    expect(wire, LEN)?;
                    let body = delimited(&mut buf)?;
                    self.attribute_entry(row, body)?;
                }
                1 => {
                    expect(wire, LEN)?;
                    id = utf8(delimited(&mut buf)?)?;
                }
                2 => {
                    expect(wire, LEN)?;
                    utf8(delimited(&mut buf)?)?;
                }
                3 => {
                    expect(wire, VARINT)?;
                    status = varint(&mut buf)? as i32;
                }
                4 => {
                    expect(wire, VARINT)?;
                    varint(&mut buf)?;
                }
                6 => {
                    expect(wire, LEN)?;
                    let body = delimited(&mut buf)?;
                    self.history_entry(row, body)?;
                }
                _ => skip(&mut buf, wire, tag, DEPTH_ACCOUNT)?,
            }
        }
        self.sink.set_status(row, status);
        for &(attr, value) in &self.values {
            self.sink.set_value_at(row, attr, value);
        }
        self.deferred.extend(
            self.histories
                .iter()
                .map(|&(a, start, end)| (row, a, start, end)),
        );
        self.ids.push(id);
        Ok(())
    }

    /// One `attributes` map entry (key 1, value 2, in any order, each possibly repeated).
    #[inline]
    fn attribute_entry(&mut self, row: usize, mut buf: &'b [u8]) -> Result<()> {
        // The usual layout, exactly: key (< 128 bytes), then a `Value` holding one number.
        if let [0x0a, klen, rest @ ..] = buf {
            let klen = usize::from(*klen);
            if klen < 0x80 && rest.len() == klen + 11 {
                let (k, v) = rest.split_at(klen);
                if let [0x12, 0x09, 0x09, x @ ..] = v {
                    if let Ok(x) = <[u8; 8]>::try_from(x) {
                        let attr = self.resolve_next(k)?;
                        self.put_value(row, attr, ValueRef::Number(f64::from_le_bytes(x)));
                        return Ok(());
                    }
                }
            }
        }
        let mut attr: Option<Option<u32>> = None;
        let mut value = ValueRef::Unset;
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            match tag {
                1 => {
                    expect(wire, LEN)?;
                    let k = delimited(&mut buf)?;
                    attr = Some(self.resolve_next(k)?);
                }
                2 => {
                    expect(wire, LEN)?;
                    merge_value(delimited(&mut buf)?, &mut value)?;
                }
                _ => skip(&mut buf, wire, tag, DEPTH_ENTRY)?,
            }
        }
        let attr = match attr {
            Some(a) => a,
            None => self.keys.resolve(b"")?,
        };
        self.put_value(row, attr, value);
        Ok(())
    }

    /// Records this account's value of `attr` (the last one wins).
    #[inline(always)]
    fn put_value(&mut self, row: usize, attr: Option<u32>, value: ValueRef<'b>) {
        let Some(attr) = attr else {
            return;
        };
        let Some(seen) = self.seen.get_mut(attr as usize) else {
            return;
        };
        if seen.0 == row + 1 {
            // A duplicate key: the last entry wins.
            if let Some(v) = self.values.get_mut(seen.1 as usize) {
                v.1 = value;
            }
        } else {
            *seen = (row + 1, self.values.len() as u32);
            self.values.push((attr, value));
        }
    }

    /// One `history` map entry.
    fn history_entry(&mut self, row: usize, mut buf: &'b [u8]) -> Result<()> {
        let mut attr: Option<Option<u32>> = None;
        let start = self.points.len();
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            match tag {
                1 => {
                    expect(wire, LEN)?;
                    let k = delimited(&mut buf)?;
                    attr = Some(self.keys.resolve(k)?);
                }
                2 => {
                    expect(wire, LEN)?;
                    merge_history(delimited(&mut buf)?, &mut self.points)?;
                }
                _ => skip(&mut buf, wire, tag, DEPTH_ENTRY)?,
            }
        }
        let attr = match attr {
            Some(a) => a,
            None => self.keys.resolve(b"")?,
        };
        let end = self.points.len();
        let Some((attr, seen)) =
            attr.and_then(|a| Some((a, self.seen_history.get_mut(a as usize)?)))
        else {
            self.points.truncate(start);
            return Ok(());
        };
        if seen.0 == row + 1 {
            if let Some(h) = self.histories.get_mut(seen.1 as usize) {
                *h = (attr, start, end);
            }
        } else {
            *seen = (row + 1, self.histories.len() as u32);
            self.histories.push((attr, start, end));
        }
        Ok(())
    }
}

/// Merges a `Value` body into `value` (oneof: the last kind wins; a time merges into an earlier
/// time).
#[inline]
fn merge_value<'b>(mut buf: &'b [u8], value: &mut ValueRef<'b>) -> Result<()> {
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, FIXED64)?;
                *value = ValueRef::Number(f64::from_bits(fixed64(&mut buf)?));
            }
            2 => {
                expect(wire, LEN)?;
                *value = ValueRef::Text(utf8(delimited(&mut buf)?)?);
            }
            3 => {
                expect(wire, VARINT)?;
                *value = ValueRef::Bool(varint(&mut buf)? != 0);
            }
            4 => {
                expect(wire, LEN)?;
                let body = delimited(&mut buf)?;
                let mut ts = match *value {
                    ValueRef::Time(s, n) => (s, n),
                    _ => (0, 0),
                };
                merge_timestamp(body, &mut ts, DEPTH_VALUE - 1)?;
                *value = ValueRef::Time(ts.0, ts.1);
            }
            _ => skip(&mut buf, wire, tag, DEPTH_VALUE)?,
        }
    }
    Ok(())
}

/// Merges a `NumberHistory` body: appends its points.
fn merge_history(mut buf: &[u8], points: &mut Vec<PointRef>) -> Result<()> {
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, LEN)?;
                points.push(history_point(delimited(&mut buf)?)?);
            }
            _ => skip(&mut buf, wire, tag, DEPTH_VALUE)?,
        }
    }
    Ok(())
}

/// A `HistoryPoint` body.
fn history_point(mut buf: &[u8]) -> Result<PointRef> {
    let mut time: Option<(i64, i32)> = None;
    let mut value = 0.0;
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, LEN)?;
                let body = delimited(&mut buf)?;
                merge_timestamp(body, time.get_or_insert((0, 0)), DEPTH_VALUE - 2)?;
            }
            2 => {
                expect(wire, FIXED64)?;
                value = f64::from_bits(fixed64(&mut buf)?);
            }
            _ => skip(&mut buf, wire, tag, DEPTH_VALUE - 1)?,
        }
    }
    Ok((time, value))
}

/// A decoded row-form request.
pub struct Decoded<'b> {
    pub table: AccountTable<'static>,
    /// With their rows, ordered as `rows::table_from_accounts` orders them.
    pub violations: Vec<(usize, Violation)>,
    /// Borrowed from the request.
    pub ids: Vec<&'b str>,
    /// The request's `as_of`, or the default given.
    pub as_of: i128,
    pub view: i32,
}

/// Decodes a `ScoreAccountsRequest` in one walk over its bytes. `Ok(None)`: it sets
/// `account_columns` (left to the prost path). `default_as_of` stands for an unset `as_of`.
pub fn decode_request<'b>(
    names: &Names<'_>,
    request: &'b [u8],
    default_as_of: i128,
) -> Result<Option<Decoded<'b>>> {
    let n_attrs = names.rules.attributes.len();
    let keys = Keys::new(names.rules);
    let empty = keys.get(b"");
    let mut rows = Rows {
        keys,
        sink: RowSink::new(names, 0, default_as_of)?,
        ids: Vec::new(),
        next_key: vec![(&[][..], empty); n_attrs + 2],
        prev: n_attrs,
        seen: vec![(0, 0); n_attrs],
        values: Vec::new(),
        seen_history: vec![(0, 0); n_attrs],
        histories: Vec::new(),
        deferred: Vec::new(),
        points: Vec::new(),
    };
    let mut as_of: Option<(i64, i32)> = None;
    let mut view = 0i32;
    let mut buf = request;
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, LEN)?;
                let body = delimited(&mut buf)?;
                if rows.ids.is_empty() {
                    // Room for as many accounts like the first as the request can hold (at most
                    // one per 32 bytes; smaller accounts grow the table as they come).
                    let guess = (request.len() / (body.len() + 2)).min(request.len() / 32);
                    let guess = guess + guess / 8 + 1;
                    // But never a table (8 bytes a cell at most, a column per attribute and
                    // look-back) over 4x the request: a tiny first account followed by other
                    // bytes must not size a large catalog's table for accounts that never come.
                    let cells = n_attrs + names.rules.lookbacks.len() + 1;
                    let guess = guess.min((4 * request.len() / (8 * cells)).max(64));
                    rows.sink.resize(guess)?;
                    crate::alloc::try_reserve(&mut rows.ids, "account ids", guess)?;
                }
                rows.account(body)?;
            }
            2 => return Ok(None),
            3 => {
                expect(wire, LEN)?;
                let body = delimited(&mut buf)?;
                merge_timestamp(body, as_of.get_or_insert((0, 0)), DEPTH_ACCOUNT)?;
            }
            4 => {
                expect(wire, VARINT)?;
                view = varint(&mut buf)? as i32;
            }
            // The service's options (`ruleset`, `include_other_model`, `other_model_ruleset`):
            // not needed to score, but checked as prost checks them.
            5 | 7 => {
                expect(wire, LEN)?;
                utf8(delimited(&mut buf)?)?;
            }
            6 => {
                expect(wire, VARINT)?;
                varint(&mut buf)?;
            }
            _ => skip(&mut buf, wire, tag, DEPTH_REQUEST)?,
        }
    }
    let as_of = match as_of {
        Some((s, n)) => as_of_nanos(s, n)?,
        None => default_as_of,
    };
    let Rows {
        mut sink,
        ids,
        deferred,
        points,
        ..
    } = rows;
    sink.resize(ids.len())?;
    sink.set_as_of(as_of);
    for (row, attr, start, end) in deferred {
        sink.set_history_at(row, attr, points.get(start..end).unwrap_or(&[]));
    }
    let opt_ids: Vec<Option<&str>> = ids.iter().map(|&s| Some(s)).collect();
    let (table, violations) = sink.finish_with_ids(&opt_ids);
    Ok(Some(Decoded {
        table,
        violations,
        ids,
        as_of,
        view,
    }))
}

/// `api::score_request_bytes_with_threads` for a row-form request; `None` when the request sets
/// `account_columns` (the caller then takes the prost path).
pub fn score_request(
    rules: &CompiledRuleset,
    request: &[u8],
    threads: usize,
    cancel: &Cancel,
) -> Option<Result<Vec<u8>>> {
    let names = Names::new(rules);
    // Malformed bytes anywhere win over every other error, as with prost (which decodes first).
    let d = match decode_request(&names, request, now_nanos()) {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let view = match ScoreView::try_from(d.view) {
        Ok(ScoreView::Unspecified) => ScoreView::Basic,
        Ok(v) => v,
        Err(_) => {
            return Some(Err(Error::InvalidAccounts(vec![Violation::new(
                "view",
                "unknown view",
            )])));
        }
    };
    let violations = sorted_violations(d.violations);
    if !violations.is_empty() {
        return Some(Err(Error::InvalidAccounts(violations)));
    }
    Some(score_and_encode(
        rules, &d.table, &d.ids, d.as_of, view, threads, cancel,
    ))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;

//! The bulk path: an Arrow `RecordBatch` into an `AccountTable` (column-wise, Float64 columns
//! borrowed without copying), and the scored rows back out as a `RecordBatch`. Bad rows get an
//! `error` and nulls elsewhere; they never fail the batch.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, Int8Array, RecordBatch, StringArray,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::error::{Error, Result};
use crate::ir::{
    AttrType, CompiledRuleset, BOOL_FALSE, BOOL_MISSING, BOOL_TRUE, CODE_MISSING, CODE_OTHER,
    TIME_MISSING,
};
use crate::pool;
use crate::proto::ScoreView;
use crate::score::{rank_of, ChunkOut, Detail, Scorer, DIM_IGNORED, NO_SCORE, RANK_UNKNOWN};
use crate::table::{
    check_ids, check_ids_with, id_hash, ids_ascending, same_bytes, AccountTable, Column, Names,
    MAX_ROWS,
};

/// Per-row problems found while decoding: (row, "column: message").
type RowErrors = Vec<(usize, String)>;

fn malformed(column: &str, what: &str, dt: &DataType) -> Error {
    Error::Malformed(format!(
        "column {column:?}: Arrow type {dt} cannot hold {what}"
    ))
}

/// Calls `f(row, value)` for every entry of a string array (any string type).
pub(crate) fn for_each_str<'a>(
    arr: &'a dyn Array,
    mut f: impl FnMut(usize, Option<&'a str>),
) -> bool {
    match arr.data_type() {
        DataType::Utf8 => arr
            .as_string::<i32>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        DataType::LargeUtf8 => arr
            .as_string::<i64>()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        DataType::Utf8View => arr
            .as_string_view()
            .iter()
            .enumerate()
            .for_each(|(i, v)| f(i, v)),
        _ => return false,
    }
    true
}

/// Whether `for_each_str` reads arrays of this type.
pub(crate) fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// 2^53: integers up to this magnitude are exact doubles.
const EXACT_INT: u64 = 1 << 53;

/// Reports every non-null infinite value. Checks the whole column branch-free first: infinite
/// values are rare, so the common case is one streaming pass.
fn report_infinite(name: &str, values: &[f64], nulls: Option<&NullBuffer>, errors: &mut RowErrors) {
    let any = values
        .chunks(1024)
        .any(|c| c.iter().fold(false, |a, x| a | x.is_infinite()));
    if !any {
        return;
    }
    for (i, x) in values.iter().enumerate() {
        if x.is_infinite() && nulls.is_none_or(|nb| nb.is_valid(i)) {
            errors.push((i, format!("{name}: infinite number")));
        }
    }
}

/// A NUMBER column as NaN-for-no-value doubles (look-backs).
fn number_values(name: &str, arr: &dyn Array, errors: &mut RowErrors) -> Result<Vec<f64>> {
    Ok(match number_column(name, arr, true, errors)? {
        Column::Number(v) => v.into_owned(),
        Column::NumberMasked(v, nb) => v
            .iter()
            .zip(nb.iter())
            .map(|(&x, ok)| if ok { x } else { f64::NAN })
            .collect(),
        _ => Vec::new(),
    })
}

/// A NUMBER column. Float64 is borrowed as is (with its validity bitmap when it has nulls).
pub(crate) fn number_column<'b>(
    name: &str,
    arr: &'b dyn Array,
    check_infinite: bool,
    errors: &mut RowErrors,
) -> Result<Column<'b>> {
    fn prim<T: ArrowPrimitiveType>(
        arr: &dyn Array,
        conv: impl Fn(T::Native) -> Option<f64>,
    ) -> Vec<Option<f64>> {
        let a = arr.as_primitive::<T>();
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    Some(f64::NAN)
                } else {
                    conv(a.value(i))
                }
            })
            .collect()
    }
    let converted: Vec<Option<f64>> = match arr.data_type() {
        DataType::Float64 => {
            let a = arr.as_primitive::<Float64Type>();
            let values: &'b [f64] = a.values();
            let nulls = a.nulls().filter(|nb| nb.null_count() > 0);
            if check_infinite {
                report_infinite(name, values, nulls, errors);
            }
            return Ok(match nulls {
                None => Column::Number(Cow::Borrowed(values)),
                Some(nb) => Column::NumberMasked(values, nb.clone()),
            });
        }
        DataType::Float32 => prim::<Float32Type>(arr, |v| Some(f64::from(v))),
        DataType::Int8 => prim::<Int8Type>(arr, |v| Some(f64::from(v))),
        DataType::Int16 => prim::<Int16Type>(arr, |v| Some(f64::from(v))),
        DataType::Int32 => prim::<Int32Type>(arr, |v| Some(f64::from(v))),
        DataType::UInt8 => prim::<UInt8Type>(arr, |v| Some(f64::from(v))),
        DataType::UInt16 => prim::<UInt16Type>(arr, |v| Some(f64::from(v))),
        DataType::UInt32 => prim::<UInt32Type>(arr, |v| Some(f64::from(v))),
        DataType::Int64 => {
            prim::<Int64Type>(arr, |v| (v.unsigned_abs() <= EXACT_INT).then_some(v as f64))
        }
        DataType::UInt64 => prim::<UInt64Type>(arr, |v| (v <= EXACT_INT).then_some(v as f64)),
        dt => return Err(malformed(name, "NUMBER values", dt)),
    };
    let mut out = Vec::with_capacity(converted.len());
    for (i, v) in converted.into_iter().enumerate() {
        match v {
            Some(x) if x.is_infinite() => {
                errors.push((i, format!("{name}: infinite number")));
                out.push(f64::NAN);
            }
            Some(x) => out.push(x),
            None => {
                errors.push((
                    i,
                    format!("{name}: integer beyond 2^53 is not an exact number"),
                ));
                out.push(f64::NAN);
            }
        }
    }
    Ok(Column::Number(Cow::Owned(out)))
}

pub(crate) fn code_column(
    names: &Names<'_>,
    attr: u32,
    name: &str,
    arr: &dyn Array,
    errors: &mut RowErrors,
) -> Result<Vec<u32>> {
    let n = arr.len();
    let mut codes = vec![CODE_MISSING; n];
    let code_of = |s: &str| -> std::result::Result<u32, String> {
        if s.is_empty() {
            return Ok(CODE_MISSING);
        }
        names
            .code(attr, s)
            .ok_or_else(|| format!("{name}: undeclared ordinal level {s:?}"))
    };
    if let Some(dict) = arr.as_any_dictionary_opt() {
        let values = dict.values();
        if !is_string(values.data_type()) {
            return Err(malformed(name, "TEXT values", arr.data_type()));
        }
        let mut value_codes: Vec<std::result::Result<u32, String>> =
            Vec::with_capacity(values.len());
        for_each_str(values.as_ref(), |_, v| {
            value_codes.push(v.map_or(Ok(CODE_MISSING), code_of))
        });
        if value_codes.is_empty() {
            return Ok(codes); // only nulls can reference an empty dictionary
        }
        let keys = dict.normalized_keys();
        let nulls = arr.logical_nulls();
        for (i, k) in keys.into_iter().enumerate() {
            if nulls.as_ref().is_some_and(|nb| nb.is_null(i)) {
                continue;
            }
            match value_codes.get(k) {
                Some(Ok(c)) => codes[i] = *c,
                Some(Err(e)) => errors.push((i, e.clone())),
                None => {}
            }
        }
        return Ok(codes);
    }
    if let Some(a) = arr.as_string_opt::<i32>() {
        // Plain Utf8: compare the bytes with the (few) literals the ruleset uses, found by
        // length first; fall back to the hash map for long literal lists.
        let info = &names.rules.attributes[attr as usize];
        if info.codes.len() <= 8 {
            let lits: Vec<(&[u8], u32)> =
                info.codes.iter().map(|(k, &v)| (k.as_bytes(), v)).collect();
            let text = info.ty == AttrType::Text;
            let offsets = a.value_offsets();
            let bytes = a.values().as_slice();
            let nulls = a.nulls();
            for (i, c) in codes.iter_mut().enumerate() {
                let v = &bytes[offsets[i] as usize..offsets[i + 1] as usize];
                if v.is_empty() || nulls.is_some_and(|nb| nb.is_null(i)) {
                    continue;
                }
                match lits.iter().find(|(l, _)| same_bytes(l, v)) {
                    Some(&(_, code)) => *c = code,
                    None if text => *c = CODE_OTHER,
                    None => {
                        let s = String::from_utf8_lossy(v);
                        errors.push((i, format!("{name}: undeclared ordinal level {s:?}")));
                    }
                }
            }
            return Ok(codes);
        }
    }
    let ok = for_each_str(arr, |i, v| match v.map_or(Ok(CODE_MISSING), code_of) {
        Ok(c) => codes[i] = c,
        Err(e) => errors.push((i, e)),
    });
    if !ok {
        return Err(malformed(name, "TEXT values", arr.data_type()));
    }
    Ok(codes)
}

fn time_column(name: &str, arr: &dyn Array, errors: &mut RowErrors) -> Result<Vec<i64>> {
    let DataType::Timestamp(unit, _) = arr.data_type() else {
        return Err(malformed(name, "TIME values", arr.data_type()));
    };
    let (values, scale): (&[i64], i64) = match unit {
        TimeUnit::Second => (
            arr.as_primitive::<TimestampSecondType>().values(),
            1_000_000_000,
        ),
        TimeUnit::Millisecond => (
            arr.as_primitive::<TimestampMillisecondType>().values(),
            1_000_000,
        ),
        TimeUnit::Microsecond => (
            arr.as_primitive::<TimestampMicrosecondType>().values(),
            1_000,
        ),
        TimeUnit::Nanosecond => (arr.as_primitive::<TimestampNanosecondType>().values(), 1),
    };
    let out = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if arr.is_null(i) {
                return TIME_MISSING;
            }
            match v.checked_mul(scale).filter(|&t| t != TIME_MISSING) {
                Some(t) => t,
                None => {
                    errors.push((
                        i,
                        format!("{name}: time outside what 64-bit nanoseconds can hold"),
                    ));
                    TIME_MISSING
                }
            }
        })
        .collect();
    Ok(out)
}

/// The decoded batch: the table, the `id` column, and the bad rows' errors (row order, joined).
pub(crate) struct Decoded<'b> {
    pub(crate) table: AccountTable<'b>,
    ids: ArrayRef,
    id_field: Arc<Field>,
    errors: Vec<(usize, String)>,
}

/// Flags empty, null and duplicate ids. Plain Utf8 ids are hashed straight from the Arrow
/// offsets and bytes (no per-row string slices collected).
pub(crate) fn check_id_column(
    ids: &dyn Array,
    threads: usize,
    errors: &mut RowErrors,
) -> Result<()> {
    let mut report = |row: usize, first: Option<usize>| {
        errors.push((
            row,
            match first {
                None => "id: id is required".into(),
                Some(f) => format!("id: duplicate id (first at row {f})"),
            },
        ))
    };
    if let Some(a) = ids.as_string_opt::<i32>() {
        let offsets = a.value_offsets();
        let bytes = a.values().as_slice();
        let nulls = a.nulls();
        let get = |i: usize| &bytes[offsets[i] as usize..offsets[i + 1] as usize];
        let valid = |i: usize| nulls.is_none_or(|nb| nb.is_valid(i));
        if ids_ascending(a.len(), |i| valid(i).then(|| get(i))) {
            return Ok(());
        }
        check_ids_with(
            a.len(),
            threads,
            |i| {
                let s = get(i);
                (!s.is_empty() && nulls.is_none_or(|nb| nb.is_valid(i))).then(|| id_hash(s))
            },
            |x, y| same_bytes(get(x), get(y)),
            &mut report,
        );
        return Ok(());
    }
    let mut id_values: Vec<Option<&str>> = Vec::with_capacity(ids.len());
    if !for_each_str(ids, |_, v| id_values.push(v)) {
        return Err(malformed("id", "account ids", ids.data_type()));
    }
    check_ids(&id_values, report);
    Ok(())
}

pub(crate) fn decode<'b>(
    rules: &CompiledRuleset,
    batch: &'b RecordBatch,
    threads: usize,
) -> Result<Decoded<'b>> {
    decode_with(rules, batch, threads, false)
}

/// `decode`; with `defer_infinite`, borrowed Float64 columns are left for the scorer to check
/// for infinite values (`AccountTable::unchecked_infinite`).
pub(crate) fn decode_with<'b>(
    rules: &CompiledRuleset,
    batch: &'b RecordBatch,
    threads: usize,
    defer_infinite: bool,
) -> Result<Decoded<'b>> {
    let names = Names::new(rules);
    let n = batch.num_rows();
    let schema = batch.schema();
    let mut errors: RowErrors = Vec::new();
    let id_idx = schema
        .index_of("id")
        .map_err(|_| Error::Malformed("column \"id\" is required".into()))?;
    let ids = batch.column(id_idx).clone();
    check_id_column(ids.as_ref(), threads, &mut errors)?;
    let mut cancelled = Vec::new();
    if let Ok(i) = schema.index_of("status") {
        cancelled = vec![false; n];
        let col = batch.column(i);
        let ok = for_each_str(col.as_ref(), |row, v| match v {
            None => {}
            Some(s) if s.eq_ignore_ascii_case("active") => {}
            Some(s) if s.eq_ignore_ascii_case("cancelled") => cancelled[row] = true,
            Some(s) => errors.push((row, format!("status: unknown status {s:?}"))),
        });
        if !ok {
            return Err(malformed("status", "statuses", col.data_type()));
        }
    }
    if let Ok(i) = schema.index_of("contract_value") {
        let dt = batch.column(i).data_type();
        if *dt != DataType::Int64 {
            return Err(malformed("contract_value", "contract values", dt));
        }
    }
    let mut columns: Vec<Column<'b>> = rules.attributes.iter().map(|_| Column::Absent).collect();
    let mut lookbacks: Vec<Option<Vec<f64>>> = vec![None; rules.lookbacks.len()];
    let lookback_names: Vec<String> = rules
        .lookbacks
        .iter()
        .map(|&(a, p)| {
            format!(
                "{}@-{p}d",
                rules
                    .attributes
                    .get(a as usize)
                    .map_or("", |x| x.name.as_str())
            )
        })
        .collect();
    // Which field goes where (in field order; a repeated column is an error at its position),
    // then the columns are converted in parallel, each with its own row errors.
    enum Job {
        Attr(usize, u32),
        Lookback(usize, usize),
        Twice(String),
    }
    let mut jobs = Vec::new();
    let mut seen_attr = vec![false; columns.len()];
    let mut seen_lb = vec![false; lookbacks.len()];
    for (fi, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        if let Some(attr) = names.attr(name) {
            let Some(seen) = seen_attr.get_mut(attr as usize) else {
                continue;
            };
            jobs.push(if std::mem::replace(seen, true) {
                Job::Twice(name.to_string())
            } else {
                Job::Attr(fi, attr)
            });
        } else if let Some(lb) = lookback_names.iter().position(|l| l == name) {
            jobs.push(if std::mem::replace(&mut seen_lb[lb], true) {
                Job::Twice(name.to_string())
            } else {
                Job::Lookback(fi, lb)
            });
        }
    }
    enum Done<'b> {
        Attr(u32, Column<'b>),
        Lookback(usize, Vec<f64>),
    }
    let names = &names;
    let done = pool::map_items(jobs.len(), threads, |j| -> Result<(Done<'b>, RowErrors)> {
        let mut errors = RowErrors::new();
        let (fi, name) = match &jobs[j] {
            Job::Twice(name) => {
                return Err(Error::Malformed(format!("column {name:?} appears twice")));
            }
            Job::Attr(fi, _) | Job::Lookback(fi, _) => (*fi, schema.field(*fi).name().as_str()),
        };
        let arr: &'b dyn Array = batch.column(fi).as_ref();
        let out = match jobs[j] {
            Job::Attr(_, attr) => Done::Attr(
                attr,
                match names.ty(attr) {
                    AttrType::Number => number_column(name, arr, !defer_infinite, &mut errors)?,
                    AttrType::Text | AttrType::Ordinal => {
                        Column::Code(code_column(names, attr, name, arr, &mut errors)?)
                    }
                    AttrType::Bool => {
                        let Some(b) = arr.as_boolean_opt() else {
                            return Err(malformed(name, "BOOL values", arr.data_type()));
                        };
                        Column::Bool(
                            b.iter()
                                .map(|v| match v {
                                    None => BOOL_MISSING,
                                    Some(true) => BOOL_TRUE,
                                    Some(false) => BOOL_FALSE,
                                })
                                .collect(),
                        )
                    }
                    AttrType::Time => Column::Time(time_column(name, arr, &mut errors)?),
                },
            ),
            Job::Lookback(_, lb) => Done::Lookback(lb, number_values(name, arr, &mut errors)?),
            Job::Twice(_) => return Err(Error::Internal("repeated column".into())),
        };
        Ok((out, errors))
    });
    for d in done {
        let (d, errs) = d?;
        errors.extend(errs);
        match d {
            Done::Attr(attr, col) => columns[attr as usize] = col,
            Done::Lookback(lb, v) => lookbacks[lb] = Some(v),
        }
    }
    errors.sort_by_key(|e| e.0);
    // Joined messages of the bad rows only, in row order.
    let mut joined: Vec<(usize, String)> = Vec::new();
    let mut bad = Vec::new();
    if !errors.is_empty() {
        bad = vec![false; n];
        for (row, e) in errors {
            let Some(b) = bad.get_mut(row) else { continue };
            *b = true;
            match joined.last_mut() {
                Some((r, s)) if *r == row => {
                    s.push_str("; ");
                    s.push_str(&e);
                }
                _ => joined.push((row, e)),
            }
        }
    }
    let table = AccountTable {
        len: n,
        columns,
        cancelled,
        lookbacks,
        bad,
        unchecked_infinite: defer_infinite,
    };
    let id_field = schema.fields()[id_idx].clone();
    Ok(Decoded {
        table,
        ids,
        id_field,
        errors: joined,
    })
}

/// The error column: all null when there are no bad rows, else Utf8 with the joined messages.
fn error_column(n: usize, errors: &[(usize, String)]) -> ArrayRef {
    if errors.is_empty() {
        return arrow_array::new_null_array(&DataType::Utf8, n);
    }
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    let mut bytes: Vec<u8> = Vec::new();
    let mut valid = arrow_buffer::BooleanBufferBuilder::new(n);
    let mut next = errors.iter().peekable();
    offsets.push(0);
    for i in 0..n {
        let e = next.next_if(|(r, _)| *r == i);
        if let Some((_, s)) = e {
            bytes.extend_from_slice(s.as_bytes());
        }
        valid.append(e.is_some());
        offsets.push(bytes.len() as i32);
    }
    Arc::new(StringArray::new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(bytes),
        Some(NullBuffer::new(valid.finish())),
    ))
}

const RANK_NAMES: [&str; 4] = ["GOOD", "AVERAGE", "POOR", "UNKNOWN"];
const REASON_NAMES: [&str; 3] = ["CANCELLED", "NO_PROFILE", "NO_DATA"];

pub fn rank_name(rank: u8) -> Option<&'static str> {
    match rank {
        1 => Some("GOOD"),
        2 => Some("AVERAGE"),
        3 => Some("POOR"),
        4 => Some("UNKNOWN"),
        _ => None,
    }
}

/// The BASIC result columns of one range of rows, in their output form: dictionary keys and
/// scores, and validity bitmaps (ranges start at multiples of 8 rows, so each part's bitmaps
/// are whole bytes of the batch's).
struct BasicPart {
    /// Profile keys: Int8 when the profile names fit (`profile_keys_fit_i8`), else Int32.
    profile8: Vec<i8>,
    profile32: Vec<i32>,
    score: Vec<i32>,
    rank: Vec<i8>,
    reason: Vec<i8>,
    /// Validity of profile, score, rank, unknown_reason: one bit per row.
    valid: [Vec<u8>; 4],
    /// The DIMENSIONS and FULL views: per column of `Plans::columns`.
    dims: Vec<DimPart>,
    found_infinite: bool,
}

/// One per-dimension (per-category) column pair of a range of rows, in output form.
struct DimPart {
    /// Scores (Multidimensional only) and rank keys (`RANK_NAMES`), 0 where null.
    score: Vec<i32>,
    rank: Vec<i8>,
    /// One bit per row.
    score_valid: Vec<u8>,
    rank_valid: Vec<u8>,
}

/// From a `ChunkOut::dims` byte to its output values, one table entry per byte value.
struct DimCodec {
    /// The bytes are Multidimensional dimension scores (else Account Health category ranks).
    scores: bool,
    /// The `<dimension>.rank` key (`RANK_NAMES`) and whether there is one.
    rank: [(i8, bool); 256],
}

impl DimCodec {
    fn new(rules: &CompiledRuleset, scores: bool) -> DimCodec {
        let rank_key = |r: u8| ((r as i8).wrapping_sub(1), (1..=4).contains(&r));
        let rank = std::array::from_fn(|b| {
            let b = b as u8;
            if !scores {
                rank_key(b)
            } else if b <= 100 {
                rank_key(rank_of(u64::from(b), &rules.settings))
            } else if b == DIM_IGNORED {
                rank_key(RANK_UNKNOWN)
            } else {
                (0, false)
            }
        });
        DimCodec { scores, rank }
    }

    fn part(&self, column: &[u8]) -> DimPart {
        let n = column.len();
        let mut part = DimPart {
            score: Vec::with_capacity(if self.scores { n } else { 0 }),
            rank: Vec::with_capacity(n),
            score_valid: vec![0u8; if self.scores { n.div_ceil(8) } else { 0 }],
            rank_valid: vec![0u8; n.div_ceil(8)],
        };
        for (k, bytes) in column.chunks(8).enumerate() {
            let mut rank_bits = 0u8;
            for (j, &b) in bytes.iter().enumerate() {
                let (key, has) = self.rank[usize::from(b)];
                part.rank.push(if has { key } else { 0 });
                rank_bits |= u8::from(has) << j;
            }
            part.rank_valid[k] = rank_bits;
            if self.scores {
                let mut score_bits = 0u8;
                for (j, &b) in bytes.iter().enumerate() {
                    let has = b <= 100;
                    part.score.push(if has { i32::from(b) } else { 0 });
                    score_bits |= u8::from(has) << j;
                }
                part.score_valid[k] = score_bits;
            }
        }
        part
    }
}

impl BasicPart {
    fn new(chunk: ChunkOut, profiles: usize, codec: Option<&DimCodec>) -> BasicPart {
        let n = chunk.rows.len();
        let narrow = profile_keys_fit_i8(profiles);
        let mut part = BasicPart {
            profile8: Vec::with_capacity(if narrow { n } else { 0 }),
            profile32: Vec::with_capacity(if narrow { 0 } else { n }),
            score: Vec::with_capacity(n),
            rank: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
            valid: std::array::from_fn(|_| vec![0u8; n.div_ceil(8)]),
            dims: Vec::new(),
            found_infinite: chunk.found_infinite,
        };
        for (k, rows) in chunk.rows.chunks(8).enumerate() {
            let mut bits = [0u8; 4];
            for (j, r) in rows.iter().enumerate() {
                let has_profile = (r.profile as usize) < profiles;
                let has_score = r.score != NO_SCORE;
                let has_rank = (1..=4).contains(&r.rank);
                let has_reason = (1..=3).contains(&r.reason);
                let key = if has_profile { r.profile } else { 0 };
                if narrow {
                    part.profile8.push(key as i8);
                } else {
                    part.profile32.push(key as i32);
                }
                part.score.push(if has_score { r.score } else { 0 });
                part.rank.push(i8::from(has_rank) * (r.rank as i8 - 1));
                part.reason
                    .push(i8::from(has_reason) * (r.reason as i8 - 1));
                for (b, has) in bits
                    .iter_mut()
                    .zip([has_profile, has_score, has_rank, has_reason])
                {
                    *b |= u8::from(has) << j;
                }
            }
            for (v, b) in part.valid.iter_mut().zip(bits) {
                v[k] = b;
            }
        }
        if let Some(codec) = codec.filter(|_| n > 0) {
            part.dims = chunk.dims.chunks(n).map(|c| codec.part(c)).collect();
        }
        part
    }
}

/// Concatenated validity bitmaps; None when every row is valid.
fn concat_nulls(n: usize, parts: &[BasicPart], which: usize) -> Option<NullBuffer> {
    concat_bits(n, parts.iter().map(|p| &p.valid[which][..]))
}

/// The values of consecutive ranges (`n` in all) as one vector.
fn concat<'p, T: Copy + 'p>(n: usize, parts: impl Iterator<Item = &'p [T]>) -> Vec<T> {
    let mut all = Vec::with_capacity(n);
    for p in parts {
        all.extend_from_slice(p);
    }
    all
}

/// Validity bitmaps of consecutive ranges (each a multiple of 8 rows but the last) as one;
/// None when every row is valid.
fn concat_bits<'p>(n: usize, parts: impl Iterator<Item = &'p [u8]>) -> Option<NullBuffer> {
    let bits = concat(n.div_ceil(8), parts);
    let nb = NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(bits), 0, n));
    (nb.null_count() > 0).then_some(nb)
}

/// Whether a dictionary of `len` values takes Int8 keys (as `dictionary`), else Int32.
fn profile_keys_fit_i8(len: usize) -> bool {
    len <= i8::MAX as usize
}

/// A dictionary array with Int32 keys (dictionaries too big for Int8 keys).
fn wide_dictionary(
    values: &[&str],
    keys: Vec<i32>,
    nulls: Option<NullBuffer>,
) -> (DataType, ArrayRef) {
    let dict: ArrayRef = Arc::new(StringArray::from_iter_values(values.iter().copied()));
    let a =
        DictionaryArray::<Int32Type>::new(Int32Array::new(ScalarBuffer::from(keys), nulls), dict);
    (a.data_type().clone(), Arc::new(a))
}

fn small_dictionary(
    values: &[&str],
    keys: Vec<i8>,
    nulls: Option<NullBuffer>,
) -> (DataType, ArrayRef) {
    let dict: ArrayRef = Arc::new(StringArray::from_iter_values(values.iter().copied()));
    let a = DictionaryArray::<Int8Type>::new(Int8Array::new(ScalarBuffer::from(keys), nulls), dict);
    (a.data_type().clone(), Arc::new(a))
}

/// Scores an Arrow batch (see `api::score_record_batch`).
pub fn score_batch(
    rules: &CompiledRuleset,
    batch: &RecordBatch,
    as_of: i128,
    view: ScoreView,
    threads: usize,
) -> Result<RecordBatch> {
    // Rows are numbered in 32 bits (the duplicate-id check); a batch's length need not be backed
    // by memory (a null column of any length holds none), so it is checked before any work.
    if batch.num_rows() > MAX_ROWS {
        return Err(Error::ResourceExhausted(format!(
            "a batch of {} rows: at most {MAX_ROWS} per call",
            batch.num_rows(),
        )));
    }
    // Infinite numbers are bad input but rare: the first attempt leaves them to the scorer, which
    // checks each block while it is in cache; if it finds one, the batch is decoded again with
    // the full check (which names the rows) and scored again.
    let d = decode_with(rules, batch, threads, true)?;
    match score_decoded(rules, &d, as_of, view, threads)? {
        Some(out) => Ok(out),
        None => {
            let d = decode(rules, batch, threads)?;
            score_decoded(rules, &d, as_of, view, threads)?
                .ok_or_else(|| Error::Internal("infinite number after the check".into()))
        }
    }
}

/// Scores a decoded batch; None when a block held an unchecked infinite number.
pub(crate) fn score_decoded(
    rules: &CompiledRuleset,
    d: &Decoded<'_>,
    as_of: i128,
    view: ScoreView,
    threads: usize,
) -> Result<Option<RecordBatch>> {
    let n = d.table.len;
    let plans = rules.plans();
    let codec = matches!(view, ScoreView::Dimensions | ScoreView::Full)
        .then(|| DimCodec::new(rules, plans.columns.multidimensional));
    let detail = if codec.is_some() {
        Detail::Columns
    } else {
        Detail::None
    };
    let table = &d.table;
    let nprofiles = rules.profiles.len();
    // Each range is turned into output columns right away, while its rows are in cache.
    let parts = pool::map_ranges(n, threads, |s, e| {
        Scorer::new(rules, plans, table, as_of, detail)
            .score_range(s, e)
            .map(|chunk| BasicPart::new(chunk, nprofiles, codec.as_ref()))
    });
    let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    if parts.iter().any(|p| p.found_infinite) {
        return Ok(None);
    }
    let mut fields = vec![Field::new(
        "account_id",
        d.id_field.data_type().clone(),
        d.id_field.is_nullable(),
    )];
    let mut arrays: Vec<ArrayRef> = vec![d.ids.clone()];
    let mut push = |name: String, (dt, a): (DataType, ArrayRef)| {
        fields.push(Field::new(name, dt, true));
        arrays.push(a);
    };
    let profile_names: Vec<&str> = rules.profiles.iter().map(|p| p.name.as_str()).collect();
    push(
        "profile".into(),
        if profile_keys_fit_i8(profile_names.len()) {
            small_dictionary(
                &profile_names,
                concat(n, parts.iter().map(|p| &p.profile8[..])),
                concat_nulls(n, &parts, 0),
            )
        } else {
            wide_dictionary(
                &profile_names,
                concat(n, parts.iter().map(|p| &p.profile32[..])),
                concat_nulls(n, &parts, 0),
            )
        },
    );
    push(
        "score".into(),
        (
            DataType::Int32,
            Arc::new(Int32Array::new(
                ScalarBuffer::from(concat(n, parts.iter().map(|p| &p.score[..]))),
                concat_nulls(n, &parts, 1),
            )),
        ),
    );
    push(
        "rank".into(),
        small_dictionary(
            &RANK_NAMES,
            concat(n, parts.iter().map(|p| &p.rank[..])),
            concat_nulls(n, &parts, 2),
        ),
    );
    push(
        "unknown_reason".into(),
        small_dictionary(
            &REASON_NAMES,
            concat(n, parts.iter().map(|p| &p.reason[..])),
            concat_nulls(n, &parts, 3),
        ),
    );
    if let Some(codec) = &codec {
        for (c, name) in plans.columns.names.iter().enumerate() {
            if codec.scores {
                let scores = concat(n, parts.iter().map(|p| &p.dims[c].score[..]));
                let nulls = concat_bits(n, parts.iter().map(|p| &p.dims[c].score_valid[..]));
                push(
                    format!("{name}.score"),
                    (
                        DataType::Int32,
                        Arc::new(Int32Array::new(ScalarBuffer::from(scores), nulls)),
                    ),
                );
            }
            let ranks = concat(n, parts.iter().map(|p| &p.dims[c].rank[..]));
            let nulls = concat_bits(n, parts.iter().map(|p| &p.dims[c].rank_valid[..]));
            push(
                format!("{name}.rank"),
                small_dictionary(&RANK_NAMES, ranks, nulls),
            );
        }
    }
    push("error".into(), (DataType::Utf8, error_column(n, &d.errors)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}

//! Columnar accounts (`ScoreAccountsRequest.account_columns`) into an `AccountTable`, column by
//! column, with every bad-input violation collected.

use std::borrow::Cow;

use crate::error::Violation;
use crate::ir::{AttrType, BOOL_FALSE, BOOL_TRUE, CODE_MISSING, TIME_MISSING};
use crate::proto;
use crate::proto::attribute_column::Values;
use crate::table::{check_ids, AccountTable, Column, Names};

/// A validity bitmap (LSB first; empty = all valid).
struct Validity<'b>(&'b [u8]);

impl Validity<'_> {
    fn fits(&self, len: usize) -> bool {
        self.0.is_empty() || self.0.len() >= len.div_ceil(8)
    }

    #[inline]
    fn valid(&self, i: usize) -> bool {
        self.0.is_empty() || self.0.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }
}

/// Decoded columns into a table. The attribute and look-back columns are taken out of `cols`, so
/// that NUMBER columns move without copying; the ids stay.
pub fn table_from_columns(
    names: &Names<'_>,
    cols: &mut proto::AccountColumns,
) -> (AccountTable<'static>, Vec<Violation>) {
    let rules = names.rules;
    let attribute_columns = std::mem::take(&mut cols.columns);
    let lookback_columns = std::mem::take(&mut cols.lookbacks);
    let n = cols.ids.len();
    let mut v: Vec<(usize, Violation)> = Vec::new();
    let ids: Vec<Option<&str>> = cols.ids.iter().map(|s| Some(s.as_str())).collect();
    check_ids(&ids, |row, first| {
        let msg = match first {
            None => "id is required".to_string(),
            Some(f) => format!("duplicate id (also ids[{f}])"),
        };
        v.push((
            row,
            Violation::new(format!("account_columns.ids[{row}]"), msg),
        ));
    });
    let mut out: Vec<Violation> = v.into_iter().map(|(_, v)| v).collect();
    let mut bad = |path: String, msg: &str| out.push(Violation::new(path, msg));

    let mut cancelled = vec![false; n];
    if !cols.statuses.is_empty() {
        if cols.statuses.len() != n {
            bad(
                "account_columns.statuses".into(),
                "one status per account is required",
            );
        } else {
            for (i, &s) in cols.statuses.iter().enumerate() {
                match proto::AccountStatus::try_from(s) {
                    Ok(proto::AccountStatus::Cancelled) => cancelled[i] = true,
                    Ok(_) => {}
                    Err(_) => bad(format!("account_columns.statuses[{i}]"), "unknown status"),
                }
            }
        }
    }

    let mut columns: Vec<Column<'static>> =
        rules.attributes.iter().map(|_| Column::Absent).collect();
    for (ci, col) in attribute_columns.into_iter().enumerate() {
        let path = format!("account_columns.columns[{ci}]");
        let Some(attr) = names.attr(&col.attribute) else {
            continue;
        };
        let ty = names.ty(attr);
        let Some(slot) = columns.get_mut(attr as usize) else {
            continue;
        };
        if *slot != Column::Absent {
            bad(path, "a second column for the same attribute");
            continue;
        }
        let validity = Validity(&col.validity);
        let len = match &col.values {
            None => 0,
            Some(Values::Numbers(c)) => c.values.len(),
            Some(Values::Texts(c)) => c.values.len(),
            Some(Values::Bools(c)) => c.values.len(),
            Some(Values::Times(c)) => c.unix_nanos.len(),
        };
        if len != n || !validity.fits(n) {
            bad(
                path,
                "one value per account (and a validity bitmap that covers them) is required",
            );
            continue;
        }
        *slot = match (ty, col.values) {
            (AttrType::Number, Some(Values::Numbers(c))) => {
                let mut vals = c.values;
                for (i, x) in vals.iter_mut().enumerate() {
                    if !validity.valid(i) {
                        *x = f64::NAN;
                    } else if x.is_infinite() {
                        bad(format!("{path}.numbers.values[{i}]"), "infinite number");
                    }
                }
                Column::Number(Cow::Owned(vals))
            }
            (AttrType::Text | AttrType::Ordinal, Some(Values::Texts(c))) => {
                let mut codes = vec![CODE_MISSING; n];
                for (i, s) in c.values.iter().enumerate() {
                    if !validity.valid(i) || s.is_empty() {
                        continue;
                    }
                    match names.code(attr, s) {
                        Some(code) => codes[i] = code,
                        None => bad(
                            format!("{path}.texts.values[{i}]"),
                            &format!("undeclared ordinal level {s:?}"),
                        ),
                    }
                }
                Column::Code(codes)
            }
            (AttrType::Bool, Some(Values::Bools(c))) => Column::Bool(
                c.values
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| match (validity.valid(i), b) {
                        (false, _) => crate::ir::BOOL_MISSING,
                        (true, true) => BOOL_TRUE,
                        (true, false) => BOOL_FALSE,
                    })
                    .collect(),
            ),
            (AttrType::Time, Some(Values::Times(c))) => {
                let mut vals = c.unix_nanos;
                for (i, t) in vals.iter_mut().enumerate() {
                    if !validity.valid(i) {
                        *t = TIME_MISSING;
                    } else if *t == TIME_MISSING {
                        bad(
                            format!("{path}.times.unix_nanos[{i}]"),
                            "time outside what 64-bit nanoseconds can hold",
                        );
                    }
                }
                Column::Time(vals)
            }
            (ty, _) => {
                bad(
                    path,
                    &format!("values of the wrong kind for attribute type {ty:?}"),
                );
                Column::Absent
            }
        };
    }

    let mut lookbacks: Vec<Option<Vec<f64>>> = vec![None; rules.lookbacks.len()];
    for (li, lb) in lookback_columns.into_iter().enumerate() {
        let path = format!("account_columns.lookbacks[{li}]");
        let Some(attr) = names.attr(&lb.attribute) else {
            continue;
        };
        if names.ty(attr) != AttrType::Number {
            bad(path, "look-back of a non-NUMBER attribute");
            continue;
        }
        if lb.period_days <= 0 {
            bad(path, "period_days must be positive");
            continue;
        }
        let validity = Validity(&lb.validity);
        if lb.values.len() != n || !validity.fits(n) {
            bad(
                path,
                "one value per account (and a validity bitmap that covers them) is required",
            );
            continue;
        }
        let key = (attr, lb.period_days as u32);
        let Some(slot) = rules.lookbacks.iter().position(|&k| k == key) else {
            continue;
        };
        if lookbacks[slot].is_some() {
            bad(path, "a second look-back for the same attribute and period");
            continue;
        }
        let mut vals = lb.values;
        for (i, x) in vals.iter_mut().enumerate() {
            if !validity.valid(i) {
                *x = f64::NAN;
            } else if x.is_infinite() {
                bad(format!("{path}.values[{i}]"), "infinite number");
            }
        }
        lookbacks[slot] = Some(vals);
    }

    let table = AccountTable {
        len: n,
        columns,
        cancelled,
        lookbacks,
        bad: Vec::new(),
        unchecked_infinite: false,
    };
    (table, out)
}

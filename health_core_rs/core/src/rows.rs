//! Row-form accounts (`ScoreAccountsRequest.accounts`) into an `AccountTable`, with every
//! bad-input violation collected (paths as in docs/semantics.md).

use std::borrow::Cow;

use crate::alloc::{try_filled, try_resize};
use crate::error::{Result, Violation};
use crate::ir::{AttrType, BOOL_FALSE, BOOL_MISSING, BOOL_TRUE, CODE_MISSING, TIME_MISSING};
use crate::proto;
use crate::table::{check_ids, lookback_instant, timestamp_nanos, AccountTable, Column, Names};

/// One attribute value as it arrives, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'v> {
    /// `Value` with no kind.
    Unset,
    Number(f64),
    Text(&'v str),
    Bool(bool),
    /// seconds, nanos
    Time(i64, i32),
}

/// One history point as it arrives: its time (None = unset) and value.
pub type PointRef = (Option<(i64, i32)>, f64);

/// A column being filled (always owned, one kind per attribute type).
enum Col {
    Number(Vec<f64>),
    Code(Vec<u32>),
    Bool(Vec<u8>),
    Time(Vec<i64>),
}

impl Col {
    fn missing(ty: AttrType, len: usize) -> Result<Col> {
        let mut c = match ty {
            AttrType::Number => Col::Number(Vec::new()),
            AttrType::Text | AttrType::Ordinal => Col::Code(Vec::new()),
            AttrType::Bool => Col::Bool(Vec::new()),
            AttrType::Time => Col::Time(Vec::new()),
        };
        c.resize(len)?;
        Ok(c)
    }

    /// Rows a request's size or count asks for: the allocation may fail (an error, not an
    /// abort).
    fn resize(&mut self, len: usize) -> Result<()> {
        const WHAT: &str = "account table column";
        match self {
            Col::Number(v) => try_resize(v, WHAT, len, f64::NAN),
            Col::Code(v) => try_resize(v, WHAT, len, CODE_MISSING),
            Col::Bool(v) => try_resize(v, WHAT, len, BOOL_MISSING),
            Col::Time(v) => try_resize(v, WHAT, len, TIME_MISSING),
        }
    }

    fn into_column(self) -> Column<'static> {
        match self {
            Col::Number(v) => Column::Number(Cow::Owned(v)),
            Col::Code(v) => Column::Code(v),
            Col::Bool(v) => Column::Bool(v),
            Col::Time(v) => Column::Time(v),
        }
    }
}

/// Writes row-form values into columns, validating them. Shared by the prost path and the
/// hand-rolled wire decoder (`wire.rs`), so both report the same violations.
pub struct RowSink<'n, 'r> {
    names: &'n Names<'r>,
    as_of: i128,
    columns: Vec<Col>,
    cancelled: Vec<bool>,
    lookbacks: Vec<Vec<f64>>,
    pub violations: Vec<(usize, Violation)>,
}

fn attr_path(row: usize, key: &str) -> String {
    format!("accounts[{row}].attributes[\"{key}\"]")
}

fn kind_name(v: &ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Unset => "no value",
        ValueRef::Number(_) => "number_value",
        ValueRef::Text(_) => "text_value",
        ValueRef::Bool(_) => "bool_value",
        ValueRef::Time(..) => "time_value",
    }
}

impl<'n, 'r> RowSink<'n, 'r> {
    /// A sink for `len` rows (see `resize`), all without values.
    pub fn new(names: &'n Names<'r>, len: usize, as_of: i128) -> Result<Self> {
        let rules = names.rules;
        Ok(Self {
            names,
            as_of,
            columns: rules
                .attributes
                .iter()
                .map(|a| Col::missing(a.ty, len))
                .collect::<Result<_>>()?,
            cancelled: try_filled("account table column", len, false)?,
            lookbacks: rules
                .lookbacks
                .iter()
                .map(|_| try_filled("look-back column", len, f64::NAN))
                .collect::<Result<_>>()?,
            violations: Vec::new(),
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.cancelled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cancelled.is_empty()
    }

    /// Grows (new rows without values) or truncates to `len` rows; `Error::ResourceExhausted`
    /// when the memory cannot be had.
    pub fn resize(&mut self, len: usize) -> Result<()> {
        for c in &mut self.columns {
            c.resize(len)?;
        }
        try_resize(&mut self.cancelled, "account table column", len, false)?;
        for l in &mut self.lookbacks {
            try_resize(l, "look-back column", len, f64::NAN)?;
        }
        Ok(())
    }

    /// The instant "change in" look-backs are measured from (used by `set_history*`).
    pub fn set_as_of(&mut self, as_of: i128) {
        self.as_of = as_of;
    }

    fn bad(&mut self, row: usize, path: String, msg: impl Into<String>) {
        self.violations.push((row, Violation::new(path, msg)));
    }

    pub fn set_status(&mut self, row: usize, status: i32) {
        match proto::AccountStatus::try_from(status) {
            Ok(proto::AccountStatus::Cancelled) => {
                if let Some(c) = self.cancelled.get_mut(row) {
                    *c = true;
                }
            }
            Ok(_) => {}
            Err(_) => self.bad(row, format!("accounts[{row}].status"), "unknown status"),
        }
    }

    pub fn set_value(&mut self, row: usize, key: &str, value: ValueRef<'_>) {
        if let Some(attr) = self.names.attr(key) {
            self.set_value_at(row, attr, value);
        }
    }

    /// `set_value` for a known attribute (its catalog name is the key).
    #[inline]
    pub fn set_value_at(&mut self, row: usize, attr: u32, value: ValueRef<'_>) {
        if let (ValueRef::Number(x), Some(Col::Number(c))) =
            (value, self.columns.get_mut(attr as usize))
        {
            if !x.is_infinite() {
                if let Some(slot) = c.get_mut(row) {
                    *slot = x;
                }
                return;
            }
        }
        self.set_value_other(row, attr, value);
    }

    fn set_value_other(&mut self, row: usize, attr: u32, value: ValueRef<'_>) {
        let names = self.names;
        let Some(col) = self.columns.get_mut(attr as usize) else {
            return;
        };
        let msg: String = match (value, col) {
            (ValueRef::Unset, _) => return,
            (ValueRef::Number(x), Col::Number(c)) => {
                if x.is_infinite() {
                    "infinite number".into()
                } else {
                    if let Some(slot) = c.get_mut(row) {
                        *slot = x;
                    }
                    return;
                }
            }
            (ValueRef::Text(s), Col::Code(c)) => {
                let code = if s.is_empty() {
                    Some(CODE_MISSING)
                } else {
                    names.code(attr, s)
                };
                match code {
                    Some(code) => {
                        if let Some(slot) = c.get_mut(row) {
                            *slot = code;
                        }
                        return;
                    }
                    None => format!("undeclared ordinal level {s:?}"),
                }
            }
            (ValueRef::Bool(b), Col::Bool(c)) => {
                if let Some(slot) = c.get_mut(row) {
                    *slot = if b { BOOL_TRUE } else { BOOL_FALSE };
                }
                return;
            }
            (ValueRef::Time(s, n), Col::Time(c)) => match timestamp_nanos(s, n) {
                Some(t) => {
                    if let Some(slot) = c.get_mut(row) {
                        *slot = t;
                    }
                    return;
                }
                None => "time outside what 64-bit nanoseconds can hold".into(),
            },
            (value, _) => {
                let ty = names.ty(attr);
                format!("{} does not fit attribute type {ty:?}", kind_name(&value))
            }
        };
        let key = names.rules.attributes[attr as usize].name.as_str();
        self.bad(row, attr_path(row, key), msg);
    }

    pub fn set_history(&mut self, row: usize, key: &str, points: &[PointRef]) {
        if let Some(attr) = self.names.attr(key) {
            self.set_history_at(row, attr, points);
        }
    }

    /// `set_history` for a known attribute (its catalog name is the key).
    pub fn set_history_at(&mut self, row: usize, attr: u32, points: &[PointRef]) {
        let rules = self.names.rules;
        let Some(key) = rules.attributes.get(attr as usize).map(|a| a.name.as_str()) else {
            return;
        };
        let path = || format!("accounts[{row}].history[\"{key}\"]");
        if self.names.ty(attr) != AttrType::Number {
            let p = path();
            self.bad(row, p, "history of a non-NUMBER attribute");
            return;
        }
        let mut times: Vec<(i64, usize)> = Vec::with_capacity(points.len());
        let mut ok = true;
        for (j, &(time, value)) in points.iter().enumerate() {
            let t = time.and_then(|(s, n)| timestamp_nanos(s, n));
            let msg = match t {
                None if time.is_none() => Some("time is required"),
                None => Some("time outside what 64-bit nanoseconds can hold"),
                Some(_) if value.is_infinite() => Some("infinite number"),
                Some(t) => {
                    times.push((t, j));
                    None
                }
            };
            if let Some(msg) = msg {
                ok = false;
                let p = format!("{}.points[{j}]", path());
                self.bad(row, p, msg);
            }
        }
        times.sort_unstable();
        for w in times.windows(2) {
            if w[0].0 == w[1].0 {
                ok = false;
                let j = w[0].1.max(w[1].1);
                let p = format!("{}.points[{j}]", path());
                self.bad(row, p, "two history points at the same instant");
            }
        }
        if !ok {
            return;
        }
        let Some(lbs) = self.names.lookbacks_of.get(attr as usize) else {
            return;
        };
        for &lb in lbs {
            let Some(&(_, period)) = self.names.rules.lookbacks.get(lb) else {
                continue;
            };
            let instant = lookback_instant(self.as_of, period);
            let best = points
                .iter()
                .filter_map(|&(t, v)| Some((t.and_then(|(s, n)| timestamp_nanos(s, n))?, v)))
                .filter(|&(t, _)| i128::from(t) <= instant)
                .max_by_key(|&(t, _)| t);
            if let (Some((_, v)), Some(col)) = (best, self.lookbacks.get_mut(lb)) {
                if let Some(slot) = col.get_mut(row) {
                    *slot = v;
                }
            }
        }
    }

    /// Checks the ids (one per row: empty and duplicate ids are violations) and finishes the
    /// table; violations ordered by row, then path within a row.
    pub fn finish_with_ids(
        mut self,
        ids: &[Option<&str>],
    ) -> (AccountTable<'static>, Vec<(usize, Violation)>) {
        let violations = &mut self.violations;
        check_ids(ids, |row, first| {
            let msg = match first {
                None => "id is required".to_string(),
                Some(f) => format!("duplicate id (also accounts[{f}])"),
            };
            violations.push((row, Violation::new(format!("accounts[{row}].id"), msg)));
        });
        let (table, mut v) = self.finish();
        // Map order is arbitrary: order each account's violations by path, accounts in order.
        v.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
        (table, v)
    }

    pub fn finish(self) -> (AccountTable<'static>, Vec<(usize, Violation)>) {
        let len = self.cancelled.len();
        let table = AccountTable {
            len,
            columns: self.columns.into_iter().map(Col::into_column).collect(),
            cancelled: self.cancelled,
            lookbacks: self.lookbacks.into_iter().map(Some).collect(),
            bad: Vec::new(),
            unchecked_infinite: false,
        };
        (table, self.violations)
    }
}

/// Decoded accounts (prost) into a table; violations with their rows.
pub fn table_from_accounts(
    names: &Names<'_>,
    accounts: &[proto::Account],
    as_of: i128,
) -> Result<(AccountTable<'static>, Vec<(usize, Violation)>)> {
    let mut sink = RowSink::new(names, accounts.len(), as_of)?;
    let mut points: Vec<PointRef> = Vec::new();
    for (row, a) in accounts.iter().enumerate() {
        sink.set_status(row, a.status);
        for (key, value) in &a.attributes {
            let v = match &value.kind {
                None => ValueRef::Unset,
                Some(proto::value::Kind::NumberValue(x)) => ValueRef::Number(*x),
                Some(proto::value::Kind::TextValue(s)) => ValueRef::Text(s),
                Some(proto::value::Kind::BoolValue(b)) => ValueRef::Bool(*b),
                Some(proto::value::Kind::TimeValue(t)) => ValueRef::Time(t.seconds, t.nanos),
            };
            sink.set_value(row, key, v);
        }
        for (key, h) in &a.history {
            points.clear();
            points.extend(
                h.points
                    .iter()
                    .map(|p| (p.time.map(|t| (t.seconds, t.nanos)), p.value)),
            );
            sink.set_history(row, key, &points);
        }
    }
    let ids: Vec<Option<&str>> = accounts.iter().map(|a| Some(a.id.as_str())).collect();
    Ok(sink.finish_with_ids(&ids))
}

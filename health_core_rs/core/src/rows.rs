//! Row-form accounts (`ScoreAccountsRequest.accounts`) into an `AccountTable`, with every
//! bad-input violation collected (paths as in docs/semantics.md).

use crate::error::Violation;
use crate::ir::{AttrType, BOOL_FALSE, BOOL_TRUE, CODE_MISSING};
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

/// Writes row-form values into columns, validating them. Shared by the prost path and the
/// hand-rolled wire decoder, so both report the same violations.
pub struct RowSink<'n, 'r> {
    names: &'n Names<'r>,
    as_of: i128,
    columns: Vec<Column<'static>>,
    cancelled: Vec<bool>,
    lookbacks: Vec<Option<Vec<f64>>>,
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
    pub fn new(names: &'n Names<'r>, len: usize, as_of: i128) -> Self {
        let rules = names.rules;
        Self {
            names,
            as_of,
            columns: rules
                .attributes
                .iter()
                .map(|a| Column::missing(a.ty, len))
                .collect(),
            cancelled: vec![false; len],
            lookbacks: rules
                .lookbacks
                .iter()
                .map(|_| Some(vec![f64::NAN; len]))
                .collect(),
            violations: Vec::new(),
        }
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
        let Some(attr) = self.names.attr(key) else {
            return;
        };
        let ty = self.names.ty(attr);
        let Some(col) = self.columns.get_mut(attr as usize) else {
            return;
        };
        let wrong = match (ty, value, col) {
            (_, ValueRef::Unset, _) => false,
            (AttrType::Number, ValueRef::Number(x), Column::Number(c)) => {
                if x.is_infinite() {
                    let p = attr_path(row, key);
                    self.bad(row, p, "infinite number");
                } else if let Some(slot) = c.to_mut().get_mut(row) {
                    *slot = x;
                }
                false
            }
            (AttrType::Text | AttrType::Ordinal, ValueRef::Text(s), Column::Code(c)) => {
                let code = if s.is_empty() {
                    Some(CODE_MISSING)
                } else {
                    self.names.code(attr, s)
                };
                match code {
                    Some(code) => {
                        if let Some(slot) = c.get_mut(row) {
                            *slot = code;
                        }
                    }
                    None => {
                        let p = attr_path(row, key);
                        self.bad(row, p, format!("undeclared ordinal level {s:?}"));
                    }
                }
                false
            }
            (AttrType::Bool, ValueRef::Bool(b), Column::Bool(c)) => {
                if let Some(slot) = c.get_mut(row) {
                    *slot = if b { BOOL_TRUE } else { BOOL_FALSE };
                }
                false
            }
            (AttrType::Time, ValueRef::Time(s, n), Column::Time(c)) => {
                match timestamp_nanos(s, n) {
                    Some(t) => {
                        if let Some(slot) = c.get_mut(row) {
                            *slot = t;
                        }
                    }
                    None => {
                        let p = attr_path(row, key);
                        self.bad(row, p, "time outside what 64-bit nanoseconds can hold");
                    }
                }
                false
            }
            _ => true,
        };
        if wrong {
            let p = attr_path(row, key);
            let msg = format!("{} does not fit attribute type {ty:?}", kind_name(&value));
            self.bad(row, p, msg);
        }
    }

    pub fn set_history(&mut self, row: usize, key: &str, points: &[PointRef]) {
        let Some(attr) = self.names.attr(key) else {
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
            if let (Some((_, v)), Some(Some(col))) = (best, self.lookbacks.get_mut(lb)) {
                if let Some(slot) = col.get_mut(row) {
                    *slot = v;
                }
            }
        }
    }

    pub fn finish(self) -> (AccountTable<'static>, Vec<(usize, Violation)>) {
        let len = self.cancelled.len();
        let table = AccountTable {
            len,
            columns: self.columns,
            cancelled: self.cancelled,
            lookbacks: self.lookbacks,
            bad: Vec::new(),
        };
        (table, self.violations)
    }
}

/// Decoded accounts (prost) into a table; violations with their rows.
pub fn table_from_accounts(
    names: &Names<'_>,
    accounts: &[proto::Account],
    as_of: i128,
) -> (AccountTable<'static>, Vec<(usize, Violation)>) {
    let mut sink = RowSink::new(names, accounts.len(), as_of);
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
    check_ids(&ids, |row, first| {
        let msg = match first {
            None => "id is required".to_string(),
            Some(f) => format!("duplicate id (also accounts[{f}])"),
        };
        sink.violations
            .push((row, Violation::new(format!("accounts[{row}].id"), msg)));
    });
    let (table, mut v) = sink.finish();
    // HashMap order is random: order each account's violations by path, accounts in order.
    v.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
    (table, v)
}

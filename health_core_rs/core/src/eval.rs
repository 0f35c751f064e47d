//! Column-wise evaluation of criteria: one expression over a selection of rows at a time, each
//! predicate a tight loop over one column (vectorisable on the dense selections of the common
//! single-profile case).

use crate::error::{Error, Result};
use crate::ir::{
    Cmp, CompiledRuleset, Node, NodeId, Pred, BOOL_MISSING, CODE_MISSING, MAX_CRITERION_DEPTH,
    TIME_MISSING,
};
use crate::table::{AccountTable, Column};
use arrow_buffer::NullBuffer;

/// The rows an evaluation runs over: a contiguous range, or a list of row indices (ascending).
#[derive(Debug, Clone, Copy)]
pub enum Sel<'s> {
    Dense { start: usize, len: usize },
    Sparse(&'s [u32]),
}

impl Sel<'_> {
    pub fn len(&self) -> usize {
        match self {
            Sel::Dense { len, .. } => *len,
            Sel::Sparse(ix) => ix.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row of position `k`.
    #[inline]
    pub fn row(&self, k: usize) -> usize {
        match self {
            Sel::Dense { start, .. } => start + k,
            Sel::Sparse(ix) => ix.get(k).map_or(usize::MAX, |&r| r as usize),
        }
    }
}

/// `out[k] = f(col[row k])` over the selection; rows outside the column give false.
#[inline(always)]
fn map1<T: Copy>(col: &[T], sel: &Sel<'_>, out: &mut [u8], f: impl Fn(T) -> bool) {
    match *sel {
        Sel::Dense { start, len } => match col.get(start..start + len) {
            Some(src) => {
                for (o, &v) in out.iter_mut().zip(src) {
                    *o = f(v) as u8;
                }
            }
            None => out.fill(0),
        },
        Sel::Sparse(ix) => {
            for (o, &i) in out.iter_mut().zip(ix) {
                *o = col.get(i as usize).is_some_and(|&v| f(v)) as u8;
            }
        }
    }
}

#[inline(always)]
fn map2(a: &[f64], b: &[f64], sel: &Sel<'_>, out: &mut [u8], f: impl Fn(f64, f64) -> bool) {
    match *sel {
        Sel::Dense { start, len } => match (a.get(start..start + len), b.get(start..start + len)) {
            (Some(a), Some(b)) => {
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = f(x, y) as u8;
                }
            }
            _ => out.fill(0),
        },
        Sel::Sparse(ix) => {
            for (o, &i) in out.iter_mut().zip(ix) {
                let i = i as usize;
                *o = match (a.get(i), b.get(i)) {
                    (Some(&x), Some(&y)) => f(x, y),
                    _ => false,
                } as u8;
            }
        }
    }
}

/// `out[k] &= valid(row k)`; rows outside the bitmap give false.
fn and_valid(valid: &NullBuffer, sel: &Sel<'_>, out: &mut [u8]) {
    let n = valid.len();
    match *sel {
        Sel::Dense { start, len } => {
            if start + len > n {
                out.fill(0);
                return;
            }
            let bits = valid.inner().slice(start, len);
            for (o, b) in out.iter_mut().zip(bits.iter()) {
                *o &= b as u8;
            }
        }
        Sel::Sparse(ix) => {
            for (o, &i) in out.iter_mut().zip(ix) {
                let i = i as usize;
                *o &= (i < n && valid.is_valid(i)) as u8;
            }
        }
    }
}

/// `value <cmp> operand` on doubles, false on NaN (no value) for every operator.
#[inline(always)]
fn number_cmp(col: &[f64], sel: &Sel<'_>, out: &mut [u8], cmp: Cmp, x: f64) {
    match cmp {
        Cmp::Lt => map1(col, sel, out, |v| v < x),
        Cmp::Le => map1(col, sel, out, |v| v <= x),
        Cmp::Gt => map1(col, sel, out, |v| v > x),
        Cmp::Ge => map1(col, sel, out, |v| v >= x),
        Cmp::Eq => map1(col, sel, out, |v| v == x),
        #[allow(clippy::eq_op)]
        Cmp::Ne => map1(col, sel, out, |v| v == v && v != x),
    }
}

/// Percent change of `v` against `then`, or None when either is missing or `then` is 0.
#[inline(always)]
fn pct_change(v: f64, then: f64) -> Option<f64> {
    if v.is_nan() || then.is_nan() || then == 0.0 {
        None
    } else {
        Some((v - then) / then.abs() * 100.0)
    }
}

/// Evaluates criteria of one ruleset over one table.
pub struct Evaluator<'e, 'a> {
    pub rules: &'e CompiledRuleset,
    pub table: &'e AccountTable<'a>,
    pub as_of: i128,
    scratch: Vec<Vec<u8>>,
}

impl<'e, 'a> Evaluator<'e, 'a> {
    pub fn new(rules: &'e CompiledRuleset, table: &'e AccountTable<'a>, as_of: i128) -> Self {
        Self {
            rules,
            table,
            as_of,
            scratch: Vec::new(),
        }
    }

    fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.scratch.pop().unwrap_or_default();
        b.clear();
        b.resize(len, 0);
        b
    }

    /// `out[k]` = 1 when node holds for the row at position k of `sel`, else 0.
    pub fn eval(&mut self, node: NodeId, sel: &Sel<'_>, out: &mut [u8]) -> Result<()> {
        self.eval_depth(node, sel, out, 0)
    }

    fn eval_depth(
        &mut self,
        node: NodeId,
        sel: &Sel<'_>,
        out: &mut [u8],
        depth: usize,
    ) -> Result<()> {
        // The compiler bounds nesting; this guards hand-built or corrupt IR against runaway
        // recursion.
        if depth > 2 * MAX_CRITERION_DEPTH + 8 {
            return Err(Error::Internal("criterion nesting too deep".into()));
        }
        let rules = self.rules;
        let n = rules
            .nodes
            .get(node as usize)
            .ok_or_else(|| Error::Internal(format!("node {node} out of range")))?;
        match n {
            Node::Pred(p) => self.eval_pred(p, sel, out),
            Node::All { start, len } | Node::Any { start, len } => {
                let is_all = matches!(n, Node::All { .. });
                let (s, l) = (*start as usize, *len as usize);
                let kids = rules
                    .children
                    .get(s..s + l)
                    .ok_or_else(|| Error::Internal("children out of range".into()))?;
                let Some((&first, rest)) = kids.split_first() else {
                    out.fill(is_all as u8);
                    return Ok(());
                };
                self.eval_depth(first, sel, out, depth + 1)?;
                if !rest.is_empty() {
                    let mut tmp = self.buffer(out.len());
                    for &k in rest {
                        self.eval_depth(k, sel, &mut tmp, depth + 1)?;
                        if is_all {
                            out.iter_mut().zip(&tmp).for_each(|(o, t)| *o &= t);
                        } else {
                            out.iter_mut().zip(&tmp).for_each(|(o, t)| *o |= t);
                        }
                    }
                    self.scratch.push(tmp);
                }
            }
            Node::Not(k) => {
                self.eval_depth(*k, sel, out, depth + 1)?;
                out.iter_mut().for_each(|o| *o ^= 1);
            }
        }
        Ok(())
    }

    fn column(&self, attr: u32) -> &'e Column<'a> {
        static ABSENT: Column<'static> = Column::Absent;
        self.table.columns.get(attr as usize).unwrap_or(&ABSENT)
    }

    fn eval_pred(&self, p: &Pred, sel: &Sel<'_>, out: &mut [u8]) {
        let as_of = self.as_of;
        match *p {
            Pred::Number { attr, cmp, operand } => match self.column(attr) {
                Column::Number(c) => number_cmp(c, sel, out, cmp, operand),
                Column::NumberMasked(c, valid) => {
                    number_cmp(c, sel, out, cmp, operand);
                    and_valid(valid, sel, out);
                }
                _ => out.fill(0),
            },
            Pred::NumberBetween { attr, low, high } => match self.column(attr) {
                Column::Number(c) => map1(c, sel, out, |v| low <= v && v <= high),
                Column::NumberMasked(c, valid) => {
                    map1(c, sel, out, |v| low <= v && v <= high);
                    and_valid(valid, sel, out);
                }
                _ => out.fill(0),
            },
            Pred::Change {
                attr,
                lookback,
                cmp,
                operand,
            } => {
                match (
                    self.column(attr),
                    self.table.lookbacks.get(lookback as usize),
                ) {
                    (Column::Number(c), Some(Some(then))) => map2(c, then, sel, out, |v, t| {
                        pct_change(v, t).is_some_and(|pct| cmp.test(pct, operand))
                    }),
                    (Column::NumberMasked(c, valid), Some(Some(then))) => {
                        map2(c, then, sel, out, |v, t| {
                            pct_change(v, t).is_some_and(|pct| cmp.test(pct, operand))
                        });
                        and_valid(valid, sel, out);
                    }
                    _ => out.fill(0),
                }
            }
            Pred::ChangeBetween {
                attr,
                lookback,
                low,
                high,
            } => {
                match (
                    self.column(attr),
                    self.table.lookbacks.get(lookback as usize),
                ) {
                    (Column::Number(c), Some(Some(then))) => map2(c, then, sel, out, |v, t| {
                        pct_change(v, t).is_some_and(|pct| low <= pct && pct <= high)
                    }),
                    (Column::NumberMasked(c, valid), Some(Some(then))) => {
                        map2(c, then, sel, out, |v, t| {
                            pct_change(v, t).is_some_and(|pct| low <= pct && pct <= high)
                        });
                        and_valid(valid, sel, out);
                    }
                    _ => out.fill(0),
                }
            }
            Pred::CodeEq { attr, code, negate } => match self.column(attr) {
                Column::Code(c) => map1(c, sel, out, |v| {
                    v != CODE_MISSING && ((v == code) != negate)
                }),
                _ => out.fill(0),
            },
            Pred::CodeIn {
                attr,
                ref codes,
                negate,
            } => match self.column(attr) {
                Column::Code(c) => map1(c, sel, out, |v| {
                    v != CODE_MISSING && (codes.binary_search(&v).is_ok() != negate)
                }),
                _ => out.fill(0),
            },
            Pred::AtLeast { attr, level } => match self.column(attr) {
                Column::Code(c) => map1(c, sel, out, |v| v != CODE_MISSING && v >= level),
                _ => out.fill(0),
            },
            Pred::AtMost { attr, level } => match self.column(attr) {
                Column::Code(c) => map1(c, sel, out, |v| v != CODE_MISSING && v <= level),
                _ => out.fill(0),
            },
            Pred::Bool { attr, value } => match self.column(attr) {
                Column::Bool(c) => map1(c, sel, out, |v| v == value as u8),
                _ => out.fill(0),
            },
            Pred::Time { attr, cmp, nanos } => match self.column(attr) {
                Column::Time(c) => map1(c, sel, out, |t| {
                    t != TIME_MISSING && cmp.test(as_of - i128::from(t), nanos)
                }),
                _ => out.fill(0),
            },
            Pred::TimeBetween { attr, low, high } => match self.column(attr) {
                Column::Time(c) => map1(c, sel, out, |t| {
                    let d = as_of - i128::from(t);
                    t != TIME_MISSING && low <= d && d <= high
                }),
                _ => out.fill(0),
            },
            Pred::IsEmpty { attr } | Pred::IsNotEmpty { attr } => {
                let empty = matches!(p, Pred::IsEmpty { .. });
                match self.column(attr) {
                    Column::Absent => out.fill(empty as u8),
                    Column::Number(c) => map1(c, sel, out, |v| v.is_nan() == empty),
                    Column::NumberMasked(c, valid) => {
                        // has a value: valid and not NaN.
                        map1(c, sel, out, |v| !v.is_nan());
                        and_valid(valid, sel, out);
                        if empty {
                            out.iter_mut().for_each(|o| *o ^= 1);
                        }
                    }
                    Column::Code(c) => map1(c, sel, out, |v| (v == CODE_MISSING) == empty),
                    Column::Bool(c) => map1(c, sel, out, |v| (v == BOOL_MISSING) == empty),
                    Column::Time(c) => map1(c, sel, out, |v| (v == TIME_MISSING) == empty),
                }
            }
        }
    }

    /// `out[k]` = 1 when the attribute has no value at position k.
    pub fn missing(&self, attr: u32, sel: &Sel<'_>, out: &mut [u8]) {
        self.eval_pred(&Pred::IsEmpty { attr }, sel, out)
    }
}

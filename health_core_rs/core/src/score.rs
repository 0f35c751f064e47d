//! Scoring (SPEC §3-§5): profile selection, then Account Health or Multidimensional, column-wise
//! over blocks of rows. Exact integer arithmetic only; `round` is half up.
//!
//! The common case (every metric of a row has a value, or ignore-missing is off) is computed
//! column-wise: per dimension `Σ score·w` over weights summing to 100. Rows where a metric is
//! ignored (redistribution) take the exact per-row path `md_row`, which is also what the detailed
//! views report from, so both agree by construction (and a test checks it).

use crate::codes::{or_codes, outcome_code};
use crate::error::Result;
use crate::eval::{Evaluator, Sel};
use crate::ir::{Cmp, CompiledRuleset, Node, NodeId, Pred, ProfileBody, Settings};
use crate::table::AccountTable;
use crate::table::Column;
use arrow_buffer::NullBuffer;

/// `HealthRank` values.
pub const RANK_NONE: u8 = 0;
pub const RANK_GOOD: u8 = 1;
pub const RANK_AVERAGE: u8 = 2;
pub const RANK_POOR: u8 = 3;
pub const RANK_UNKNOWN: u8 = 4;
/// `UnknownReason` values.
pub const REASON_NONE: u8 = 0;
pub const REASON_CANCELLED: u8 = 1;
pub const REASON_NO_PROFILE: u8 = 2;
pub const REASON_NO_DATA: u8 = 3;
/// `MetricOutcome` values (low nibble of a metric's detail byte; bit 4 = good criterion held).
pub const OUTCOME_GOOD: u8 = 1;
pub const OUTCOME_AVERAGE: u8 = 2;
pub const OUTCOME_POOR: u8 = 3;
pub const OUTCOME_IGNORED: u8 = 4;
pub const GOOD_HELD: u8 = 1 << 4;

/// `RowOut::profile` when no profile scored the row.
pub const NO_PROFILE: u32 = u32::MAX;
/// `RowOut::score` when there is no score.
pub const NO_SCORE: i32 = i32::MIN;

/// Rows scored per block: small enough that a block's scratch columns stay in cache, long
/// enough that each column is read in runs the hardware prefetcher keeps up with.
const BLOCK: usize = 8192;

/// The result of one row, compactly; details are recomputed from `ChunkOut::detail` on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOut {
    pub profile: u32,
    pub score: i32,
    /// `HealthRank`; `RANK_NONE` for a bad row.
    pub rank: u8,
    pub reason: u8,
}

impl RowOut {
    const BAD: RowOut = RowOut {
        profile: NO_PROFILE,
        score: NO_SCORE,
        rank: RANK_NONE,
        reason: 0,
    };
    const CANCELLED: RowOut = RowOut {
        profile: NO_PROFILE,
        score: NO_SCORE,
        rank: RANK_UNKNOWN,
        reason: REASON_CANCELLED,
    };
    const NO_PROFILE: RowOut = RowOut {
        profile: NO_PROFILE,
        score: NO_SCORE,
        rank: RANK_UNKNOWN,
        reason: REASON_NO_PROFILE,
    };
}

/// `round(n / d)` half up, for non-negative n and positive d.
#[inline]
pub fn round_div(n: u64, d: u64) -> u64 {
    (2 * n + d) / (2 * d)
}

/// The rank of a score under the model's thresholds.
#[inline]
pub fn rank_of(score: u64, s: &Settings) -> u8 {
    if score <= u64::from(s.poor_max) {
        RANK_POOR
    } else if score >= u64::from(s.good_min) {
        RANK_GOOD
    } else {
        RANK_AVERAGE
    }
}

/// Account Health's rule, for a category (over its criteria) and for the account (over its
/// categories): POOR if any is poor, else GOOD if all are good, else AVERAGE.
#[inline(always)]
pub fn rank_from(any_poor: bool, all_good: bool) -> u8 {
    if any_poor {
        RANK_POOR
    } else if all_good {
        RANK_GOOD
    } else {
        RANK_AVERAGE
    }
}

/// One metric of a multidimensional profile, flattened in dimension order.
#[derive(Debug, Clone)]
pub struct MdMetric {
    pub attr: u32,
    pub weight: u32,
    pub good: NodeId,
    pub poor: NodeId,
    pub metric_index: u32,
}

#[derive(Debug, Clone)]
pub struct MdDim {
    pub dimension: u32,
    pub weight: u32,
    /// Range of `MdPlan::metrics`.
    pub metrics: std::ops::Range<usize>,
}

#[derive(Debug, Clone)]
pub struct MdPlan {
    pub dims: Vec<MdDim>,
    pub metrics: Vec<MdMetric>,
    /// Flat metric indices in the profile's `metrics` order (the order of reasons).
    pub reason_order: Vec<usize>,
    /// Every weight sums to 100 where it should, so the column-wise fast path applies.
    pub exact_weights: bool,
    /// Lookup tables for the outcome-code path (None: the shape is not covered).
    pub fast: Option<FastMd>,
}

#[derive(Debug, Clone)]
pub struct AhCategory {
    /// Ranges of `AhPlan::criteria`.
    pub poor: std::ops::Range<usize>,
    pub good: std::ops::Range<usize>,
}

#[derive(Debug, Clone)]
pub struct AhPlan {
    pub categories: Vec<AhCategory>,
    /// Every criterion, per category: poor ones, then good ones.
    pub criteria: Vec<NodeId>,
}

#[derive(Debug, Clone)]
pub enum Plan {
    Md(MdPlan),
    Ah(AhPlan),
}

impl Plan {
    /// Detail bytes per row.
    fn slots(&self) -> usize {
        match self {
            Plan::Md(p) => p.metrics.len(),
            Plan::Ah(p) => p.criteria.len(),
        }
    }
}

/// The profile's lookup tables when every metric is a fused NUMBER comparison.
fn fully_fused(p: &Plan) -> Option<&FastMd> {
    match p {
        Plan::Md(MdPlan { fast: Some(f), .. }) if f.metrics.iter().all(|m| m.fused.is_some()) => {
            Some(f)
        }
        _ => None,
    }
}

/// The per-dimension (Account Health: per-category) columns of the detailed Arrow views.
#[derive(Debug, Clone, Default)]
pub struct DetailColumns {
    /// Multidimensional: every catalog dimension some profile uses, in catalog order (columns of
    /// scores and ranks). Account Health: every category name, in order of first appearance
    /// (columns of ranks).
    pub names: Vec<String>,
    pub multidimensional: bool,
    /// Per profile, the column of each of its dimensions (categories); `usize::MAX` for none.
    pub slots: Vec<Vec<usize>>,
}

impl DetailColumns {
    fn new(rules: &CompiledRuleset, profiles: &[Plan]) -> Self {
        let multidimensional = profiles.iter().any(|p| matches!(p, Plan::Md(_)));
        let mut names: Vec<String> = Vec::new();
        let mut slots: Vec<Vec<usize>> = Vec::new();
        if multidimensional {
            let mut used = vec![false; rules.dimensions.len()];
            for p in profiles {
                if let Plan::Md(md) = p {
                    for d in &md.dims {
                        if let Some(u) = used.get_mut(d.dimension as usize) {
                            *u = true;
                        }
                    }
                }
            }
            let col_of: Vec<Option<usize>> = used
                .iter()
                .scan(0usize, |next, &u| {
                    Some(u.then(|| {
                        *next += 1;
                        *next - 1
                    }))
                })
                .collect();
            names = rules
                .dimensions
                .iter()
                .zip(&used)
                .filter(|(_, &u)| u)
                .map(|(d, _)| d.clone())
                .collect();
            for p in profiles {
                slots.push(match p {
                    Plan::Md(md) => md
                        .dims
                        .iter()
                        .map(|d| {
                            col_of
                                .get(d.dimension as usize)
                                .copied()
                                .flatten()
                                .unwrap_or(usize::MAX)
                        })
                        .collect(),
                    Plan::Ah(_) => Vec::new(),
                });
            }
        } else {
            for p in &rules.profiles {
                let mut cols = Vec::new();
                if let ProfileBody::AccountHealth { categories } = &p.body {
                    for c in categories {
                        let at = names.iter().position(|x| *x == c.name).unwrap_or_else(|| {
                            names.push(c.name.clone());
                            names.len() - 1
                        });
                        cols.push(at);
                    }
                }
                slots.push(cols);
            }
        }
        Self {
            names,
            multidimensional,
            slots,
        }
    }
}

/// Per-profile scoring plans, derived once from the compiled ruleset (`CompiledRuleset::plans`).
#[derive(Debug, Clone)]
pub struct Plans {
    pub profiles: Vec<Plan>,
    /// Two profiles whose lookup-table plans read the same attributes into the same code
    /// positions (only their thresholds and weights differ): their codes are computed in one
    /// pass, each row with its own profile's thresholds.
    pub twin: Option<(usize, usize)>,
    /// Detail bytes per row (max over profiles).
    pub stride: usize,
    pub columns: DetailColumns,
}

impl CompiledRuleset {
    /// The ruleset's scoring plans, built on first use and kept for every later call.
    pub fn plans(&self) -> &Plans {
        self.plans.get_or_init(|| Plans::new(self))
    }
}

impl Plans {
    pub fn new(rules: &CompiledRuleset) -> Self {
        let profiles: Vec<Plan> = rules
            .profiles
            .iter()
            .map(|p| match &p.body {
                ProfileBody::Multidimensional { dimensions } => {
                    let mut metrics = Vec::new();
                    let mut dims = Vec::new();
                    let mut exact = dimensions.iter().map(|d| d.weight).sum::<u32>() == 100;
                    for d in dimensions {
                        let start = metrics.len();
                        exact &= d.metrics.iter().map(|m| m.weight).sum::<u32>() == 100;
                        metrics.extend(d.metrics.iter().map(|m| MdMetric {
                            attr: m.attr,
                            weight: m.weight,
                            good: m.good,
                            poor: m.poor,
                            metric_index: m.metric_index,
                        }));
                        dims.push(MdDim {
                            dimension: d.dimension,
                            weight: d.weight,
                            metrics: start..metrics.len(),
                        });
                    }
                    let mut reason_order: Vec<usize> = (0..metrics.len()).collect();
                    reason_order.sort_by_key(|&i| metrics[i].metric_index);
                    let mut plan = MdPlan {
                        dims,
                        metrics,
                        reason_order,
                        exact_weights: exact,
                        fast: None,
                    };
                    plan.fast = FastMd::new(rules, &plan);
                    Plan::Md(plan)
                }
                ProfileBody::AccountHealth { categories } => {
                    let mut criteria = Vec::new();
                    let mut cats = Vec::new();
                    for c in categories {
                        let p0 = criteria.len();
                        criteria.extend(c.poor.iter().map(|(n, _)| *n));
                        let g0 = criteria.len();
                        criteria.extend(c.good.iter().map(|(n, _)| *n));
                        cats.push(AhCategory {
                            poor: p0..g0,
                            good: g0..criteria.len(),
                        });
                    }
                    Plan::Ah(AhPlan {
                        categories: cats,
                        criteria,
                    })
                }
            })
            .collect();
        let stride = profiles.iter().map(Plan::slots).max().unwrap_or(0);
        let layout = |f: &FastMd| -> Vec<(u32, usize, u32)> {
            f.metrics.iter().map(|m| (m.attr, m.dim, m.shift)).collect()
        };
        let mut twin = None;
        'find: for (a, pa) in profiles.iter().enumerate() {
            let Some(fa) = fully_fused(pa) else {
                continue;
            };
            for (b, pb) in profiles.iter().enumerate().skip(a + 1) {
                if let Some(fb) = fully_fused(pb) {
                    if fa.ndims == fb.ndims && layout(fa) == layout(fb) {
                        twin = Some((a, b));
                        break 'find;
                    }
                }
            }
        }
        let columns = DetailColumns::new(rules, &profiles);
        Self {
            profiles,
            stride,
            twin,
            columns,
        }
    }
}

/// One dimension of a multidimensional result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DimOut {
    pub score: Option<u32>,
    pub rank: u8,
    pub effective_weight: u32,
    pub ignored: bool,
}

/// Outcome codes of the lookup-table path (2 bits per metric).
const CODE_POOR: u16 = 0;
const CODE_AVERAGE: u16 = 1;
const CODE_GOOD: u16 = 2;
const CODE_IGNORED: u16 = 3;
/// A dimension lookup-table entry (and `ChunkOut::dims` value) for an ignored dimension.
pub const DIM_IGNORED: u8 = u8::MAX;
/// `ChunkOut::dims` where the row has no such dimension (category): not scored, or its profile
/// does not have it.
pub const DIM_NONE: u8 = u8::MAX - 1;
/// Largest dimension (metrics) and profile (dimensions) the tables cover.
const FAST_MAX_METRICS: usize = 6;
const FAST_MAX_DIMS: usize = 8;

/// `lo <= v <= hi` (false on NaN): every NUMBER comparison except `!=` with a finite operand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// The next double above a finite `x`.
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

impl Interval {
    /// The interval of a NUMBER predicate on `attr`, if it is one.
    fn of(rules: &CompiledRuleset, node: NodeId, attr: u32) -> Option<Interval> {
        let Some(Node::Pred(p)) = rules.nodes.get(node as usize) else {
            return None;
        };
        let inf = f64::INFINITY;
        match *p {
            Pred::Number {
                attr: a,
                cmp,
                operand: x,
            } if a == attr && x.is_finite() => Some(match cmp {
                Cmp::Lt => Interval {
                    lo: -inf,
                    hi: next_down(x),
                },
                Cmp::Le => Interval { lo: -inf, hi: x },
                Cmp::Gt => Interval {
                    lo: next_up(x),
                    hi: inf,
                },
                Cmp::Ge => Interval { lo: x, hi: inf },
                Cmp::Eq => Interval { lo: x, hi: x },
                Cmp::Ne => return None,
            }),
            Pred::NumberBetween { attr: a, low, high }
                if a == attr && low.is_finite() && high.is_finite() =>
            {
                Some(Interval { lo: low, hi: high })
            }
            _ => None,
        }
    }
}

/// One metric of the lookup-table path.
#[derive(Debug, Clone)]
pub struct FastMetric {
    pub attr: u32,
    pub poor: NodeId,
    pub good: NodeId,
    /// Both criteria are NUMBER comparisons on the metric's own attribute: (poor, good).
    pub fused: Option<(Interval, Interval)>,
    /// Dimension (position in the profile) and bit position of the code in its table index.
    pub dim: usize,
    pub shift: u32,
}

/// Lookup tables of one multidimensional profile (SPEC §5 precomputed):
/// - per dimension, from the outcome codes of its metrics (2 bits each) to its rounded score or
///   `DIM_IGNORED`;
/// - per set of ignored dimensions (a bit mask), the effective dimension weights and their sum.
///
/// Both are filled by the exact per-row code (`md_row` and its account formula), so a row's score
/// is the same by construction; a test checks random rows against `md_row` too.
#[derive(Debug, Clone)]
pub struct FastMd {
    pub metrics: Vec<FastMetric>,
    pub ndims: usize,
    /// Dimension tables, concatenated; `lut_start[d]` is where dimension d's begins.
    pub lut: Vec<u8>,
    pub lut_start: Vec<usize>,
    /// `mask_weights[mask * ndims + d]`: effective weight of dimension d (0 if ignored).
    pub mask_weights: Vec<u32>,
    pub mask_sum: Vec<u32>,
    /// Rank of each score 0..=100.
    pub rank_of: Vec<u8>,
}

fn outcome_of_code(code: u16) -> u8 {
    match code {
        CODE_POOR => OUTCOME_POOR,
        CODE_GOOD => OUTCOME_GOOD,
        CODE_IGNORED => OUTCOME_IGNORED,
        _ => OUTCOME_AVERAGE,
    }
}

impl FastMd {
    pub fn new(rules: &CompiledRuleset, plan: &MdPlan) -> Option<FastMd> {
        let ndims = plan.dims.len();
        if ndims == 0 || ndims > FAST_MAX_DIMS {
            return None;
        }
        let s = rules.settings;
        let mut metrics = Vec::new();
        let mut lut = Vec::new();
        let mut lut_start = Vec::new();
        let mut md = MdRow::default();
        for (di, d) in plan.dims.iter().enumerate() {
            let ms = plan.metrics.get(d.metrics.clone())?;
            let k = ms.len();
            if k == 0 || k > FAST_MAX_METRICS {
                return None;
            }
            for (j, m) in ms.iter().enumerate() {
                let fused =
                    Interval::of(rules, m.poor, m.attr).zip(Interval::of(rules, m.good, m.attr));
                metrics.push(FastMetric {
                    attr: m.attr,
                    poor: m.poor,
                    good: m.good,
                    fused,
                    dim: di,
                    shift: 2 * j as u32,
                });
            }
            let sub = MdPlan {
                dims: vec![MdDim {
                    dimension: d.dimension,
                    weight: 100,
                    metrics: 0..k,
                }],
                metrics: ms.to_vec(),
                reason_order: (0..k).collect(),
                exact_weights: false,
                fast: None,
            };
            lut_start.push(lut.len());
            let mut detail = vec![0u8; k];
            for index in 0..1usize << (2 * k) {
                for (j, b) in detail.iter_mut().enumerate() {
                    *b = outcome_of_code(((index >> (2 * j)) & 3) as u16);
                }
                md_row(&sub, &s, &detail, &mut md);
                lut.push(md.dims[0].score.map_or(DIM_IGNORED, |v| v as u8));
            }
        }
        let mut mask_weights = vec![0u32; ndims << ndims];
        let mut mask_sum = vec![0u32; 1 << ndims];
        for mask in 0..1usize << ndims {
            let kept = || {
                plan.dims
                    .iter()
                    .enumerate()
                    .filter(move |(d, _)| mask & (1 << d) == 0)
            };
            let total: u64 = kept().map(|(_, d)| u64::from(d.weight)).sum();
            if total == 0 {
                continue;
            }
            for (di, d) in kept() {
                let w = round_div(u64::from(d.weight) * 100, total) as u32;
                mask_weights[mask * ndims + di] = w;
                mask_sum[mask] += w;
            }
        }
        let rank_of = (0..=100u64).map(|v| rank_of(v, &s)).collect();
        Some(FastMd {
            metrics,
            ndims,
            lut,
            lut_start,
            mask_weights,
            mask_sum,
            rank_of,
        })
    }

    /// Each dimension's score (or `DIM_IGNORED`) of the rows of a group into its column of
    /// `out.dims` (`slots`: the profile's `DetailColumns::slots`), from the table indices of
    /// `Scorer::idx` (`n` per dimension, rows placed as `positions` says).
    #[allow(clippy::too_many_arguments)]
    fn dim_columns(
        &self,
        slots: &[usize],
        idx: &[u16],
        n: usize,
        rows: &[u32],
        positions: Positions,
        base: usize,
        out: &mut ChunkOut,
    ) {
        let nrows = out.rows.len();
        for (d, &c) in slots.iter().enumerate().take(self.ndims) {
            let Some(column) = out
                .dims
                .get_mut(c.wrapping_mul(nrows)..)
                .and_then(|x| x.get_mut(..nrows))
            else {
                continue;
            };
            let lut = &self.lut[self.lut_start[d]..];
            let codes = &idx[d * n..(d + 1) * n];
            for (i, &row) in rows.iter().enumerate() {
                let k = match positions {
                    Positions::Offset(start) => row as usize - start,
                    Positions::Index => i,
                };
                if let Some(v) = column.get_mut((row as usize).wrapping_sub(base)) {
                    *v = lut[usize::from(codes[k])];
                }
            }
        }
    }

    /// The result of a row from its per-dimension table indices.
    #[inline(always)]
    pub fn row(&self, p: u32, index: impl Fn(usize) -> usize) -> RowOut {
        let nd = self.ndims;
        let mut scores = [0u32; FAST_MAX_DIMS];
        let mut mask = 0usize;
        for (d, sc) in scores.iter_mut().enumerate().take(nd) {
            let v = self.lut[self.lut_start[d] + index(d)];
            *sc = u32::from(v);
            mask |= usize::from(v == DIM_IGNORED) << d;
        }
        let w = &self.mask_weights[mask * nd..mask * nd + nd];
        let num: u32 = scores.iter().zip(w).map(|(s, w)| s * w).sum();
        let wsum = self.mask_sum[mask];
        if wsum == 0 {
            return RowOut {
                profile: p,
                score: NO_SCORE,
                rank: RANK_UNKNOWN,
                reason: REASON_NO_DATA,
            };
        }
        let score = if wsum == 100 {
            (2 * num + 100) / 200
        } else {
            (2 * num + wsum) / (2 * wsum)
        };
        RowOut {
            profile: p,
            score: score as i32,
            rank: self.rank_of[score as usize],
            reason: REASON_NONE,
        }
    }
}

/// Bits to bytes: entry b holds byte j = bit j of b.
const EXPAND: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            if b & (1 << j) != 0 {
                t[b] |= 1 << (8 * j);
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// `out[k]` = validity bit `offset + k` of `bits` (one byte per row).
fn expand_bits(bits: &NullBuffer, offset: usize, out: &mut [u8]) {
    let len = out.len();
    let buf = bits.inner();
    let chunks = buf.inner().bit_chunks(buf.offset() + offset, len);
    let mut at = 0;
    for w in chunks.iter() {
        for (j, byte) in w.to_le_bytes().iter().enumerate() {
            out[at + 8 * j..at + 8 * j + 8].copy_from_slice(&EXPAND[*byte as usize].to_le_bytes());
        }
        at += 64;
    }
    let rem = chunks.remainder_len();
    let w = chunks.remainder_bits();
    for (j, o) in out[at..at + rem].iter_mut().enumerate() {
        *o = ((w >> j) & 1) as u8;
    }
}

/// One word of validity bits per 64 rows of `start..start + len` (all set without a bitmap).
fn valid_words(nb: Option<&NullBuffer>, start: usize, len: usize, out: &mut Vec<u64>) {
    out.clear();
    match nb {
        None => out.resize(len.div_ceil(64), u64::MAX),
        Some(nb) => {
            let buf = nb.inner();
            let chunks = buf.inner().bit_chunks(buf.offset() + start, len);
            out.extend(chunks.iter());
            if chunks.remainder_len() > 0 {
                out.push(chunks.remainder_bits());
            }
        }
    }
}

/// Outcome codes of one fused metric into `idx` (`|= code << shift`): POOR if the poor interval
/// holds, else GOOD if the good one holds, else IGNORED/AVERAGE when the value is missing
/// (`miss`), else AVERAGE. Both criteria are false on a missing value.
#[inline(never)]
fn fused_codes(
    vals: &[f64],
    valid: Option<&[u8]>,
    (poor, good): (Interval, Interval),
    miss: u16,
    shift: u32,
    idx: &mut [u16],
) {
    match valid {
        Some(valid) => {
            for ((o, &v), &ok) in idx.iter_mut().zip(vals).zip(valid) {
                *o |= outcome_code(v, ok != 0, (poor, good), miss) << shift;
            }
        }
        None => {
            for (o, &v) in idx.iter_mut().zip(vals) {
                *o |= outcome_code(v, true, (poor, good), miss) << shift;
            }
        }
    }
}

/// A multidimensional result in full, computed exactly from a row's metric outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdRow {
    pub dims: Vec<DimOut>,
    /// Effective weight per flat metric.
    pub metric_weights: Vec<u32>,
    pub score: Option<u32>,
    pub rank: u8,
    pub reason: u8,
}

/// The metric score of an outcome (None when ignored).
pub fn outcome_score(outcome: u8) -> Option<u32> {
    match outcome {
        OUTCOME_POOR => Some(0),
        OUTCOME_GOOD => Some(100),
        OUTCOME_IGNORED => None,
        _ => Some(60),
    }
}

/// SPEC §5 for one row, from its detail bytes (one per flat metric).
pub fn md_row(plan: &MdPlan, s: &Settings, detail: &[u8], out: &mut MdRow) {
    out.dims.clear();
    out.metric_weights.clear();
    out.metric_weights.resize(plan.metrics.len(), 0);
    let outcome = |k: usize| detail.get(k).map_or(OUTCOME_IGNORED, |b| b & 0x0f);
    for d in &plan.dims {
        let ms = &plan.metrics[d.metrics.clone()];
        let kept = || {
            ms.iter()
                .enumerate()
                .filter(|(i, _)| outcome(d.metrics.start + i) != OUTCOME_IGNORED)
        };
        let s_sum: u64 = kept().map(|(_, m)| u64::from(m.weight)).sum();
        let mut num = 0u64;
        let mut wsum = 0u64;
        if s_sum > 0 {
            for (i, m) in kept() {
                let w = round_div(u64::from(m.weight) * 100, s_sum);
                out.metric_weights[d.metrics.start + i] = w as u32;
                num += u64::from(outcome_score(outcome(d.metrics.start + i)).unwrap_or(0)) * w;
                wsum += w;
            }
        }
        if wsum == 0 {
            for i in d.metrics.clone() {
                out.metric_weights[i] = 0;
            }
            out.dims.push(DimOut {
                score: None,
                rank: RANK_UNKNOWN,
                effective_weight: 0,
                ignored: true,
            });
        } else {
            let score = round_div(num, wsum);
            out.dims.push(DimOut {
                score: Some(score as u32),
                rank: rank_of(score, s),
                effective_weight: 0,
                ignored: false,
            });
        }
    }
    let total: u64 = plan
        .dims
        .iter()
        .zip(&out.dims)
        .filter(|(_, o)| !o.ignored)
        .map(|(d, _)| u64::from(d.weight))
        .sum();
    let mut num = 0u64;
    let mut wsum = 0u64;
    if total > 0 {
        for (d, o) in plan.dims.iter().zip(out.dims.iter_mut()) {
            if let Some(score) = o.score {
                let w = round_div(u64::from(d.weight) * 100, total);
                o.effective_weight = w as u32;
                num += u64::from(score) * w;
                wsum += w;
            }
        }
    }
    if wsum == 0 {
        out.score = None;
        out.rank = RANK_UNKNOWN;
        out.reason = REASON_NO_DATA;
    } else {
        let score = round_div(num, wsum);
        out.score = Some(score as u32);
        out.rank = rank_of(score, s);
        out.reason = REASON_NONE;
    }
}

/// The category ranks and account rank of an Account Health row, from its detail bytes.
pub fn ah_row(plan: &AhPlan, detail: &[u8], cat_ranks: &mut Vec<u8>) -> u8 {
    cat_ranks.clear();
    let held = |k: usize| detail.get(k).is_some_and(|&b| b != 0);
    for c in &plan.categories {
        cat_ranks.push(rank_from(
            c.poor.clone().any(held),
            c.good.clone().all(held),
        ));
    }
    account_rank(cat_ranks.iter().copied())
}

fn account_rank(ranks: impl Iterator<Item = u8>) -> u8 {
    let (mut any_poor, mut all_good) = (false, true);
    for r in ranks {
        any_poor |= r == RANK_POOR;
        all_good &= r == RANK_GOOD;
    }
    rank_from(any_poor, all_good)
}

/// Where a row's codes are in the code arrays: at `row - start` (computed over the whole block),
/// or at the row's index in its group (computed over the group).
#[derive(Debug, Clone, Copy)]
enum Positions {
    Offset(usize),
    Index,
}

/// Whether a borrowed NUMBER column not `checked` already holds an infinite value in rows
/// `start..end` (null slots included: a false alarm only costs the caller a checked decode).
fn block_has_infinite(
    table: &AccountTable<'_>,
    checked: &[bool],
    start: usize,
    end: usize,
) -> bool {
    let checked = |i: usize| checked.get(i).copied().unwrap_or(false);
    table.columns.iter().enumerate().any(|(i, c)| {
        let vals: &[f64] = match c {
            Column::Number(v) => v,
            Column::NumberMasked(v, _) => v,
            _ => return false,
        };
        if checked(i) {
            return false;
        }
        vals.get(start..end)
            .unwrap_or(&[])
            .iter()
            .fold(false, |a, x| a | x.is_infinite())
    })
}

/// What a scorer records beyond each row's `RowOut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Nothing (the BASIC view).
    None,
    /// Each row's dimension scores (Account Health: category ranks), column-wise in
    /// `ChunkOut::dims`: the detailed Arrow views. Computed with the lookup tables like the
    /// scores themselves.
    Columns,
    /// Each row's metric outcomes (criterion results) in `ChunkOut::detail`, from which
    /// `md_row`/`ah_row` recompute everything: the detailed protobuf views.
    Outcomes,
}

/// A scored range of rows.
#[derive(Debug, Clone, Default)]
pub struct ChunkOut {
    pub rows: Vec<RowOut>,
    /// `stride` bytes per row (empty unless `Detail::Outcomes`).
    pub detail: Vec<u8>,
    /// `Detail::Columns`: per column of `Plans::columns` (column-major, `rows.len()` bytes
    /// each), a dimension score 0..=100 or `DIM_IGNORED` (Account Health: a category rank);
    /// `DIM_NONE` where the row has none.
    pub dims: Vec<u8>,
    /// A block of a table with `unchecked_infinite` holds an infinite number: the rows are
    /// not scored, and the table must be decoded again with the check.
    pub found_infinite: bool,
}

/// Scores rows of one table; one per worker.
pub struct Scorer<'e, 'a> {
    ev: Evaluator<'e, 'a>,
    plans: &'e Plans,
    settings: Settings,
    detail: Detail,
    bufs: [Vec<u8>; 3],
    acc: [Vec<u32>; 3],
    slow: Vec<u8>,
    oc: Vec<u8>,
    remaining: Vec<u32>,
    groups: Vec<Vec<u32>>,
    md: MdRow,
    /// Lookup-table path: per dimension, the table index of each row (`BLOCK` apart).
    idx: Vec<u16>,
    /// Gathered values and validity bytes of one metric.
    vals: Vec<f64>,
    valid: Vec<u8>,
    /// Validity and profile-key bits of a block, one word per 64 rows.
    valid_words: Vec<u64>,
    key: Vec<u64>,
    /// Per column: the block's values went through the code kernel, which checks them for
    /// infinite numbers; and whether it found one.
    inf_checked: Vec<bool>,
    found_infinite: bool,
}

impl<'e, 'a> Scorer<'e, 'a> {
    pub fn new(
        rules: &'e CompiledRuleset,
        plans: &'e Plans,
        table: &'e AccountTable<'a>,
        as_of: i128,
        detail: Detail,
    ) -> Self {
        Self {
            ev: Evaluator::new(rules, table, as_of),
            plans,
            settings: rules.settings,
            detail,
            bufs: Default::default(),
            acc: Default::default(),
            slow: Vec::new(),
            oc: Vec::new(),
            remaining: Vec::new(),
            groups: vec![Vec::new(); plans.profiles.len()],
            md: MdRow::default(),
            idx: Vec::new(),
            vals: Vec::new(),
            valid: Vec::new(),
            valid_words: Vec::new(),
            key: Vec::new(),
            inf_checked: Vec::new(),
            found_infinite: false,
        }
    }

    /// Scores rows `start..end`.
    pub fn score_range(&mut self, start: usize, end: usize) -> Result<ChunkOut> {
        let n = end.saturating_sub(start);
        let stride = match self.detail {
            Detail::Outcomes => self.plans.stride,
            _ => 0,
        };
        let ncols = match self.detail {
            Detail::Columns => self.plans.columns.names.len(),
            _ => 0,
        };
        let mut out = ChunkOut {
            rows: vec![RowOut::NO_PROFILE; n],
            detail: vec![0; n * stride],
            dims: vec![DIM_NONE; n * ncols],
            found_infinite: false,
        };
        let mut b = start;
        while b < end {
            let e = (b + BLOCK).min(end);
            let table = self.ev.table;
            self.inf_checked.clear();
            self.inf_checked.resize(table.columns.len(), false);
            self.found_infinite = false;
            self.score_block(b, e, start, &mut out)?;
            // The columns the code kernel did not read in full are checked here.
            if table.unchecked_infinite
                && (self.found_infinite || block_has_infinite(table, &self.inf_checked, b, e))
            {
                out.found_infinite = true;
                break;
            }
            b = e;
        }
        Ok(out)
    }

    #[allow(clippy::needless_range_loop)] // parallel arrays, indexed together
    fn score_block(
        &mut self,
        start: usize,
        end: usize,
        base: usize,
        out: &mut ChunkOut,
    ) -> Result<()> {
        let rules = self.ev.rules;
        let table = self.ev.table;
        let len = end - start;
        self.remaining.clear();
        let every_row = table.bad.is_empty() && table.cancelled.is_empty();
        if every_row {
            self.remaining.extend(start as u32..end as u32);
        }
        for row in (start..end).filter(|_| !every_row) {
            let slot = &mut out.rows[row - base];
            if table.is_bad(row) {
                *slot = RowOut::BAD;
            } else if table.is_cancelled(row) {
                *slot = RowOut::CANCELLED;
            } else {
                self.remaining.push(row as u32);
            }
        }
        // Profile selection: first matching segment wins.
        for g in &mut self.groups {
            g.clear();
        }
        for (p, profile) in rules.profiles.iter().enumerate() {
            if self.remaining.is_empty() {
                break;
            }
            let Some(seg) = profile.segment else {
                std::mem::swap(&mut self.groups[p], &mut self.remaining);
                break;
            };
            let sel = if self.remaining.len() == len {
                Sel::Dense { start, len }
            } else {
                Sel::Sparse(&self.remaining)
            };
            let mut buf = std::mem::take(&mut self.bufs[0]);
            buf.clear();
            buf.resize(sel.len(), 0);
            self.ev.eval(seg, &sel, &mut buf)?;
            // Branch-free split (segments match rows in no predictable pattern): each row is
            // written to both lists, and only the list it belongs to moves on.
            let group = &mut self.groups[p];
            group.clear();
            group.resize(self.remaining.len(), 0);
            let (mut taken, mut keep) = (0, 0);
            for k in 0..self.remaining.len() {
                let row = self.remaining[k];
                let hit = usize::from(buf[k] != 0);
                group[taken] = row;
                self.remaining[keep] = row;
                taken += hit;
                keep += 1 - hit;
            }
            group.truncate(taken);
            self.remaining.truncate(keep);
            self.bufs[0] = buf;
        }
        // Rows left in `remaining` keep their NO_PROFILE result.
        let mut done = (usize::MAX, usize::MAX);
        if let Some((a, b)) = self.plans.twin {
            let big = (self.groups[a].len() + self.groups[b].len()) * 4 >= len;
            let outcomes = self.detail == Detail::Outcomes;
            if !outcomes && big && !self.groups[a].is_empty() && !self.groups[b].is_empty() {
                self.score_twins(a, b, start, len, base, out)?;
                done = (a, b);
            }
        }
        for p in 0..self.groups.len() {
            let group = std::mem::take(&mut self.groups[p]);
            if !group.is_empty() && p != done.0 && p != done.1 {
                let sel = if group.len() == len {
                    Sel::Dense { start, len }
                } else {
                    Sel::Sparse(&group)
                };
                let plans = self.plans;
                match &plans.profiles[p] {
                    Plan::Md(MdPlan {
                        fast: Some(fast), ..
                    }) if self.detail != Detail::Outcomes => {
                        // Rows of a big group are scored over the whole block (values are read
                        // in order, vectorised), the others gathered.
                        let (sel, positions) = if group.len() * 4 >= len {
                            (Sel::Dense { start, len }, Positions::Offset(start))
                        } else {
                            (Sel::Sparse(&group), Positions::Index)
                        };
                        self.score_md_fast(p as u32, fast, &sel, &group, positions, base, out)?;
                    }
                    Plan::Md(plan) => self.score_md(p as u32, plan, &sel, base, out)?,
                    Plan::Ah(plan) => self.score_ah(p as u32, plan, &sel, base, out)?,
                }
            }
            self.groups[p] = group;
        }
        Ok(())
    }

    /// The twin profiles' rows of a block: codes over the whole block in one pass per metric
    /// (each row with its profile's thresholds), then each group through its own tables.
    fn score_twins(
        &mut self,
        a: usize,
        b: usize,
        start: usize,
        len: usize,
        base: usize,
        out: &mut ChunkOut,
    ) -> Result<()> {
        let plans = self.plans;
        let (Plan::Md(pa), Plan::Md(pb)) = (&plans.profiles[a], &plans.profiles[b]) else {
            return Err(crate::error::Error::Internal("twin profiles".into()));
        };
        let (Some(fa), Some(fb)) = (&pa.fast, &pb.fast) else {
            return Err(crate::error::Error::Internal("twin profiles".into()));
        };
        let nd = fa.ndims;
        let miss = if self.settings.ignore_missing {
            CODE_IGNORED
        } else {
            CODE_AVERAGE
        };
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.resize(len.div_ceil(64), 0);
        for &row in &self.groups[b] {
            let k = row as usize - start;
            key[k / 64] |= 1 << (k % 64);
        }
        self.idx.clear();
        self.idx.resize(nd * len, 0);
        let table = self.ev.table;
        for (ma, mb) in fa.metrics.iter().zip(&fb.metrics) {
            let (Some(ia), Some(ib)) = (ma.fused, mb.fused) else {
                return Err(crate::error::Error::Internal("twin profiles".into()));
            };
            let (c, nb): (&[f64], Option<&NullBuffer>) = match table.columns.get(ma.attr as usize) {
                Some(Column::Number(c)) => (c, None),
                Some(Column::NumberMasked(c, nb)) => (c, Some(nb)),
                _ => {
                    // No such column: every row misses the value.
                    let code = miss << ma.shift;
                    for o in &mut self.idx[ma.dim * len..(ma.dim + 1) * len] {
                        *o |= code;
                    }
                    continue;
                }
            };
            if c.len() < start + len || nb.is_some_and(|nb| nb.len() < start + len) {
                return Err(crate::error::Error::Internal(
                    "column shorter than table".into(),
                ));
            }
            valid_words(nb, start, len, &mut self.valid_words);
            let idx = &mut self.idx[ma.dim * len..(ma.dim + 1) * len];
            if let Some(c) = self.inf_checked.get_mut(ma.attr as usize) {
                *c = true;
            }
            self.found_infinite |= or_codes(
                &c[start..start + len],
                &self.valid_words,
                &key,
                [ia, ib],
                miss,
                ma.shift,
                idx,
            );
        }
        self.key = key;
        let idx = &self.idx;
        for (p, fast) in [(a, fa), (b, fb)] {
            let rows = &self.groups[p];
            for &row in rows {
                let k = row as usize - start;
                if let Some(slot) = out.rows.get_mut((row as usize).wrapping_sub(base)) {
                    *slot = fast.row(p as u32, |d| usize::from(idx[d * len + k]));
                }
            }
            if self.detail == Detail::Columns {
                let slots = &plans.columns.slots[p];
                fast.dim_columns(slots, idx, len, rows, Positions::Offset(start), base, out);
            }
        }
        Ok(())
    }

    /// Multidimensional scoring with the profile's lookup tables: outcome codes column-wise (one
    /// fused pass per metric for NUMBER comparisons, the evaluator otherwise), then per row one
    /// table lookup per dimension and one division. `rows` are the group's rows (ascending);
    /// `sel` is what the codes are computed over (the group itself, or the whole block).
    #[allow(clippy::too_many_arguments)]
    fn score_md_fast(
        &mut self,
        p: u32,
        fast: &FastMd,
        sel: &Sel<'_>,
        rows: &[u32],
        positions: Positions,
        base: usize,
        out: &mut ChunkOut,
    ) -> Result<()> {
        let n = sel.len();
        let nd = fast.ndims;
        let ignore = self.settings.ignore_missing;
        let miss = if ignore { CODE_IGNORED } else { CODE_AVERAGE };
        self.idx.clear();
        self.idx.resize(nd * n, 0);
        let table = self.ev.table;
        for m in &fast.metrics {
            let idx = &mut self.idx[m.dim * n..(m.dim + 1) * n];
            let col = table.columns.get(m.attr as usize);
            let fused = match (m.fused, col) {
                (Some(iv), Some(Column::Number(c))) => Some((iv, &c[..], None)),
                (Some(iv), Some(Column::NumberMasked(c, nb))) => Some((iv, *c, Some(nb))),
                _ => None,
            };
            if let Some((iv, c, nb)) = fused {
                if c.len() < table.len || nb.is_some_and(|nb| nb.len() < table.len) {
                    return Err(crate::error::Error::Internal(
                        "column shorter than table".into(),
                    ));
                }
                let valid = match (*sel, nb) {
                    (_, None) => None,
                    (Sel::Dense { start, len }, Some(nb)) => {
                        self.valid.resize(len, 0);
                        expand_bits(nb, start, &mut self.valid);
                        Some(&self.valid[..])
                    }
                    (Sel::Sparse(ix), Some(nb)) => {
                        self.valid.clear();
                        self.valid
                            .extend(ix.iter().map(|&r| u8::from(nb.is_valid(r as usize))));
                        Some(&self.valid[..])
                    }
                };
                let vals = match *sel {
                    Sel::Dense { start, len } => &c[start..start + len],
                    Sel::Sparse(ix) => {
                        self.vals.clear();
                        self.vals.extend(ix.iter().map(|&r| c[r as usize]));
                        &self.vals[..]
                    }
                };
                fused_codes(vals, valid, iv, miss, m.shift, idx);
            } else {
                let [pb, gb, mb] = &mut self.bufs;
                for b in [&mut *pb, &mut *gb, &mut *mb] {
                    b.clear();
                    b.resize(n, 0);
                }
                self.ev.eval(m.poor, sel, pb)?;
                self.ev.eval(m.good, sel, gb)?;
                if ignore {
                    self.ev.missing(m.attr, sel, mb);
                }
                for (((o, &pv), &gv), &mv) in idx.iter_mut().zip(&*pb).zip(&*gb).zip(&*mb) {
                    let code = if pv != 0 {
                        CODE_POOR
                    } else if gv != 0 {
                        CODE_GOOD
                    } else if mv != 0 {
                        CODE_IGNORED
                    } else {
                        CODE_AVERAGE
                    };
                    *o |= code << m.shift;
                }
            }
        }
        let idx = &self.idx;
        for (i, &row) in rows.iter().enumerate() {
            let k = match positions {
                Positions::Offset(start) => row as usize - start,
                Positions::Index => i,
            };
            if let Some(slot) = out.rows.get_mut((row as usize).wrapping_sub(base)) {
                *slot = fast.row(p, |d| usize::from(idx[d * n + k]));
            }
        }
        if self.detail == Detail::Columns {
            let slots = &self.plans.columns.slots[p as usize];
            fast.dim_columns(slots, idx, n, rows, positions, base, out);
        }
        Ok(())
    }

    #[allow(clippy::needless_range_loop)] // parallel arrays, indexed together
    fn score_md(
        &mut self,
        p: u32,
        plan: &MdPlan,
        sel: &Sel<'_>,
        base: usize,
        out: &mut ChunkOut,
    ) -> Result<()> {
        let n = sel.len();
        let nm = plan.metrics.len();
        let ignore = self.settings.ignore_missing;
        let need_oc = self.detail != Detail::None || ignore || !plan.exact_weights;
        let [pb, gb, mb] = &mut self.bufs;
        for b in [&mut *pb, &mut *gb, &mut *mb] {
            b.clear();
            b.resize(n, 0);
        }
        let [num, ssum, tot] = &mut self.acc;
        tot.clear();
        tot.resize(n, 0);
        self.slow.clear();
        self.slow.resize(n, 0);
        if need_oc {
            self.oc.clear();
            self.oc.resize(n * nm, 0);
        }
        for d in &plan.dims {
            num.clear();
            num.resize(n, 0);
            ssum.clear();
            ssum.resize(n, 0);
            for k in d.metrics.clone() {
                let m = &plan.metrics[k];
                self.ev.eval(m.poor, sel, pb)?;
                self.ev.eval(m.good, sel, gb)?;
                if ignore {
                    self.ev.missing(m.attr, sel, mb);
                }
                let w = m.weight;
                let metric_values = num
                    .iter_mut()
                    .zip(ssum.iter_mut())
                    .zip(pb.iter().zip(gb.iter()).zip(mb.iter()));
                for ((nv, sv), ((&p, &g), &missing)) in metric_values {
                    let (pv, gv) = (u32::from(p), u32::from(g));
                    let keep = 1 - ((1 - pv) & (1 - gv) & u32::from(missing));
                    let score = (1 - pv) * (60 + 40 * gv);
                    *nv += score * w * keep;
                    *sv += w * keep;
                }
                if need_oc {
                    for i in 0..n {
                        let outcome = if pb[i] != 0 {
                            OUTCOME_POOR
                        } else if gb[i] != 0 {
                            OUTCOME_GOOD
                        } else if mb[i] != 0 {
                            OUTCOME_IGNORED
                        } else {
                            OUTCOME_AVERAGE
                        };
                        self.oc[i * nm + k] = outcome | (gb[i] << 4);
                    }
                }
            }
            let dw = d.weight;
            for (((t, slow), &nv), &sv) in tot
                .iter_mut()
                .zip(self.slow.iter_mut())
                .zip(num.iter())
                .zip(ssum.iter())
            {
                let fast = sv == 100;
                *slow |= (!fast) as u8;
                *t += ((2 * nv + 100) / 200) * dw * fast as u32;
            }
        }
        let s = self.settings;
        let columns = self.detail == Detail::Columns;
        let nrows = out.rows.len();
        for i in 0..n {
            let row = sel.row(i);
            let Some(slot) = out.rows.get_mut(row.wrapping_sub(base)) else {
                continue;
            };
            let exact = self.slow[i] == 0 && plan.exact_weights;
            if !exact || columns {
                md_row(plan, &s, &self.oc[i * nm..(i + 1) * nm], &mut self.md);
            }
            if exact {
                let score = u64::from((2 * tot[i] + 100) / 200);
                *slot = RowOut {
                    profile: p,
                    score: score as i32,
                    rank: rank_of(score, &s),
                    reason: 0,
                };
            } else {
                *slot = RowOut {
                    profile: p,
                    score: self.md.score.map_or(NO_SCORE, |v| v as i32),
                    rank: self.md.rank,
                    reason: self.md.reason,
                };
            }
            if columns {
                let slots = &self.plans.columns.slots[p as usize];
                for (dim, &c) in self.md.dims.iter().zip(slots) {
                    let at = c.wrapping_mul(nrows).wrapping_add(row - base);
                    if let Some(v) = out.dims.get_mut(at) {
                        *v = dim.score.map_or(DIM_IGNORED, |x| x as u8);
                    }
                }
            }
            if self.detail == Detail::Outcomes {
                let stride = self.plans.stride;
                let at = (row - base) * stride;
                if let Some(dst) = out.detail.get_mut(at..at + nm) {
                    dst.copy_from_slice(&self.oc[i * nm..(i + 1) * nm]);
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::needless_range_loop)] // parallel arrays, indexed together
    fn score_ah(
        &mut self,
        p: u32,
        plan: &AhPlan,
        sel: &Sel<'_>,
        base: usize,
        out: &mut ChunkOut,
    ) -> Result<()> {
        let n = sel.len();
        let [buf, any_poor_cat, good_all_cat] = &mut self.bufs;
        buf.clear();
        buf.resize(n, 0);
        // acc[0]: any category POOR; acc[1]: every category GOOD.
        let [any_poor, all_good, _] = &mut self.acc;
        any_poor.clear();
        any_poor.resize(n, 0);
        all_good.clear();
        all_good.resize(n, 1);
        let stride = self.plans.stride;
        for (ci, c) in plan.categories.iter().enumerate() {
            any_poor_cat.clear();
            any_poor_cat.resize(n, 0);
            good_all_cat.clear();
            good_all_cat.resize(n, 1);
            for k in c.poor.clone().chain(c.good.clone()) {
                let is_poor = k < c.poor.end;
                self.ev.eval(plan.criteria[k], sel, buf)?;
                let acc = if is_poor {
                    &mut *any_poor_cat
                } else {
                    &mut *good_all_cat
                };
                for (a, &v) in acc.iter_mut().zip(buf.iter()) {
                    if is_poor {
                        *a |= v;
                    } else {
                        *a &= v;
                    }
                }
                if self.detail == Detail::Outcomes {
                    for (i, &v) in buf.iter().enumerate() {
                        let at = (sel.row(i).wrapping_sub(base))
                            .wrapping_mul(stride)
                            .wrapping_add(k);
                        if let Some(d) = out.detail.get_mut(at) {
                            *d = v;
                        }
                    }
                }
            }
            for i in 0..n {
                let poor = u32::from(any_poor_cat[i]);
                any_poor[i] |= poor;
                all_good[i] &= (1 - poor) & u32::from(good_all_cat[i]);
            }
            let column = self.plans.columns.slots[p as usize].get(ci).copied();
            if let (Detail::Columns, Some(c)) = (self.detail, column) {
                let nrows = out.rows.len();
                for i in 0..n {
                    let rank = rank_from(any_poor_cat[i] != 0, good_all_cat[i] != 0);
                    let at = c
                        .wrapping_mul(nrows)
                        .wrapping_add(sel.row(i).wrapping_sub(base));
                    if let Some(v) = out.dims.get_mut(at) {
                        *v = rank;
                    }
                }
            }
        }
        for i in 0..n {
            let Some(slot) = out.rows.get_mut(sel.row(i).wrapping_sub(base)) else {
                continue;
            };
            *slot = RowOut {
                profile: p,
                score: NO_SCORE,
                rank: rank_from(any_poor[i] != 0, all_good[i] != 0),
                reason: 0,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup tables give `md_row`'s account result for every outcome pattern of a profile
    /// with uneven weights (exhaustive over two dimensions, so every redistribution case).
    #[test]
    fn lookup_tables_match_md_row() {
        let weights = [(37u32, vec![13u32, 29, 58]), (63, vec![1, 99])];
        let mut metrics = Vec::new();
        let mut dims = Vec::new();
        for (d, (dw, mws)) in weights.iter().enumerate() {
            let start = metrics.len();
            for &w in mws {
                metrics.push(MdMetric {
                    attr: metrics.len() as u32,
                    weight: w,
                    good: 0,
                    poor: 0,
                    metric_index: metrics.len() as u32,
                });
            }
            dims.push(MdDim {
                dimension: d as u32,
                weight: *dw,
                metrics: start..metrics.len(),
            });
        }
        let nm = metrics.len();
        let mut plan = MdPlan {
            dims,
            metrics,
            reason_order: (0..nm).collect(),
            exact_weights: true,
            fast: None,
        };
        let mut rules = CompiledRuleset {
            version: String::new(),
            model: crate::ir::Model::Multidimensional,
            attributes: Vec::new(),
            attr_index: Default::default(),
            dimensions: vec!["a".into(), "b".into()],
            settings: Settings {
                poor_max: 40,
                good_min: 70,
                ignore_missing: true,
                enterprise: Default::default(),
            },
            nodes: Vec::new(),
            children: Vec::new(),
            profiles: Vec::new(),
            lookbacks: Vec::new(),
            warnings: Vec::new(),
            plans: Default::default(),
        };
        for (poor_max, good_min) in [(40, 70), (0, 100), (50, 55)] {
            rules.settings.poor_max = poor_max;
            rules.settings.good_min = good_min;
            let fast = FastMd::new(&rules, &plan).expect("covered shape");
            plan.fast = None;
            let mut md = MdRow::default();
            for pattern in 0..1usize << (2 * nm) {
                let codes: Vec<u16> = (0..nm).map(|k| ((pattern >> (2 * k)) & 3) as u16).collect();
                let detail: Vec<u8> = codes.iter().map(|&c| outcome_of_code(c)).collect();
                md_row(&plan, &rules.settings, &detail, &mut md);
                let got = fast.row(7, |d| {
                    let r = plan.dims[d].metrics.clone();
                    r.clone()
                        .map(|k| usize::from(codes[k]) << (2 * (k - r.start)))
                        .sum()
                });
                let want = RowOut {
                    profile: 7,
                    score: md.score.map_or(NO_SCORE, |v| v as i32),
                    rank: md.rank,
                    reason: md.reason,
                };
                assert_eq!(got, want, "pattern {codes:?}");
            }
        }
    }

    #[test]
    fn intervals_match_comparisons() {
        let xs = [
            -1.5,
            -0.0,
            0.0,
            1e-300,
            5e-324,
            2.5,
            1e308,
            f64::MAX,
            -f64::MAX,
        ];
        for &x in &xs {
            for cmp in [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq] {
                let rules = CompiledRuleset {
                    version: String::new(),
                    model: crate::ir::Model::Multidimensional,
                    attributes: Vec::new(),
                    attr_index: Default::default(),
                    dimensions: Vec::new(),
                    settings: Settings {
                        poor_max: 40,
                        good_min: 70,
                        ignore_missing: true,
                        enterprise: Default::default(),
                    },
                    nodes: vec![Node::Pred(Pred::Number {
                        attr: 0,
                        cmp,
                        operand: x,
                    })],
                    children: Vec::new(),
                    profiles: Vec::new(),
                    lookbacks: Vec::new(),
                    warnings: Vec::new(),
                    plans: Default::default(),
                };
                let iv = Interval::of(&rules, 0, 0).expect("interval");
                for &v in xs.iter().chain(&[f64::NAN, next_up(x), next_down(x)]) {
                    let want = cmp.test(v, x);
                    assert_eq!((iv.lo <= v) & (v <= iv.hi), want, "{v} {cmp:?} {x}");
                }
            }
        }
    }
}

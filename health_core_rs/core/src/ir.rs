//! The compiled form of a ruleset: attribute names resolved to indices, expressions flattened into
//! an arena, settings defaulted. Built once by `compile`, read (never changed) by every scoring
//! call, so it is shared freely between threads.

use std::collections::HashMap;

use crate::error::Violation;

/// Index of an attribute in `CompiledRuleset::attributes` (catalog order).
pub type AttrId = u32;
/// Index of a node in `CompiledRuleset::nodes`.
pub type NodeId = u32;
/// Index of a (attribute, period) pair in `CompiledRuleset::lookbacks`.
pub type LookbackId = u32;

/// Code of a TEXT or ORDINAL value that has no value.
pub const CODE_MISSING: u32 = u32::MAX;
/// Code of a TEXT value that is none of the literals the ruleset compares with.
pub const CODE_OTHER: u32 = u32::MAX - 1;
/// A TIME value that has no value (nanoseconds since the epoch otherwise).
pub const TIME_MISSING: i64 = i64::MIN;
/// BOOL column entries.
pub const BOOL_FALSE: u8 = 0;
pub const BOOL_TRUE: u8 = 1;
pub const BOOL_MISSING: u8 = 2;

/// Nanoseconds in one day.
pub const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
/// The deepest criterion nesting a ruleset may have (documented limit).
pub const MAX_CRITERION_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    Number,
    Text,
    Bool,
    Time,
    Ordinal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    AccountHealth,
    Multidimensional,
}

#[derive(Debug, Clone)]
pub struct AttrInfo {
    pub name: String,
    pub ty: AttrType,
    /// ORDINAL: level name -> level index (0 = lowest). TEXT: literal -> code, for every text the
    /// ruleset compares this attribute with (values not in it decode to `CODE_OTHER`).
    pub codes: HashMap<String, u32>,
    /// ORDINAL: the levels, lowest first. TEXT: the literals, by code.
    pub code_names: Vec<String>,
    /// Index into `CompiledRuleset::dimensions` of the attribute's catalog dimension.
    pub dimension: Option<u32>,
}

/// A comparison of a number (or of days-since for TIME, in nanoseconds) with an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    /// `a <op> b`, for f64 (IEEE: any comparison with NaN but `!=` is false) and integers alike.
    #[inline]
    pub fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// A predicate with its attribute resolved and its operand typed. Every variant except
/// `IsEmpty` is false on an attribute with no value.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// NUMBER `value <op> operand`.
    Number {
        attr: AttrId,
        cmp: Cmp,
        operand: f64,
    },
    /// NUMBER `low <= value <= high`.
    NumberBetween { attr: AttrId, low: f64, high: f64 },
    /// "change in": percent change against the look-back value, `<op> operand`.
    Change {
        attr: AttrId,
        lookback: LookbackId,
        cmp: Cmp,
        operand: f64,
    },
    /// "change in" with BETWEEN.
    ChangeBetween {
        attr: AttrId,
        lookback: LookbackId,
        low: f64,
        high: f64,
    },
    /// TEXT/ORDINAL `==` (negate = false) or `!=` (negate = true) against a code.
    CodeEq {
        attr: AttrId,
        code: u32,
        negate: bool,
    },
    /// TEXT/ORDINAL `in` (negate = false) or `not_in` (negate = true); codes sorted, deduplicated.
    CodeIn {
        attr: AttrId,
        codes: Vec<u32>,
        negate: bool,
    },
    /// ORDINAL level >= `level`.
    AtLeast { attr: AttrId, level: u32 },
    /// ORDINAL level <= `level`.
    AtMost { attr: AttrId, level: u32 },
    /// BOOL value == `value`.
    Bool { attr: AttrId, value: bool },
    /// TIME: `(as_of - t) <op> nanos` where nanos = days x NANOS_PER_DAY.
    Time { attr: AttrId, cmp: Cmp, nanos: i128 },
    /// TIME: `low <= as_of - t <= high` (nanoseconds).
    TimeBetween { attr: AttrId, low: i128, high: i128 },
    /// No value.
    IsEmpty { attr: AttrId },
    /// A value.
    IsNotEmpty { attr: AttrId },
}

/// One node of the flattened expression arena.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Pred(Pred),
    /// AND over `children[start..start+len]` of `CompiledRuleset::children` (empty = true).
    All {
        start: u32,
        len: u32,
    },
    /// OR over the same kind of range (empty = false).
    Any {
        start: u32,
        len: u32,
    },
    Not(NodeId),
}

#[derive(Debug, Clone)]
pub struct CategoryRule {
    pub name: String,
    /// Good column (AND); each with its ruleset path, e.g. `profiles[0].categories[1].good[0]`.
    pub good: Vec<(NodeId, String)>,
    /// Poor column (OR), with paths.
    pub poor: Vec<(NodeId, String)>,
}

#[derive(Debug, Clone)]
pub struct MetricRule {
    pub attr: AttrId,
    /// Weight 0..100 within its dimension.
    pub weight: u32,
    pub good: NodeId,
    pub poor: NodeId,
    /// Index of the metric in the profile's `metrics` (for reason paths `profiles[p].metrics[i]`).
    pub metric_index: u32,
}

#[derive(Debug, Clone)]
pub struct DimensionRule {
    /// Index into `CompiledRuleset::dimensions`.
    pub dimension: u32,
    /// Weight 0..100.
    pub weight: u32,
    /// The dimension's metrics, in profile order; their weights sum to 100.
    pub metrics: Vec<MetricRule>,
}

#[derive(Debug, Clone)]
pub enum ProfileBody {
    AccountHealth {
        categories: Vec<CategoryRule>,
    },
    /// Dimensions in profile order; their weights sum to 100.
    Multidimensional {
        dimensions: Vec<DimensionRule>,
    },
}

#[derive(Debug, Clone)]
pub struct ProfileRule {
    pub name: String,
    /// None: a default profile (matches every account).
    pub segment: Option<NodeId>,
    pub body: ProfileBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnterpriseMethod {
    Count,
    ContractValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnterpriseSettings {
    pub method: EnterpriseMethod,
    /// 0..100 (default 50).
    pub poor_share_percent: u32,
    /// 0..100 (default 50).
    pub good_share_percent: u32,
}

impl Default for EnterpriseSettings {
    fn default() -> Self {
        Self {
            method: EnterpriseMethod::Count,
            poor_share_percent: 50,
            good_share_percent: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 0..50 (default 40).
    pub poor_max: u32,
    /// 55..100 (default 70).
    pub good_min: u32,
    pub ignore_missing: bool,
    pub enterprise: EnterpriseSettings,
}

pub const DEFAULT_POOR_MAX: u32 = 40;
pub const DEFAULT_GOOD_MIN: u32 = 70;

/// A validated, compiled ruleset.
#[derive(Debug, Clone)]
pub struct CompiledRuleset {
    pub version: String,
    pub model: Model,
    /// Catalog attributes, in catalog order (index = AttrId).
    pub attributes: Vec<AttrInfo>,
    pub attr_index: HashMap<String, AttrId>,
    /// Catalog dimension names, in catalog order.
    pub dimensions: Vec<String>,
    pub settings: Settings,
    /// Expression arena.
    pub nodes: Vec<Node>,
    /// Child lists of `All`/`Any` nodes.
    pub children: Vec<NodeId>,
    /// Profiles in order of precedence.
    pub profiles: Vec<ProfileRule>,
    /// Distinct (attribute, period in days) pairs used by "change in" predicates.
    pub lookbacks: Vec<(AttrId, u32)>,
    /// Non-fatal findings, e.g. profiles after a default profile that can never match.
    pub warnings: Vec<Violation>,
    /// Scoring plans derived from the above (lookup tables and the like): built once, by `compile`
    /// or on first use, and shared by every scoring call. Read through `plans()`.
    pub plans: std::sync::OnceLock<crate::score::Plans>,
}

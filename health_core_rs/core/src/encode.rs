//! `ScoreAccountsResponse` encoding straight from `RowOut`s into one buffer (no per-account
//! messages or strings). Fields are written in tag order with proto3 presence rules, so the
//! bytes equal prost's `encode_to_vec` of the same message (a test checks it).

use crate::ir::{CompiledRuleset, Model, ProfileBody};
use crate::proto::ScoreView;
use crate::score::{
    ah_row, md_row, outcome_score, ChunkOut, MdRow, Plan, Plans, GOOD_HELD, NO_PROFILE, NO_SCORE,
    OUTCOME_IGNORED, OUTCOME_POOR,
};

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from((field << 3) | wire));
}

/// A string field (skipped when empty).
#[inline]
fn put_str(buf: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        put_key(buf, field, 2);
        put_varint(buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// An int32/enum/bool field (skipped when 0 unless `present`).
#[inline]
fn put_i32(buf: &mut Vec<u8>, field: u32, v: i32, present: bool) {
    if v != 0 || present {
        put_key(buf, field, 0);
        put_varint(buf, v as i64 as u64);
    }
}

/// A length-delimited sub-message written in place: one length byte is reserved and widened
/// afterwards if the body turns out to need more.
#[inline]
fn put_msg(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(buf, field, 2);
    let at = buf.len();
    buf.push(0);
    body(buf);
    let len = buf.len() - at - 1;
    if len < 0x80 {
        buf[at] = len as u8;
    } else {
        let mut tmp = Vec::with_capacity(10);
        put_varint(&mut tmp, len as u64);
        buf.splice(at..at + 1, tmp);
    }
}

/// Everything an encoder needs besides the rows.
pub struct EncodeCtx<'r> {
    pub rules: &'r CompiledRuleset,
    pub plans: &'r Plans,
    pub view: ScoreView,
    /// `profiles[p].metrics[i].poor` / `.good` paths per profile, by flat metric.
    md_paths: Vec<Vec<(String, String)>>,
}

impl<'r> EncodeCtx<'r> {
    pub fn new(rules: &'r CompiledRuleset, plans: &'r Plans, view: ScoreView) -> Self {
        let md_paths = plans
            .profiles
            .iter()
            .enumerate()
            .map(|(p, plan)| match plan {
                Plan::Md(md) => md
                    .metrics
                    .iter()
                    .map(|m| {
                        let base = format!("profiles[{p}].metrics[{}]", m.metric_index);
                        (format!("{base}.poor"), format!("{base}.good"))
                    })
                    .collect(),
                Plan::Ah(_) => Vec::new(),
            })
            .collect();
        Self {
            rules,
            plans,
            view,
            md_paths,
        }
    }

    fn model(&self) -> i32 {
        match self.rules.model {
            Model::AccountHealth => crate::proto::HealthModel::AccountHealth as i32,
            Model::Multidimensional => crate::proto::HealthModel::Multidimensional as i32,
        }
    }

    /// Appends one `results` entry per row of `chunk` (ids by row, chunk-relative).
    pub fn encode_chunk(&self, ids: &[&str], chunk: &ChunkOut, buf: &mut Vec<u8>) {
        if self.view == ScoreView::Basic {
            self.encode_basic(ids, chunk, buf);
            return;
        }
        let detail = self.view != ScoreView::Basic;
        let full = self.view == ScoreView::Full;
        let stride = self.plans.stride;
        let model = self.model();
        let version = self.rules.version.as_str();
        let mut md = MdRow::default();
        let mut cat_ranks = Vec::new();
        buf.reserve(chunk.rows.len() * (24 + version.len()));
        for (i, (row, id)) in chunk.rows.iter().zip(ids).enumerate() {
            put_msg(buf, 1, |b| {
                put_str(b, 1, id);
                put_i32(b, 2, model, false);
                put_str(b, 3, version);
                let profile = self.rules.profiles.get(row.profile as usize);
                if let Some(p) = profile {
                    put_str(b, 4, &p.name);
                }
                if row.score != NO_SCORE {
                    put_i32(b, 5, row.score, true);
                }
                put_i32(b, 6, i32::from(row.rank), false);
                put_i32(b, 7, i32::from(row.reason), false);
                if !detail || row.profile == NO_PROFILE {
                    return;
                }
                let Some(p) = profile else { return };
                let Some(plan) = self.plans.profiles.get(row.profile as usize) else {
                    return;
                };
                let bytes = chunk
                    .detail
                    .get(i * stride..(i + 1) * stride)
                    .unwrap_or(&[]);
                match (plan, &p.body) {
                    (Plan::Md(plan), _) => {
                        md_row(plan, &self.rules.settings, bytes, &mut md);
                        for (d, out) in plan.dims.iter().zip(&md.dims) {
                            put_msg(b, 8, |b| {
                                let name = self.rules.dimensions.get(d.dimension as usize);
                                put_str(b, 1, name.map_or("", String::as_str));
                                if let Some(s) = out.score {
                                    put_i32(b, 2, s as i32, true);
                                }
                                put_i32(b, 3, i32::from(out.rank), false);
                                put_i32(b, 4, out.effective_weight as i32, false);
                                put_i32(b, 5, out.ignored as i32, false);
                                if !full {
                                    return;
                                }
                                for k in d.metrics.clone() {
                                    let m = &plan.metrics[k];
                                    let outcome =
                                        bytes.get(k).map_or(OUTCOME_IGNORED, |x| x & 0x0f);
                                    put_msg(b, 6, |b| {
                                        let attr = self.rules.attributes.get(m.attr as usize);
                                        put_str(b, 1, attr.map_or("", |a| a.name.as_str()));
                                        put_i32(b, 2, i32::from(outcome), false);
                                        if let Some(s) = outcome_score(outcome) {
                                            put_i32(b, 3, s as i32, true);
                                        }
                                        put_i32(b, 4, md.metric_weights[k] as i32, false);
                                    });
                                }
                            });
                        }
                        if full {
                            let paths = &self.md_paths[row.profile as usize];
                            let subject = |k: usize| {
                                let a = self.rules.attributes.get(plan.metrics[k].attr as usize);
                                a.map_or("", |a| a.name.as_str())
                            };
                            for &k in &plan.reason_order {
                                if bytes.get(k).is_some_and(|x| x & 0x0f == OUTCOME_POOR) {
                                    put_reason(b, 1, &paths[k].0, subject(k));
                                }
                            }
                            for &k in &plan.reason_order {
                                let x = bytes.get(k).copied().unwrap_or(OUTCOME_IGNORED);
                                if x & 0x0f != OUTCOME_IGNORED && x & GOOD_HELD == 0 {
                                    put_reason(b, 2, &paths[k].1, subject(k));
                                }
                            }
                        }
                    }
                    (Plan::Ah(plan), ProfileBody::AccountHealth { categories }) => {
                        ah_row(plan, bytes, &mut cat_ranks);
                        for (c, &rank) in categories.iter().zip(&cat_ranks) {
                            put_msg(b, 9, |b| {
                                put_str(b, 1, &c.name);
                                put_i32(b, 2, i32::from(rank), false);
                            });
                        }
                        if full {
                            let held = |k: usize| bytes.get(k).is_some_and(|&x| x != 0);
                            for (c, r) in categories.iter().zip(&plan.categories) {
                                for ((_, path), k) in c.poor.iter().zip(r.poor.clone()) {
                                    if held(k) {
                                        put_reason(b, 1, path, &c.name);
                                    }
                                }
                            }
                            for (c, r) in categories.iter().zip(&plan.categories) {
                                for ((_, path), k) in c.good.iter().zip(r.good.clone()) {
                                    if !held(k) {
                                        put_reason(b, 2, path, &c.name);
                                    }
                                }
                            }
                        }
                    }
                    (Plan::Ah(_), _) => {}
                }
            });
        }
    }
}

impl EncodeCtx<'_> {
    /// BASIC results: the fields between the id and the score (model, version, profile) depend
    /// on the profile only, so they are written once per profile and copied; each entry's length
    /// is known before it is written.
    fn encode_basic(&self, ids: &[&str], chunk: &ChunkOut, buf: &mut Vec<u8>) {
        let model = self.model();
        let version = self.rules.version.as_str();
        let middle = |profile: Option<&str>| {
            let mut m = Vec::new();
            put_i32(&mut m, 2, model, false);
            put_str(&mut m, 3, version);
            if let Some(name) = profile {
                put_str(&mut m, 4, name);
            }
            m
        };
        let middles: Vec<Vec<u8>> = self
            .rules
            .profiles
            .iter()
            .map(|p| middle(Some(&p.name)))
            .collect();
        let no_profile = middle(None);
        let longest = middles
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(no_profile.len());
        let id_bytes: usize = ids.iter().take(chunk.rows.len()).map(|id| id.len()).sum();
        // Per entry at most: key and length (1 + 5), id key and length (1 + 5), score, rank and
        // reason (3 x 11).
        buf.reserve(id_bytes + chunk.rows.len() * (longest + 45));
        let mut tail = Vec::with_capacity(40);
        for (row, id) in chunk.rows.iter().zip(ids) {
            let mid = self
                .rules
                .profiles
                .get(row.profile as usize)
                .and_then(|_| middles.get(row.profile as usize))
                .unwrap_or(&no_profile);
            tail.clear();
            if row.score != NO_SCORE {
                put_i32(&mut tail, 5, row.score, true);
            }
            put_i32(&mut tail, 6, i32::from(row.rank), false);
            put_i32(&mut tail, 7, i32::from(row.reason), false);
            let id_len = if id.is_empty() {
                0
            } else {
                1 + varint_len(id.len() as u64) + id.len()
            };
            put_key(buf, 1, 2);
            put_varint(buf, (id_len + mid.len() + tail.len()) as u64);
            put_str(buf, 1, id);
            buf.extend_from_slice(mid);
            buf.extend_from_slice(&tail);
        }
    }
}

#[inline]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_reason(buf: &mut Vec<u8>, kind: i32, criterion: &str, subject: &str) {
    put_msg(buf, 10, |b| {
        put_i32(b, 1, kind, false);
        put_str(b, 2, criterion);
        put_str(b, 3, subject);
    });
}

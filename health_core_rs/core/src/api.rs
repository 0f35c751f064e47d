//! The entry points the PyO3 glue calls: bytes in, bytes out (or Arrow in, Arrow out).

use arrow_array::RecordBatch;
use prost::Message;

use crate::cancel::{self, Cancel};
use crate::error::{Error, Result, Violation};
use crate::ir::CompiledRuleset;
use crate::proto::{self, ScoreView};
use crate::score::{Detail, Scorer};
use crate::table::{now_nanos, sorted_violations, AccountTable, Names};
use crate::{arrow_io, columns, encode, enterprise, pool, rows};

/// ScoreAccountsRequest bytes -> ScoreAccountsResponse bytes. Bad account data fails the whole
/// request with `Error::InvalidAccounts` listing every violation.
pub fn score_request_bytes(rules: &CompiledRuleset, request: &[u8]) -> Result<Vec<u8>> {
    score_request_bytes_with_threads(rules, request, pool::default_threads())
}

/// `score_request_bytes` on exactly `threads` threads (1 = the calling thread only).
pub fn score_request_bytes_with_threads(
    rules: &CompiledRuleset,
    request: &[u8],
    threads: usize,
) -> Result<Vec<u8>> {
    score_request_bytes_cancellable(rules, request, threads, &cancel::NEVER)
}

/// `score_request_bytes_with_threads` that stops with `Error::Cancelled` or
/// `Error::DeadlineExceeded` soon after `cancel` says so.
pub fn score_request_bytes_cancellable(
    rules: &CompiledRuleset,
    request: &[u8],
    threads: usize,
    cancel: &Cancel,
) -> Result<Vec<u8>> {
    cancel.check()?;
    match crate::wire::score_request(rules, request, threads, cancel) {
        Some(out) => out,
        None => score_request_via_prost(rules, request, threads, cancel),
    }
}

/// The prost-decoded path: every request form. The hand-written row decoder (`wire`) is proven
/// equal to it by `wire_tests`, and it serves what that decoder hands back (`account_columns`).
pub(crate) fn score_request_via_prost(
    rules: &CompiledRuleset,
    request: &[u8],
    threads: usize,
    cancel: &Cancel,
) -> Result<Vec<u8>> {
    let mut req = proto::ScoreAccountsRequest::decode(request)?;
    if !req.accounts.is_empty() && req.account_columns.is_some() {
        return Err(Error::InvalidAccounts(vec![Violation::new(
            "account_columns",
            "set accounts or account_columns, not both",
        )]));
    }
    // Before the view: the order the wire decoder finds them in.
    let as_of = match req.as_of {
        Some(t) => as_of_nanos(t.seconds, t.nanos)?,
        None => now_nanos(),
    };
    let view = match ScoreView::try_from(req.view) {
        Ok(ScoreView::Unspecified) => ScoreView::Basic,
        Ok(v) => v,
        Err(_) => {
            return Err(Error::InvalidAccounts(vec![Violation::new(
                "view",
                "unknown view",
            )]));
        }
    };
    let names = Names::new(rules);
    let (table, violations) = match req.account_columns.as_mut() {
        Some(cols) => columns::table_from_columns(&names, cols),
        None => {
            let (t, v) = rows::table_from_accounts(&names, &req.accounts, as_of)?;
            (t, sorted_violations(v))
        }
    };
    if !violations.is_empty() {
        return Err(Error::InvalidAccounts(violations));
    }
    let ids: Vec<&str> = match &req.account_columns {
        Some(cols) => cols.ids.iter().map(String::as_str).collect(),
        None => req.accounts.iter().map(|a| a.id.as_str()).collect(),
    };
    score_and_encode(rules, &table, &ids, as_of, view, threads, cancel)
}

/// `google.protobuf.Timestamp`'s range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// A request's `as_of` in nanoseconds since the epoch; refused, naming `as_of`, outside the
/// range a `google.protobuf.Timestamp` may hold (the one check, for every path that reads it).
pub(crate) fn as_of_nanos(seconds: i64, nanos: i32) -> Result<i128> {
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(Error::InvalidAccounts(vec![Violation::new(
            "as_of",
            format!(
                "seconds {seconds} is outside the years 0001-9999 a Timestamp may hold \
                 ({MIN_TIMESTAMP_SECONDS} to {MAX_TIMESTAMP_SECONDS})"
            ),
        )]));
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(Error::InvalidAccounts(vec![Violation::new(
            "as_of",
            format!("nanos {nanos} is outside 0 to 999999999"),
        )]));
    }
    Ok(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

/// Scores a decoded table and encodes the response, in parallel chunks.
pub(crate) fn score_and_encode(
    rules: &CompiledRuleset,
    table: &AccountTable<'_>,
    ids: &[&str],
    as_of: i128,
    view: ScoreView,
    threads: usize,
    cancel: &Cancel,
) -> Result<Vec<u8>> {
    let plans = rules.plans();
    let enc = encode::EncodeCtx::new(rules, plans, view);
    let detail = if view == ScoreView::Basic {
        Detail::None
    } else {
        Detail::Outcomes
    };
    let parts = pool::map_ranges(table.len, threads, |s, e| -> Result<Vec<u8>> {
        cancel.check()?;
        let chunk = Scorer::new(rules, plans, table, as_of, detail).score_range(s, e)?;
        let mut buf = Vec::new();
        enc.encode_chunk(ids.get(s..e).unwrap_or(&[]), &chunk, &mut buf);
        Ok(buf)
    });
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for p in parts {
        out.extend_from_slice(&p?);
    }
    Ok(out)
}

/// Bulk path: Arrow batch in, Arrow batch out; bad rows reported per row (column `error`),
/// never failing the batch. A known column of an unusable type fails with `Error::Malformed`.
pub fn score_record_batch(
    rules: &CompiledRuleset,
    batch: &RecordBatch,
    as_of_unix_nanos: i128,
    view: ScoreView,
) -> Result<RecordBatch> {
    score_record_batch_with_threads(
        rules,
        batch,
        as_of_unix_nanos,
        view,
        pool::default_threads(),
    )
}

/// `score_record_batch` on exactly `threads` threads (1 = the calling thread only).
pub fn score_record_batch_with_threads(
    rules: &CompiledRuleset,
    batch: &RecordBatch,
    as_of_unix_nanos: i128,
    view: ScoreView,
    threads: usize,
) -> Result<RecordBatch> {
    arrow_io::score_batch(rules, batch, as_of_unix_nanos, view, threads)
}

/// RollUpEnterpriseHealthRequest bytes -> RollUpEnterpriseHealthResponse bytes (SPEC §6).
pub fn roll_up_enterprise_health_bytes(request: &[u8]) -> Result<Vec<u8>> {
    let req = proto::RollUpEnterpriseHealthRequest::decode(request)?;
    Ok(enterprise::roll_up(&req)?.encode_to_vec())
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;

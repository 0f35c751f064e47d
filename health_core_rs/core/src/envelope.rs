//! The service's view of request and response envelopes, without decoding any account: the
//! options a `ScoreAccountsRequest` carries next to its accounts, and the re-tagging of a
//! response's results as `other_model_results` for side-by-side scoring.

use crate::error::{Error, Result};
use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};

/// The fields of `ScoreAccountsRequest` that choose how to score, and how many accounts it
/// carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub ruleset: String,
    pub include_other_model: bool,
    pub other_model_ruleset: String,
    /// Row-form accounts plus columnar ids (a valid request has one or the other).
    pub account_count: usize,
}

/// The next length-delimited payload.
fn payload<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8]> {
    let len = decode_varint(buf)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= buf.len())
        .ok_or_else(|| {
            Error::Malformed("failed to decode Protobuf message: buffer underflow".into())
        })?;
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

fn skip(buf: &mut &[u8], wire: WireType, tag: u32) -> Result<()> {
    Ok(prost::encoding::skip_field(
        wire,
        tag,
        buf,
        prost::encoding::DecodeContext::default(),
    )?)
}

fn string(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Malformed("failed to decode Protobuf message: invalid string".into()))
}

/// The options of a serialized `ScoreAccountsRequest` (or of a message that shares its field
/// numbers 1-2 and 5-7), walking its top-level fields only: an account costs a length prefix.
pub fn request_options(request: &[u8]) -> Result<RequestOptions> {
    let mut o = RequestOptions::default();
    let mut buf = request;
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf)?;
        match (tag, wire) {
            (1, WireType::LengthDelimited) => {
                payload(&mut buf)?;
                o.account_count += 1;
            }
            (2, WireType::LengthDelimited) => {
                let mut columns = payload(&mut buf)?;
                while !columns.is_empty() {
                    let (tag, wire) = decode_key(&mut columns)?;
                    if (tag, wire) == (1, WireType::LengthDelimited) {
                        payload(&mut columns)?;
                        o.account_count += 1;
                    } else {
                        skip(&mut columns, wire, tag)?;
                    }
                }
            }
            (5, WireType::LengthDelimited) => o.ruleset = string(payload(&mut buf)?)?,
            (6, WireType::Varint) => o.include_other_model = decode_varint(&mut buf)? != 0,
            (7, WireType::LengthDelimited) => {
                o.other_model_ruleset = string(payload(&mut buf)?)?;
            }
            (1 | 2 | 5 | 6 | 7, _) => {
                return Err(Error::Malformed(format!(
                    "failed to decode Protobuf message: field {tag} has the wrong wire type"
                )))
            }
            _ => skip(&mut buf, wire, tag)?,
        }
    }
    Ok(o)
}

/// A serialized `ScoreAccountsResponse` whose `results` (field 1) are moved to field `to`; any
/// other field is copied as it is.
pub fn retag_results(response: &[u8], to: u32) -> Result<Vec<u8>> {
    if to == 0 || to > (1 << 29) - 1 {
        return Err(Error::Malformed(format!("invalid field number {to}")));
    }
    let mut buf = response;
    let mut out = Vec::with_capacity(response.len() + 16);
    while !buf.is_empty() {
        let start = buf;
        let (tag, wire) = decode_key(&mut buf)?;
        if tag == 1 && wire == WireType::LengthDelimited {
            let result = payload(&mut buf)?;
            encode_key(to, WireType::LengthDelimited, &mut out);
            encode_varint(result.len() as u64, &mut out);
            out.extend_from_slice(result);
        } else {
            skip(&mut buf, wire, tag)?;
            out.extend_from_slice(&start[..start.len() - buf.len()]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AccountHealth, ScoreAccountsRequest, ScoreAccountsResponse};
    use prost::Message;

    #[test]
    fn options_are_read_past_the_accounts() {
        let mut req = ScoreAccountsRequest {
            ruleset: "models/multidimensional/versions/3".into(),
            include_other_model: true,
            other_model_ruleset: "models/account-health/draft".into(),
            ..Default::default()
        };
        req.accounts = (0..100)
            .map(|i| crate::proto::Account {
                id: format!("a{i}"),
                ..Default::default()
            })
            .collect();
        let o = request_options(&req.encode_to_vec()).unwrap();
        assert_eq!(o.ruleset, "models/multidimensional/versions/3");
        assert!(o.include_other_model);
        assert_eq!(o.other_model_ruleset, "models/account-health/draft");
        assert_eq!(o.account_count, 100);
        let columns = ScoreAccountsRequest {
            account_columns: Some(crate::proto::AccountColumns {
                ids: vec!["a".into(), "b".into()],
                parent_ids: vec!["p".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            request_options(&columns.encode_to_vec())
                .unwrap()
                .account_count,
            2
        );
        assert_eq!(
            request_options(&[]).unwrap(),
            RequestOptions::default(),
            "an empty request has no options"
        );
        assert!(request_options(&[0x2a, 0x05, b'a']).is_err(), "truncated");
    }

    #[test]
    fn results_move_to_the_other_field() {
        let results: Vec<AccountHealth> = (0..3)
            .map(|i| AccountHealth {
                account_id: format!("a{i}"),
                score: Some(i),
                ..Default::default()
            })
            .collect();
        let resp = ScoreAccountsResponse {
            results: results.clone(),
            ruleset: "x".into(),
            ..Default::default()
        };
        let moved = retag_results(&resp.encode_to_vec(), 2).unwrap();
        let back = ScoreAccountsResponse::decode(&moved[..]).unwrap();
        assert!(back.results.is_empty());
        assert_eq!(back.other_model_results, results);
        assert_eq!(back.ruleset, "x");
        assert!(retag_results(&[0x0a, 0x09, 1], 2).is_err(), "truncated");
        assert!(retag_results(&[], 0).is_err(), "field 0");
    }
}

//! The outcome codes of one NUMBER metric over a block of rows, 64 rows per step: the hot loop of
//! the lookup-table scoring path (`score.rs`).
//!
//! Each row's code (2 bits, `CODE_*` of `score.rs`) goes into its table index: `idx[k] |= code <<
//! shift`. Rows come with two bit words per 64 rows: validity (clear = no value) and profile
//! key (set = the row uses the second interval pair, for twin profiles). On x86-64 with AVX2
//! (detected at run time; the build stays portable) four values are compared per instruction and
//! the comparisons land in bit masks; elsewhere a scalar loop computes the same codes.

use crate::score::Interval;

/// Both intervals of a metric: (poor, good).
pub type Pair = (Interval, Interval);

/// `EXPAND16[b]`: four 16-bit lanes, lane j = bit j of b.
const EXPAND16: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut b = 0;
    while b < 16 {
        let mut j = 0;
        while j < 4 {
            if b & (1 << j) != 0 {
                t[b] |= 1 << (16 * j);
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// One value's code: POOR (0) if the poor interval holds, else GOOD (2) if the good one holds,
/// else AVERAGE (1); `miss` when the value is missing (invalid or NaN).
#[inline(always)]
pub fn outcome_code(v: f64, ok: bool, (poor, good): Pair, miss: u16) -> u16 {
    let p = u16::from((poor.lo <= v) & (v <= poor.hi));
    let g = u16::from((good.lo <= v) & (v <= good.hi));
    #[allow(clippy::eq_op)]
    let has = u16::from(ok & (v == v));
    let present = (1 - p) * (1 + g);
    has * present + (1 - has) * miss
}

/// ORs the codes of `vals` into `idx` (same length): row k uses `pairs[1]` when bit k of `key`
/// is set, else `pairs[0]`; it has no value when bit k of `valid` is clear or it is NaN.
/// `valid` and `key` hold one word per 64 rows (`vals.len().div_ceil(64)` words).
///
/// Returns whether any of `vals` is infinite (valid or not): bad input the bulk path checks
/// here, while the values are in registers, instead of in a pass of its own.
#[must_use]
pub fn or_codes(
    vals: &[f64],
    valid: &[u64],
    key: &[u64],
    pairs: [Pair; 2],
    miss: u16,
    shift: u32,
    idx: &mut [u16],
) -> bool {
    let words = vals.len().div_ceil(64);
    assert!(
        idx.len() == vals.len() && valid.len() >= words && key.len() >= words,
        "code arrays of different lengths"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `or_codes_avx2` only needs AVX2, which the running CPU has (checked above).
        return unsafe { avx2::or_codes_avx2(vals, valid, key, pairs, miss, shift, idx) };
    }
    or_codes_scalar(vals, valid, key, pairs, miss, shift, idx)
}

/// `or_codes` one row at a time.
pub fn or_codes_scalar(
    vals: &[f64],
    valid: &[u64],
    key: &[u64],
    pairs: [Pair; 2],
    miss: u16,
    shift: u32,
    idx: &mut [u16],
) -> bool {
    let mut infinite = false;
    for (w, (vs, out)) in vals.chunks(64).zip(idx.chunks_mut(64)).enumerate() {
        let (ok, second) = (valid[w], key[w]);
        for (j, (&v, o)) in vs.iter().zip(out).enumerate() {
            let pair = pairs[((second >> j) & 1) as usize];
            *o |= outcome_code(v, (ok >> j) & 1 != 0, pair, miss) << shift;
            infinite |= v.is_infinite();
        }
    }
    infinite
}

/// The codes of 64 rows from their bit masks (poor held, good held, not NaN), ORed into `out`.
#[inline(always)]
fn or_word(p: u64, g: u64, not_nan: u64, valid: u64, miss: u16, shift: u32, out: &mut [u16]) {
    let has = valid & not_nan;
    let (m0, m1) = (
        0u64.wrapping_sub(u64::from(miss & 1)),
        0u64.wrapping_sub(u64::from(miss >> 1)),
    );
    // Bit 0: AVERAGE or (missing and miss is AVERAGE/IGNORED); bit 1: GOOD or IGNORED.
    let b0 = (has & !p & !g) | (!has & m0);
    let b1 = (has & !p & g) | (!has & m1);
    let lanes = |q: usize| {
        (EXPAND16[((b0 >> (4 * q)) & 15) as usize] | EXPAND16[((b1 >> (4 * q)) & 15) as usize] << 1)
            << shift
    };
    let q = out.len() / 4;
    let mut quads = out.chunks_exact_mut(4);
    for (q, o4) in (&mut quads).enumerate() {
        let e = lanes(q);
        let o4: &mut [u16; 4] = o4.try_into().expect("four lanes");
        *o4 = [
            o4[0] | e as u16,
            o4[1] | (e >> 16) as u16,
            o4[2] | (e >> 32) as u16,
            o4[3] | (e >> 48) as u16,
        ];
    }
    let rest = quads.into_remainder();
    if !rest.is_empty() {
        let e = lanes(q);
        for (j, o) in rest.iter_mut().enumerate() {
            *o |= (e >> (16 * j)) as u16;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{or_word, Pair};
    use std::arch::x86_64::*;

    /// Lane masks of four rows from four key bits.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(bits: u64, sel: __m256i) -> __m256d {
        let b = _mm256_and_si256(_mm256_set1_epi64x(bits as i64), sel);
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(b, sel))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn inside(v: __m256d, lo: __m256d, hi: __m256d) -> __m256d {
        _mm256_and_pd(
            _mm256_cmp_pd::<_CMP_LE_OQ>(lo, v),
            _mm256_cmp_pd::<_CMP_LE_OQ>(v, hi),
        )
    }

    /// `super::or_codes` with four values per comparison.
    #[target_feature(enable = "avx2")]
    pub(super) fn or_codes_avx2(
        vals: &[f64],
        valid: &[u64],
        key: &[u64],
        [(pa, ga), (pb, gb)]: [Pair; 2],
        miss: u16,
        shift: u32,
        idx: &mut [u16],
    ) -> bool {
        let sel = _mm256_set_epi64x(8, 4, 2, 1);
        let (sign, inf) = (_mm256_set1_pd(-0.0), _mm256_set1_pd(f64::INFINITY));
        let mut infinite = _mm256_setzero_pd();
        let splat = _mm256_set1_pd;
        let (pa_lo, pa_hi, ga_lo, ga_hi) = (splat(pa.lo), splat(pa.hi), splat(ga.lo), splat(ga.hi));
        let (pb_lo, pb_hi, gb_lo, gb_hi) = (splat(pb.lo), splat(pb.hi), splat(gb.lo), splat(gb.hi));
        for (w, (vs, out)) in vals.chunks(64).zip(idx.chunks_mut(64)).enumerate() {
            let k = key[w];
            let (mut p, mut g, mut n) = (0u64, 0u64, 0u64);
            let mut step = |q: usize, v4: &[f64]| {
                let v = _mm256_set_pd(v4[3], v4[2], v4[1], v4[0]);
                let second = lanes(k >> (4 * q), sel);
                let poor = inside(
                    v,
                    _mm256_blendv_pd(pa_lo, pb_lo, second),
                    _mm256_blendv_pd(pa_hi, pb_hi, second),
                );
                let good = inside(
                    v,
                    _mm256_blendv_pd(ga_lo, gb_lo, second),
                    _mm256_blendv_pd(ga_hi, gb_hi, second),
                );
                let ord = _mm256_cmp_pd::<_CMP_ORD_Q>(v, v);
                let abs = _mm256_andnot_pd(sign, v);
                infinite = _mm256_or_pd(infinite, _mm256_cmp_pd::<_CMP_EQ_OQ>(abs, inf));
                p |= (_mm256_movemask_pd(poor) as u64) << (4 * q);
                g |= (_mm256_movemask_pd(good) as u64) << (4 * q);
                n |= (_mm256_movemask_pd(ord) as u64) << (4 * q);
            };
            let mut quads = vs.chunks_exact(4);
            let mut q = 0;
            for v4 in &mut quads {
                step(q, v4);
                q += 1;
            }
            let rest = quads.remainder();
            if !rest.is_empty() {
                let mut v4 = [f64::NAN; 4];
                v4[..rest.len()].copy_from_slice(rest);
                step(q, &v4);
            }
            or_word(p, g, n, valid[w], miss, shift, out);
        }
        _mm256_movemask_pd(infinite) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 path (when the CPU has it) and the scalar path agree on every kind of value,
    /// interval, key and validity, for block lengths that are not multiples of 4 or 64.
    #[test]
    fn simd_and_scalar_codes_agree() {
        let inf = f64::INFINITY;
        let iv = |lo: f64, hi: f64| Interval { lo, hi };
        let pairs = [
            (iv(-inf, 19.99), iv(60.0, inf)),
            (iv(10.0, 30.0), iv(25.0, 50.0)),
        ];
        let specials = [
            f64::NAN,
            -0.0,
            0.0,
            19.99,
            20.0,
            25.0,
            30.0,
            60.0,
            1e300,
            -1e300,
        ];
        let infinities = [f64::INFINITY, f64::NEG_INFINITY];
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seed >> 33
        };
        for len in [1usize, 3, 4, 63, 64, 65, 130, 2048] {
            let vals: Vec<f64> = (0..len)
                .map(|_| match next() % 4 {
                    0 => specials[(next() % specials.len() as u64) as usize],
                    _ => (next() % 1000) as f64 / 10.0,
                })
                .collect();
            let mut vals = vals;
            if len % 3 == 0 {
                vals[len - 1] = infinities[len % 2];
            }
            let words = len.div_ceil(64);
            let valid: Vec<u64> = (0..words).map(|_| next() << 31 ^ next()).collect();
            let key: Vec<u64> = (0..words).map(|_| next() << 31 ^ next()).collect();
            for miss in [1u16, 3] {
                for shift in [0u32, 6] {
                    let mut a = vec![0u16; len];
                    let mut b = vec![0u16; len];
                    let inf_a = or_codes(&vals, &valid, &key, pairs, miss, shift, &mut a);
                    let inf_b = or_codes_scalar(&vals, &valid, &key, pairs, miss, shift, &mut b);
                    assert_eq!(a, b, "len {len} miss {miss} shift {shift}");
                    assert_eq!(inf_a, inf_b);
                    assert_eq!(inf_a, vals.iter().any(|v| v.is_infinite()));
                    for (k, &c) in b.iter().enumerate() {
                        let ok = (valid[k / 64] >> (k % 64)) & 1 != 0;
                        let pair = pairs[((key[k / 64] >> (k % 64)) & 1) as usize];
                        assert_eq!(c, outcome_code(vals[k], ok, pair, miss) << shift);
                    }
                }
            }
        }
    }
}

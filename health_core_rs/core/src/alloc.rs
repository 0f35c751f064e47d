//! Fallible allocation for every size that a caller's argument or a count read from the input
//! chooses. Rust aborts the process when an infallible allocation fails (`vec![x; n]`,
//! `Vec::resize`, `Vec::with_capacity`), and `catch_unwind` cannot stop an abort: such sizes go
//! through here and an impossible one becomes `Error::ResourceExhausted`.

use std::alloc::Layout;

use crate::error::{Error, Result};

fn exhausted<T>(what: &str, n: usize) -> Error {
    Error::ResourceExhausted(format!(
        "{what}: {n} values of {} bytes cannot be allocated",
        std::mem::size_of::<T>()
    ))
}

/// `v.resize(len, value)`, or an error when the memory for `len` values cannot be had.
pub fn try_resize<T: Clone>(v: &mut Vec<T>, what: &str, len: usize, value: T) -> Result<()> {
    if let Some(more) = len.checked_sub(v.len()).filter(|&m| m > 0) {
        v.try_reserve_exact(more)
            .map_err(|_| exhausted::<T>(what, len))?;
    }
    v.resize(len, value);
    Ok(())
}

/// `vec![value; n]`, or an error when the memory cannot be had.
pub fn try_filled<T: Clone>(what: &str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    try_resize(&mut v, what, n, value)?;
    Ok(v)
}

/// `v.reserve(additional)`, or an error when the memory cannot be had.
pub fn try_reserve<T>(v: &mut Vec<T>, what: &str, additional: usize) -> Result<()> {
    v.try_reserve(additional)
        .map_err(|_| exhausted::<T>(what, v.len().saturating_add(additional)))
}

/// `vec![0u64; n]` from the allocator's zeroed memory (pages untouched until written, as
/// `vec!` gives), or an error when the memory cannot be had.
pub fn try_zeroed_u64(what: &str, n: usize) -> Result<Vec<u64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<u64>(n).map_err(|_| exhausted::<u64>(what, n))?;
    // SAFETY: the layout's size is not zero (n > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<u64>();
    if ptr.is_null() {
        return Err(exhausted::<u64>(what, n));
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of exactly `n` u64 (size
    // and alignment), so capacity `n` matches; all `n` values are initialised (zero bits are a
    // valid u64).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        for n in [usize::MAX, usize::MAX / 8, 1 << 62, 1 << 48] {
            assert!(matches!(
                try_zeroed_u64("keys", n),
                Err(Error::ResourceExhausted(_))
            ));
            assert!(matches!(
                try_filled("values", n, 1.5f64),
                Err(Error::ResourceExhausted(_))
            ));
            let mut v = vec![1u8; 3];
            assert!(try_reserve(&mut v, "bytes", n).is_err());
            assert!(try_resize(&mut v, "bytes", n, 0).is_err());
            assert_eq!(v, [1, 1, 1], "a failed resize leaves the vector as it was");
        }
    }

    #[test]
    fn possible_sizes_are_what_vec_gives() {
        assert_eq!(try_zeroed_u64("keys", 5).unwrap(), vec![0u64; 5]);
        assert!(try_zeroed_u64("keys", 0).unwrap().is_empty());
        assert_eq!(try_filled("v", 3, 2u32).unwrap(), vec![2u32; 3]);
        let mut v = vec![1u8, 2, 3];
        try_resize(&mut v, "v", 1, 9).unwrap();
        assert_eq!(v, [1]);
        try_resize(&mut v, "v", 3, 9).unwrap();
        assert_eq!(v, [1, 9, 9]);
        try_reserve(&mut v, "v", 10).unwrap();
        assert!(v.capacity() >= 13);
    }
}

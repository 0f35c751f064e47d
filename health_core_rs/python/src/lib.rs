//! The PyO3 edge of health-core: the only Rust code that knows Python.
//!
//! Every call goes through `run_detached`, which releases the GIL, catches panics, and maps the
//! core's `Error` to this module's exceptions. Bulk data crosses once per batch, as protobuf bytes
//! or as Arrow C data interface capsules.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::ffi::{from_ffi, to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, StructArray};
use health_core::ir;
use health_core::{proto, Error};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyTuple};

create_exception!(
    _core,
    CoreError,
    PyException,
    "Base of every error the core raises."
);
create_exception!(
    _core,
    InvalidRulesetError,
    CoreError,
    "The ruleset does not validate."
);
create_exception!(
    _core,
    InvalidAccountsError,
    CoreError,
    "Account data that cannot be scored."
);
create_exception!(
    _core,
    MalformedInputError,
    CoreError,
    "Bytes or Arrow data of the wrong shape."
);
create_exception!(
    _core,
    ResourceExhaustedError,
    CoreError,
    "A size (an argument, or a count read from the input) whose memory cannot be had."
);
create_exception!(
    _core,
    CancelledError,
    CoreError,
    "The caller cancelled the work."
);
create_exception!(
    _core,
    DeadlineExceededError,
    CoreError,
    "The caller's deadline passed before the work was done."
);
create_exception!(
    _core,
    InternalError,
    CoreError,
    "A bug in the core (including a panic)."
);

/// The instants a `google.protobuf.Timestamp` can hold (seconds an i64, nanos below 1e9), in
/// nanoseconds: every time computation on them fits an i128.
const MIN_AS_OF: i128 = i64::MIN as i128 * 1_000_000_000;
const MAX_AS_OF: i128 = i64::MAX as i128 * 1_000_000_000 + 999_999_999;

const ARROW_SCHEMA: &std::ffi::CStr = c"arrow_schema";
const ARROW_ARRAY: &std::ffi::CStr = c"arrow_array";

/// Raised exceptions carry `(message, [(path, message), ...])`.
fn to_py_err(err: Error) -> PyErr {
    let violations: Vec<(String, String)> = err
        .violations()
        .iter()
        .map(|v| (v.path.clone(), v.message.clone()))
        .collect();
    let args = (err.to_string(), violations);
    match err {
        Error::InvalidRuleset(_) => InvalidRulesetError::new_err(args),
        Error::InvalidAccounts(_) => InvalidAccountsError::new_err(args),
        Error::Malformed(_) => MalformedInputError::new_err(args),
        Error::ResourceExhausted(_) => ResourceExhaustedError::new_err(args),
        Error::Cancelled => CancelledError::new_err(args),
        Error::DeadlineExceeded => DeadlineExceededError::new_err(args),
        Error::Internal(_) => InternalError::new_err(args),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// `bytes` holding `data`; a failed allocation is a Python `MemoryError`, never a panic
/// (`PyBytes::new` panics when Python cannot allocate).
fn py_bytes<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, data.len(), |buf| {
        buf.copy_from_slice(data);
        Ok(())
    })
}

fn malformed_arg(message: String) -> PyErr {
    to_py_err(Error::Malformed(message))
}

/// Runs `work` with the GIL released; a panic becomes an `InternalError`.
fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> health_core::Result<T> + Send,
{
    py.detach(|| match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => Err(Error::Internal(format!(
            "panic: {}",
            panic_message(&*payload)
        ))),
    })
    .map_err(to_py_err)
}

/// A validated, compiled ruleset: compile once, score many times. Immutable and thread-safe.
#[pyclass(frozen, module = "healthscore._core")]
struct CompiledRuleset {
    inner: Arc<ir::CompiledRuleset>,
}

#[pymethods]
impl CompiledRuleset {
    /// Non-fatal findings as (path, message) pairs.
    #[getter]
    fn warnings(&self) -> Vec<(String, String)> {
        self.inner
            .warnings
            .iter()
            .map(|v| (v.path.clone(), v.message.clone()))
            .collect()
    }

    /// The `Ruleset.version` label copied into results.
    #[getter]
    fn version(&self) -> String {
        self.inner.version.clone()
    }

    /// The health model, as the `HealthModel` enum number.
    #[getter]
    fn model(&self) -> i32 {
        match self.inner.model {
            ir::Model::AccountHealth => proto::HealthModel::AccountHealth as i32,
            ir::Model::Multidimensional => proto::HealthModel::Multidimensional as i32,
        }
    }

    /// Serialized ScoreAccountsRequest in, serialized ScoreAccountsResponse out; `cancel` stops
    /// the work early (CancelledError / DeadlineExceededError).
    #[pyo3(signature = (request, cancel=None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        request: &[u8],
        cancel: Option<&CancelToken>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let rules = Arc::clone(&self.inner);
        let cancel = cancel.map(|c| Arc::clone(&c.inner));
        let out = run_detached(py, move || {
            health_core::api::score_request_bytes_cancellable(
                &rules,
                request,
                health_core::pool::default_threads(),
                cancel.as_deref().unwrap_or(&health_core::cancel::NEVER),
            )
        })?;
        py_bytes(py, &out)
    }

    /// Scores an Arrow record batch given as C data interface capsules (the pair returned by
    /// `RecordBatch.__arrow_c_array__()`); returns the result batch as a capsule pair.
    #[pyo3(signature = (schema_capsule, array_capsule, as_of_unix_nanos, view, threads=None))]
    fn score_arrow<'py>(
        &self,
        py: Python<'py>,
        schema_capsule: &Bound<'py, PyCapsule>,
        array_capsule: &Bound<'py, PyCapsule>,
        as_of_unix_nanos: i128,
        view: i32,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if !(MIN_AS_OF..=MAX_AS_OF).contains(&as_of_unix_nanos) {
            return Err(malformed_arg(format!(
                "as_of_unix_nanos {as_of_unix_nanos} is outside what a Timestamp can hold"
            )));
        }
        let view = proto::ScoreView::try_from(view)
            .map_err(|_| malformed_arg(format!("unknown view {view}")))?;
        let batch = import_batch(schema_capsule, array_capsule)?;
        let rules = Arc::clone(&self.inner);
        let threads = threads.unwrap_or_else(health_core::pool::default_threads);
        let out = run_detached(py, move || {
            health_core::score_record_batch_with_threads(
                &rules,
                &batch,
                as_of_unix_nanos,
                view,
                threads,
            )
        })?;
        export_batch(py, out)
    }
}

/// Moves Arrow data out of C data interface capsules (zero-copy).
fn import_data(
    schema: &Bound<'_, PyCapsule>,
    array: &Bound<'_, PyCapsule>,
) -> PyResult<arrow_data::ArrayData> {
    let schema_ptr: NonNull<FFI_ArrowSchema> = schema.pointer_checked(Some(ARROW_SCHEMA))?.cast();
    let array_ptr: NonNull<FFI_ArrowArray> = array.pointer_checked(Some(ARROW_ARRAY))?.cast();
    // SAFETY: the capsules are named per the Arrow PyCapsule interface, so they point to valid
    // C structs; `from_raw` moves the array out and marks the original released, so the capsule's
    // destructor will not release it twice. The schema is only borrowed.
    let (ffi_array, ffi_schema) = unsafe {
        (
            FFI_ArrowArray::from_raw(array_ptr.as_ptr()),
            schema_ptr.as_ref(),
        )
    };
    // SAFETY: the array and schema come from the same producer call.
    unsafe { from_ffi(ffi_array, ffi_schema) }
        .map_err(|e| to_py_err(Error::Malformed(e.to_string())))
}

/// A record batch from C data interface capsules (zero-copy).
fn import_batch(
    schema: &Bound<'_, PyCapsule>,
    array: &Bound<'_, PyCapsule>,
) -> PyResult<RecordBatch> {
    let data = import_data(schema, array)?;
    let is_struct = matches!(data.data_type(), arrow_schema::DataType::Struct(_));
    if !is_struct {
        return Err(to_py_err(Error::Malformed(
            "expected a record batch (a struct array)".into(),
        )));
    }
    Ok(RecordBatch::from(StructArray::from(data)))
}

/// Hands a record batch to Python as an (arrow_schema, arrow_array) capsule pair.
fn export_batch(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyTuple>> {
    let data = StructArray::from(batch).into_data();
    let (ffi_array, ffi_schema) =
        to_ffi(&data).map_err(|e| to_py_err(Error::Internal(e.to_string())))?;
    let schema = PyCapsule::new_with_value(py, ffi_schema, ARROW_SCHEMA)?;
    let array = PyCapsule::new_with_value(py, ffi_array, ARROW_ARRAY)?;
    PyTuple::new(py, [schema.into_any(), array.into_any()])
}

/// Lets a caller stop a scoring call: `cancel()` from any thread, or a deadline given at
/// creation (seconds from now).
#[pyclass(frozen, module = "healthscore._core")]
struct CancelToken {
    inner: Arc<health_core::cancel::Cancel>,
}

#[pymethods]
impl CancelToken {
    #[new]
    #[pyo3(signature = (timeout_seconds=None))]
    fn new(timeout_seconds: Option<f64>) -> PyResult<Self> {
        // Negative: already expired; infinite or past the clock's range: none; NaN: refused.
        let cancel = health_core::cancel::Cancel::with_timeout_seconds(timeout_seconds)
            .map_err(to_py_err)?;
        Ok(Self {
            inner: Arc::new(cancel),
        })
    }

    /// Asks the call using this token to stop at its next check.
    fn cancel(&self) {
        self.inner.cancel();
    }
}

/// The 64-bit hash of every id of a string array (capsules of `Array.__arrow_c_array__()`), as
/// little-endian u64 bytes; nulls hash like "", no hash is 0.
#[pyfunction]
fn id_hashes<'py>(
    py: Python<'py>,
    schema_capsule: &Bound<'py, PyCapsule>,
    array_capsule: &Bound<'py, PyCapsule>,
) -> PyResult<Bound<'py, PyBytes>> {
    let ids = arrow_array::make_array(import_data(schema_capsule, array_capsule)?);
    let hashes = run_detached(py, move || health_core::idset::hash_ids(ids.as_ref()))?;
    PyBytes::new_with(py, hashes.len() * 8, |buf| {
        for (out, h) in buf.chunks_exact_mut(8).zip(&hashes) {
            out.copy_from_slice(&h.to_le_bytes());
        }
        Ok(())
    })
}

/// A set of 64-bit id hashes (`health_core::idset::IdSet`).
#[pyclass(frozen, module = "healthscore._core")]
struct IdSet {
    inner: std::sync::Mutex<health_core::idset::IdSet>,
}

impl IdSet {
    fn locked(&self) -> std::sync::MutexGuard<'_, health_core::idset::IdSet> {
        // Inserting cannot leave the table inconsistent part-way (a panic would be a bug
        // before any write), so a poisoned lock's table is still sound.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl IdSet {
    /// `expected` is a hint (the set grows past it); one whose table cannot be had raises
    /// `ResourceExhaustedError`.
    #[new]
    #[pyo3(signature = (expected=0))]
    fn new(py: Python<'_>, expected: usize) -> PyResult<Self> {
        let set = run_detached(py, || health_core::idset::IdSet::with_capacity(expected))?;
        Ok(Self {
            inner: std::sync::Mutex::new(set),
        })
    }

    fn __len__(&self) -> usize {
        self.locked().len()
    }

    /// The table's size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.locked().nbytes()
    }

    /// Inserts the keys (little-endian u64 bytes); returns one byte per key, 1 where the key was
    /// in the set already.
    fn add<'py>(&self, py: Python<'py>, keys: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        if !keys.len().is_multiple_of(8) {
            return Err(to_py_err(Error::Malformed(format!(
                "keys: {} bytes is not a whole number of u64",
                keys.len()
            ))));
        }
        let found = run_detached(py, || {
            let mut words = Vec::new();
            health_core::alloc::try_reserve(&mut words, "keys", keys.len() / 8)?;
            words.extend(
                keys.chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())),
            );
            self.locked().insert_all(&words)
        })?;
        PyBytes::new_with(py, found.len(), |buf| {
            for (out, &f) in buf.iter_mut().zip(&found) {
                *out = u8::from(f);
            }
            Ok(())
        })
    }
}

/// Validates and compiles a serialized `Ruleset`.
#[pyfunction]
fn compile_ruleset(py: Python<'_>, ruleset: &[u8]) -> PyResult<CompiledRuleset> {
    let compiled = run_detached(py, || health_core::compile::compile_bytes(ruleset))?;
    Ok(CompiledRuleset {
        inner: Arc::new(compiled),
    })
}

/// Serialized RollUpEnterpriseHealthRequest in, serialized response out.
#[pyfunction]
fn roll_up_enterprise_health<'py>(
    py: Python<'py>,
    request: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let out = run_detached(py, || health_core::roll_up_enterprise_health_bytes(request))?;
    py_bytes(py, &out)
}

/// The scoring options of a serialized `ScoreAccountsRequest`, read past its accounts without
/// decoding them: `(ruleset, include_other_model, other_model_ruleset, account_count)`.
#[pyfunction]
fn request_options(py: Python<'_>, request: &[u8]) -> PyResult<(String, bool, String, usize)> {
    let o = run_detached(py, || health_core::envelope::request_options(request))?;
    Ok((
        o.ruleset,
        o.include_other_model,
        o.other_model_ruleset,
        o.account_count,
    ))
}

/// A serialized `ScoreAccountsResponse` with its `results` moved to field number `field`.
#[pyfunction]
fn retag_results<'py>(
    py: Python<'py>,
    response: &[u8],
    field: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = run_detached(py, || health_core::envelope::retag_results(response, field))?;
    py_bytes(py, &out)
}

/// Panics inside the core, to prove a panic surfaces as `InternalError` (used by tests).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    run_detached(py, || -> health_core::Result<()> {
        panic!("deliberate test panic")
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    m.add("CoreError", py.get_type::<CoreError>())?;
    m.add("InvalidRulesetError", py.get_type::<InvalidRulesetError>())?;
    m.add(
        "InvalidAccountsError",
        py.get_type::<InvalidAccountsError>(),
    )?;
    m.add("MalformedInputError", py.get_type::<MalformedInputError>())?;
    m.add(
        "ResourceExhaustedError",
        py.get_type::<ResourceExhaustedError>(),
    )?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add(
        "DeadlineExceededError",
        py.get_type::<DeadlineExceededError>(),
    )?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add_class::<CancelToken>()?;
    m.add_class::<CompiledRuleset>()?;
    m.add_class::<IdSet>()?;
    m.add_function(wrap_pyfunction!(id_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(compile_ruleset, m)?)?;
    m.add_function(wrap_pyfunction!(roll_up_enterprise_health, m)?)?;
    m.add_function(wrap_pyfunction!(request_options, m)?)?;
    m.add_function(wrap_pyfunction!(retag_results, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}

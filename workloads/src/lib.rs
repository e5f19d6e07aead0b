//! # faultline-workloads
//!
//! A workload is what the clients do during a test and how the result is judged: an operation
//! [`Generator`], the capability it needs from a datastore's client (a trait such as
//! [`register::RegisterClient`], which each datastore under `src/db/` implements), and the
//! checkers that decide the verdict. No networking lives here: the harness hands a workload a
//! [`Client`] the datastore built, the workload hands back completions.
//!
//! [`WORKLOADS`] is the registry: a new workload is one module here and one line there.

pub mod bank;
pub mod composed;
pub mod counter;
pub mod generator;
pub mod invocation;
pub mod list_append;
pub mod register;
pub mod rw_register;
pub mod set;
pub mod txn;
pub mod unique_ids;
pub mod workload;

pub use faultline_checkers as checkers;
pub use invocation::{ClientError, Completion, Invocation};
pub use workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};

/// Every workload `faultline test --workload` can run.
pub const WORKLOADS: &[WorkloadSpec] = &[
    register::SPEC,
    set::SPEC,
    counter::SPEC,
    unique_ids::SPEC,
    bank::SPEC,
    list_append::SPEC,
    rw_register::SPEC,
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static WorkloadSpec> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// The workloads `--workload` names: one (`register`) or several at once, comma-separated
/// (`register,counter`; `+` also separates them, as in the test's name `register+counter`).
pub fn find_list(text: &str) -> Result<Vec<&'static WorkloadSpec>, String> {
    text.split([',', '+'])
        .map(str::trim)
        .map(|name| {
            find(name).ok_or_else(|| {
                format!(
                    "--workload {text}: no such workload {name:?} (known: {})",
                    names().join(", ")
                )
            })
        })
        .collect()
}

/// The names of every workload, for messages.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}

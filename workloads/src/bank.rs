//! The bank workload (Jepsen's `bank`): accounts hold money; clients transfer random amounts
//! between two accounts inside a transaction and read every balance in one snapshot. Judged by
//! the bank checker: every read keeps the bank's total, shows every account, and (by default)
//! no balance below zero.
//!
//! The accounts are created on first use by whichever client comes first: the first account
//! holds the whole total, the others nothing, as in Jepsen. Creating them is the client's job
//! (atomically, only when absent), so that the run needs no set-up phase of its own.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use faultline_checkers::bank::{self, BankOptions};
use faultline_checkers::history::{read_history, Format, ReadOptions, Value};
use faultline_checkers::Verdict;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::generator::{Mix, Rng};
use crate::workload::{
    BoxFuture, CheckFailure, CheckLimits, Client, FinalNodes, FinalReads, Generator, Observation,
    Workload, WorkloadOptions, WorkloadSpec,
};
use crate::{ClientError, Completion, Invocation};

/// The bank workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "bank",
    about: "transfer between accounts in transactions, read all balances; the total must hold",
    build: |options| Ok(Box::new(BankWorkload::new(options)?)),
};

/// The operations, in `--mix` order.
pub const OPERATIONS: &[&str] = &["transfer", "read"];

/// Jepsen's defaults: 8 accounts, 100 in the bank, transfers of 1 to 5.
pub const ACCOUNTS: i64 = 8;
pub const TOTAL: i64 = 100;
pub const MAX_TRANSFER: u64 = 5;

/// Why a transfer did not happen although the datastore worked: the source account holds less
/// than the amount. A client returns it as a definite error; it is a `fail`, not a fault.
pub const INSUFFICIENT_FUNDS: &str = "insufficient funds";

/// What the bank workload needs from a datastore's client.
pub trait BankClient: Send + Sync {
    /// Creates the accounts `0..accounts` with `total` in account 0 and nothing in the others,
    /// atomically and only if they do not exist yet (every client calls it once).
    fn open(
        &self,
        accounts: i64,
        total: i64,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Moves `amount` from `from` to `to` in one transaction; refuses (definite,
    /// [`INSUFFICIENT_FUNDS`]) when `from` holds less.
    fn transfer(
        &self,
        from: i64,
        to: i64,
        amount: i64,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
    /// Every account's balance, read in one snapshot, by account.
    fn read(&self) -> impl Future<Output = Result<Vec<(i64, i64)>, ClientError>> + Send;
}

/// A datastore's bank client as the run's [`Client`].
pub fn client<C: BankClient + 'static>(c: C) -> Box<dyn Client> {
    Box::new(Banks {
        client: c,
        opened: AtomicBool::new(false),
    })
}

struct Banks<C> {
    client: C,
    /// Whether this client has opened the accounts (a client serves one worker, one operation
    /// at a time).
    opened: AtomicBool,
}

impl<C: BankClient> Client for Banks<C> {
    fn invoke<'a>(&'a self, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            // Opening creates nothing when the accounts exist, so its failure (definite or not)
            // changes no balance: the operation did not happen.
            if !self.opened.load(Ordering::Acquire) {
                if let Err(e) = self.client.open(ACCOUNTS, TOTAL).await {
                    return Completion::Fail(format!("opening the accounts: {e}"));
                }
                self.opened.store(true, Ordering::Release);
            }
            invoke(&self.client, op).await
        })
    }
}

/// The bank workload with its options.
#[derive(Debug, Clone)]
pub struct BankWorkload {
    mix: Mix,
    seed: u64,
}

impl BankWorkload {
    pub fn new(options: &WorkloadOptions) -> Result<BankWorkload, String> {
        let mix = match &options.mix {
            Some(text) => Mix::parse(OPERATIONS, text)?,
            None => Mix::new(OPERATIONS, &[1, 1])?,
        };
        if mix.weight("transfer") == 0 || mix.weight("read") == 0 {
            return Err(
                "--mix: the bank workload needs transfers and reads (TRANSFER,READ both > 0)"
                    .into(),
            );
        }
        Ok(BankWorkload {
            mix,
            seed: options.seed,
        })
    }

    fn options() -> BankOptions {
        BankOptions {
            accounts: Some((0..ACCOUNTS).map(|a| a.to_string()).collect()),
            total: Some(TOTAL),
            negative_balances: false,
        }
    }
}

impl Workload for BankWorkload {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(BankGenerator {
            mix: self.mix.clone(),
            rng: Rng::new(self.seed),
        })
    }

    fn observation(&self) -> Observation {
        Observation {
            observe: &["read"],
            change: &["transfer"],
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "checker": bank::CHECKER,
            "mix": self.mix.text(),
            "accounts": ACCOUNTS,
            "total": TOTAL,
            "max_transfer": MAX_TRANSFER,
            "negative_balances": false,
        })
    }

    fn check(&self, history: &Path, _limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let read = ReadOptions {
            format: Some(Format::Jsonl),
            ..Default::default()
        };
        let loaded = read_history(history, &read)
            .map_err(|e| CheckFailure(format!("{}: {e}", history.display())))?;
        Ok(vec![
            bank::check(&loaded.history, &Self::options()).to_verdict()
        ])
    }
}

/// Transfers between two distinct random accounts, and reads, by the mix.
#[derive(Debug, Clone)]
pub struct BankGenerator {
    mix: Mix,
    rng: Rng,
}

/// A transfer's value as the history records it: `{"from": 1, "to": 2, "amount": 3}`.
pub fn transfer_value(from: i64, to: i64, amount: i64) -> Value {
    Value::Map(Box::new([
        (Value::Str("from".into()), Value::Int(from)),
        (Value::Str("to".into()), Value::Int(to)),
        (Value::Str("amount".into()), Value::Int(amount)),
    ]))
}

impl Generator for BankGenerator {
    fn next(&mut self) -> Option<Invocation> {
        let (f, value) = match self.mix.pick(&mut self.rng) {
            "transfer" => {
                let from = self.rng.below(ACCOUNTS as u64) as i64;
                let to = (from + 1 + self.rng.below(ACCOUNTS as u64 - 1) as i64) % ACCOUNTS;
                let amount = 1 + self.rng.below(MAX_TRANSFER) as i64;
                ("transfer", transfer_value(from, to, amount))
            }
            _ => ("read", Value::Nil),
        };
        Some(Invocation {
            f: Arc::from(f),
            key: None,
            value,
        })
    }

    /// One read after healing: the balances the bank ends with.
    fn final_reads(&self) -> Vec<FinalReads> {
        vec![FinalReads {
            ops: vec![Invocation {
                f: Arc::from("read"),
                key: None,
                value: Value::Nil,
            }],
            on: FinalNodes::FirstAnswer,
            part: None,
        }]
    }
}

/// Performs `invocation`. A read's balances become a map from account to balance.
pub async fn invoke<C: BankClient>(client: &C, invocation: &Invocation) -> Completion {
    let v = &invocation.value;
    match &*invocation.f {
        "transfer" => {
            let field = |name| v.get(name).and_then(Value::as_int);
            let (Some(from), Some(to), Some(amount)) =
                (field("from"), field("to"), field("amount"))
            else {
                return Completion::Fail(format!("a transfer of {v}: from, to and amount needed"));
            };
            match client.transfer(from, to, amount).await {
                Ok(()) => Completion::Ok(v.clone()),
                Err(ClientError::Definite(why)) => Completion::Fail(why),
                Err(ClientError::Indefinite(why)) => Completion::Info(why),
            }
        }
        "read" => match client.read().await {
            Ok(balances) => Completion::Ok(Value::Map(
                balances
                    .into_iter()
                    .map(|(a, b)| (Value::Str(a.to_string().into()), Value::Int(b)))
                    .collect(),
            )),
            Err(e) => Completion::Fail(e.to_string()),
        },
        f => Completion::Fail(format!("the bank workload has no operation {f}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_move_one_to_five_between_two_different_accounts() {
        let w = BankWorkload::new(&WorkloadOptions::default()).unwrap();
        let mut g = w.generator();
        for op in (0..500).filter_map(|_| g.next()) {
            if &*op.f == "transfer" {
                let f = |n| op.value.get(n).and_then(Value::as_int).unwrap();
                assert_ne!(f("from"), f("to"));
                assert!((0..ACCOUNTS).contains(&f("from")) && (0..ACCOUNTS).contains(&f("to")));
                assert!((1..=MAX_TRANSFER as i64).contains(&f("amount")));
            }
        }
    }
}

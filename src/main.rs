//! faultline: a Jepsen-style tester for distributed datastores.

fn main() {
    println!("faultline");
}

//! Exit codes (DESIGN.md), shared by every subcommand.

pub const VALID: i32 = 0;
pub const INVALID: i32 = 1;
pub const UNKNOWN: i32 = 2;
/// The command line was wrong (sysexits EX_USAGE).
pub const USAGE: i32 = 64;
/// An input file was malformed (EX_DATAERR).
pub const BAD_INPUT: i32 = 65;
/// A node or service could not be reached (EX_UNAVAILABLE).
pub const UNAVAILABLE: i32 = 69;
/// faultline itself failed (EX_SOFTWARE).
pub const INTERNAL: i32 = 70;
/// An output file or directory could not be created: the store is not writable (EX_CANTCREAT).
pub const CANT_CREATE: i32 = 73;

pub mod nemesis_windows;
pub mod plots;

//! Test plans: `faultline test --plan plan.toml`, a TOML file of the same options as the
//! command line, so that a run can be kept, reviewed and rerun as a file.
//!
//! Each key is an option of `faultline test` by its flag name without the dashes
//! (`time-limit = 30`, `nemesis = ["partition-random-halves", "kill"]`, `stagger = true`,
//! `redis-min-replicas-to-write = 2`), and `[[phase]]` tables (`kind`, `time-limit`) list the
//! phases (see [`super::phases`]). A plan is turned into command-line arguments and parsed and
//! checked by exactly the code that checks the flags ([`super::plan::Plan::new`]): a plan can
//! say nothing that the command line cannot, and nothing escapes the checks. An option given
//! on the command line wins over the plan's.
//!
//! Every mistake is a usage error (exit 64) that names the file and the line of the key: an
//! unknown key, a value of the wrong kind, a value the option refuses.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::plan::Usage;

/// Options whose one value is a comma-separated list of names (`--workload register,counter`):
/// a plan may give them as an array, `workload = ["register", "counter"]`.
const COMMA_LISTS: &[&str] = &["workload"];

/// One option of a plan: where it is, and the arguments it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanArg {
    /// The key as written (`time-limit`), or `phase` for the `[[phase]]` tables.
    pub key: String,
    /// The clap id of the option (`time_limit`).
    pub id: String,
    /// 1-based line of the key in the file.
    pub line: usize,
    /// `["--time-limit", "30"]`.
    pub args: Vec<String>,
}

/// The options a plan file gives, in the order of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanArgs {
    pub file: PathBuf,
    pub entries: Vec<PlanArg>,
}

impl PlanArgs {
    /// The arguments for `faultline test`, leaving out the options in `given` (clap ids of
    /// options given on the command line, which win).
    pub fn argv(&self, given: &HashSet<String>) -> Vec<OsString> {
        self.entries
            .iter()
            .filter(|e| !given.contains(&e.id))
            .flat_map(|e| e.args.iter().map(OsString::from))
            .collect()
    }

    /// `plan.toml line 4 (rate): ` for the entry whose flag a usage message names (the longest
    /// match, so `--nemesis-interval` is not taken for `--nemesis`), else `plan.toml: `.
    pub fn locate(&self, message: &str) -> String {
        let named = self
            .entries
            .iter()
            .filter(|e| e.args.first().is_some_and(|flag| names_flag(message, flag)))
            .max_by_key(|e| e.args[0].len());
        match named {
            Some(e) => format!("{} line {} ({}): ", self.file.display(), e.line, e.key),
            None => format!("{}: ", self.file.display()),
        }
    }
}

/// Whether `message` names `flag` as a whole word (`--rate`, not the start of `--rate-x`).
fn names_flag(message: &str, flag: &str) -> bool {
    message.match_indices(flag).any(|(at, _)| {
        !message[at + flag.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Reads a test plan: its top-level keys are options of `faultline test`, its `[[phase]]`
/// tables the phases.
pub fn read_test_plan(path: &Path) -> Result<PlanArgs, Usage> {
    let text = read(path)?;
    let table = parse(path, &text)?;
    let entries = table_args(path, &text, table.get_ref(), &[])?;
    Ok(PlanArgs {
        file: path.to_owned(),
        entries,
    })
}

/// Reads a TOML file, naming it on failure.
pub fn read(path: &Path) -> Result<String, Usage> {
    std::fs::read_to_string(path).map_err(|e| Usage(format!("{}: {e}", path.display())))
}

/// Parses TOML, keeping where each key is; a syntax error names the file and line.
pub fn parse<'i>(path: &Path, text: &'i str) -> Result<Spanned<DeTable<'i>>, Usage> {
    DeTable::parse(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!(" line {}", line_of(text, s.start)))
            .unwrap_or_default();
        Usage(format!(
            "{}{at}: not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The options of one table of a plan (`skip`: keys the caller reads itself, such as a
/// matrix's own tables). Each value is checked against its option at once, alone, so that a
/// value clap refuses is blamed on its line.
pub fn table_args(
    path: &Path,
    text: &str,
    table: &DeTable<'_>,
    skip: &[&str],
) -> Result<Vec<PlanArg>, Usage> {
    let command = crate::cli::command();
    let test = command
        .find_subcommand("test")
        .ok_or_else(|| Usage("faultline has no test command".into()))?;
    let mut entries = Vec::new();
    let mut phases_key: Option<usize> = None;
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        if skip.contains(&name) {
            continue;
        }
        let line = line_of(text, key.span().start);
        let at = |what: String| Usage(format!("{} line {line} ({name}): {what}", path.display()));
        if name == "phase" {
            entries.push(PlanArg {
                key: name.to_string(),
                id: "phases".into(),
                line,
                args: vec![
                    "--phases".into(),
                    phase_tables(value.get_ref(), text, path)?,
                ],
            });
            phases_key = phases_key.or(Some(line));
            continue;
        }
        let arg = test
            .get_arguments()
            .find(|a| a.get_long() == Some(name))
            .filter(|_| !matches!(name, "plan" | "help"))
            .ok_or_else(|| {
                at(format!(
                    "`{name}` is not an option of faultline test (see faultline test --help; \
                     options go by their flag name without the dashes)"
                ))
            })?;
        let flag = format!("--{name}");
        let args = match arg.get_action() {
            ArgAction::SetTrue => match value.get_ref() {
                DeValue::Boolean(true) => vec![flag],
                DeValue::Boolean(false) => Vec::new(),
                other => {
                    return Err(at(format!(
                        "a switch: true or false, not {}",
                        other.type_str()
                    )))
                }
            },
            action => {
                let values: Vec<String> = match value.get_ref() {
                    DeValue::Array(items) if COMMA_LISTS.contains(&name) => {
                        let names = items
                            .iter()
                            .map(|v| scalar(v.get_ref()).map_err(&at))
                            .collect::<Result<Vec<_>, _>>()?;
                        vec![names.join(",")]
                    }
                    DeValue::Array(items) => {
                        if arg.get_value_delimiter().is_none()
                            && !matches!(action, ArgAction::Append)
                        {
                            return Err(at("takes one value, not an array".into()));
                        }
                        items
                            .iter()
                            .map(|v| scalar(v.get_ref()).map_err(&at))
                            .collect::<Result<_, _>>()?
                    }
                    other => vec![scalar(other).map_err(&at)?],
                };
                match arg.get_value_delimiter() {
                    Some(d) => vec![flag, values.join(&d.to_string())],
                    None => values.into_iter().flat_map(|v| [flag.clone(), v]).collect(),
                }
            }
        };
        // The value alone, through the same parser as the command line.
        let mut argv = vec!["faultline".to_string(), "test".to_string()];
        argv.extend(args.iter().cloned());
        if let Err(e) = crate::cli::command().try_get_matches_from(&argv) {
            return Err(at(clap_message(&e)));
        }
        if name == "phases" {
            phases_key = phases_key.or(Some(line));
        }
        entries.push(PlanArg {
            key: name.to_string(),
            id: arg.get_id().to_string(),
            line,
            args,
        });
    }
    entries.sort_by_key(|e| e.line);
    if entries.iter().filter(|e| e.id == "phases").count() > 1 {
        return Err(Usage(format!(
            "{} line {}: `phases` and `[[phase]]` tables both give the phases: keep one",
            path.display(),
            phases_key.unwrap_or(1)
        )));
    }
    Ok(entries)
}

/// A scalar TOML value as command-line text.
fn scalar(value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(|n| n.to_string())
            .map_err(|e| format!("{}: {e}", i.as_str())),
        DeValue::Float(f) => Ok(f.as_str().to_string()),
        DeValue::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("a string or a number, not {}", other.type_str())),
    }
}

/// `[[phase]]` tables as `--phases` text: `kind = "warm-up"`, `time-limit = 10` (seconds).
fn phase_tables(value: &DeValue<'_>, text: &str, path: &Path) -> Result<String, Usage> {
    let DeValue::Array(tables) = value else {
        return Err(Usage(format!(
            "{}: `phase` is a list of [[phase]] tables",
            path.display()
        )));
    };
    let mut parts = Vec::new();
    for table in tables.iter() {
        let line = line_of(text, table.span().start);
        let at = |what: String| {
            Usage(format!(
                "{} line {line} ([[phase]]): {what}",
                path.display()
            ))
        };
        let DeValue::Table(t) = table.get_ref() else {
            return Err(at("each phase is a table".into()));
        };
        let mut kind = None;
        let mut limit = None;
        for (k, v) in t.iter() {
            match (k.get_ref().as_ref(), v.get_ref()) {
                ("kind", DeValue::String(s)) => kind = Some(s.to_string()),
                ("time-limit", DeValue::Integer(_) | DeValue::Float(_)) => {
                    limit = Some(scalar(v.get_ref()).map_err(&at)?)
                }
                ("kind" | "time-limit", other) => {
                    return Err(at(format!(
                        "`{}` cannot be {}",
                        k.get_ref(),
                        other.type_str()
                    )))
                }
                (other, _) => {
                    return Err(at(format!(
                        "a phase has `kind` and `time-limit` (seconds), not `{other}`"
                    )))
                }
            }
        }
        let kind = kind.ok_or_else(|| at("a phase needs a `kind`".into()))?;
        parts.push(match limit {
            Some(l) => format!("{kind}:{l}"),
            None => kind,
        });
    }
    Ok(parts.join(","))
}

/// The first line of a clap error, without its `error: ` prefix.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The clap ids of the options given on a command line (not defaulted).
pub fn given(matches: &ArgMatches) -> HashSet<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

/// `faultline test --plan FILE ...`: the options of the plan, those of the command line
/// winning, parsed into one `TestArgs`. `matches` are the test command's, `rest` its arguments
/// as given (after `test`). Every error names the plan file and, where it can, the line.
pub fn apply(
    plan: &Path,
    matches: &ArgMatches,
    rest: Vec<OsString>,
) -> Result<crate::cli::TestArgs, Usage> {
    use clap::FromArgMatches;
    let file = read_test_plan(plan)?;
    let mut argv: Vec<OsString> = vec!["faultline".into(), "test".into()];
    argv.extend(file.argv(&given(matches)));
    argv.extend(rest);
    let m = crate::cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| {
            Usage(format!(
                "{}{}",
                file.locate(&clap_message(&e)),
                clap_message(&e)
            ))
        })?;
    let args = match crate::cli::Cli::from_arg_matches(&m)
        .map_err(|e| Usage(clap_message(&e)))?
        .command
    {
        crate::cli::Command::Test(a) => *a,
        _ => return Err(Usage("not a test command".into())),
    };
    super::plan::Plan::new(&args).map_err(|e| Usage(format!("{}{}", file.locate(&e.0), e.0)))?;
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<PlanArgs, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, text).unwrap();
        read_test_plan(&path).map_err(|e| e.0)
    }

    fn args_of(p: &PlanArgs) -> Vec<String> {
        p.argv(&HashSet::new())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn a_plan_is_the_command_line_options_by_name() {
        let p = plan(
            r#"
db = "redis"
workload = "set"
nemesis = ["partition-random-halves", "kill"]
time-limit = 30
rate = 12.5
stagger = true
set-linearizable = false
seed = 0x10

[[phase]]
kind = "warm-up"
time-limit = 5
[[phase]]
kind = "faults"
[[phase]]
kind = "recovery"
time-limit = 20
"#,
        )
        .unwrap();
        let a = args_of(&p);
        for pair in [
            &["--db", "redis"][..],
            &["--nemesis", "partition-random-halves,kill"],
            &["--time-limit", "30"],
            &["--rate", "12.5"],
            &["--seed", "16"],
            &["--phases", "warm-up:5,faults,recovery:20"],
        ] {
            assert!(a.windows(2).any(|w| w == pair), "{pair:?} not in {a:?}");
        }
        assert!(a.contains(&"--stagger".to_string()));
        assert!(!a.iter().any(|x| x == "--set-linearizable"));
        let rate = p.entries.iter().find(|e| e.key == "rate").unwrap();
        assert_eq!(rate.line, 6);
    }

    #[test]
    fn a_plan_may_list_several_workloads() {
        let p = plan("db = \"etcd\"\nworkload = [\"register\", \"counter\"]\n").unwrap();
        let a = args_of(&p);
        assert!(
            a.windows(2)
                .any(|w| w == ["--workload", "register,counter"]),
            "{a:?}"
        );
    }

    #[test]
    fn options_given_on_the_command_line_win() {
        let p = plan("rate = 5\ntime-limit = 9\n").unwrap();
        let given: HashSet<String> = ["rate".to_string()].into();
        let a: Vec<String> = p
            .argv(&given)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(a, vec!["--time-limit", "9"]);
    }

    #[test]
    fn a_flag_overrides_a_plan_value_that_would_be_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, "local-cluster = 3\nrate = 1e-300\ntime-limit = 7\n").unwrap();
        let argv = ["faultline", "test", "--plan", "x", "--rate", "50"];
        let m = crate::cli::command().try_get_matches_from(argv).unwrap();
        let rest = argv[2..].iter().map(OsString::from).collect();
        let args = apply(&path, m.subcommand_matches("test").unwrap(), rest).unwrap();
        assert_eq!(args.rate, 50.0);
        assert_eq!(args.time_limit, 7.0);
        // Without the flag, the plan's value is refused, naming its line.
        let m = crate::cli::command()
            .try_get_matches_from(["faultline", "test"])
            .unwrap();
        let e = apply(&path, m.subcommand_matches("test").unwrap(), Vec::new()).unwrap_err();
        assert!(
            e.0.contains("plan.toml line 2 (rate): --rate 0.000"),
            "{}",
            e.0
        );
    }

    #[test]
    fn a_bad_plan_names_the_file_and_the_line() {
        for (text, says) in [
            (
                "rate = 5\nspeed = 3\n",
                "plan.toml line 2 (speed): `speed` is not an option",
            ),
            (
                "rate = \"fast\"\n",
                "plan.toml line 1 (rate): invalid value 'fast'",
            ),
            ("stagger = 1\n", "line 1 (stagger): a switch"),
            (
                "db = [\"etcd\", \"redis\"]\n",
                "line 1 (db): takes one value",
            ),
            ("rate = 5\nrate = 6\n", "plan.toml line 2: not valid TOML"),
            (
                "\n\n[[phase]]\ntime-limit = 3\n",
                "line 3 ([[phase]]): a phase needs a `kind`",
            ),
            ("[[phase]]\nkind = \"faults\"\nlength = 3\n", "not `length`"),
            (
                "phases = \"faults\"\n[[phase]]\nkind = \"faults\"\n",
                "keep one",
            ),
            ("plan = \"other.toml\"\n", "not an option"),
        ] {
            let e = plan(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_refused_value_is_blamed_on_its_key() {
        let p = plan("nemesis-interval = 5\nrate = 1e-300\n").unwrap();
        assert_eq!(
            p.locate("--rate 1e-300: operations per second"),
            format!("{} line 2 (rate): ", p.file.display())
        );
        assert_eq!(
            p.locate("--nemesis-interval inf: a number"),
            format!("{} line 1 (nemesis-interval): ", p.file.display())
        );
        assert_eq!(
            p.locate("etcd has no client for the set workload"),
            format!("{}: ", p.file.display())
        );
    }
}

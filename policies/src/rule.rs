//! Rules: their file format, and compiling them into something the engine
//! runs, with errors that name the file, the rule and the position.
//!
//! A rules file is TOML holding any number of `[[rule]]` tables:
//!
//! ```toml
//! [[rule]]
//! id = "structuring"
//! title = "拆分交易 Structuring"
//! severity = "high"
//! condition = "tx.currency == 'CNY' && tx.amount >= 49000.0 && tx.amount < 50000.0"
//! group_by = "tx.payer"
//! window = "24h"
//! threshold = { count = 3 }
//! notify = ["compliance-webhook"]
//! ```
//!
//! `condition` is a CEL expression over `tx` and `lists` ([`crate::context`]).
//! Without a `window` a rule fires on each transaction that meets the
//! condition. With one, the transactions that meet it are kept per
//! `group_by` key for `window`, and the rule fires when they reach the
//! `threshold`: a `count`, a `sum` of amounts, or a `round_trip` (a payment
//! answered by one from the payee back to the payer, in the same currency,
//! within `round_trip` basis points of the first amount).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cel::Program;
use cel::common::ast::{Expr, IdedExpr};
use serde::{Deserialize, Serialize};

use crate::context::{FIELDS, probe, tx_value};

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Low.
    Low,
    /// Medium (the default).
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a window must reach for its rule to fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// At least this many matching transactions in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// At least this total amount (currency units) in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// A payment answered within the window by one from its payee back to
    /// its payer, in the same currency, the amounts differing by at most
    /// this many basis points of the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_trip: Option<u64>,
}

/// A rule as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id: lowercase letters, digits and `-`.
    pub id: String,
    /// Short title for lists and notifications.
    #[serde(default)]
    pub title: String,
    /// What it catches, and why it matters.
    #[serde(default)]
    pub description: String,
    /// Severity.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// CEL condition, true for the transactions the rule is about.
    pub condition: toml::Spanned<String>,
    /// Sliding window, e.g. `10m`, `3h`, `24h`, `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<toml::Spanned<String>>,
    /// CEL expression giving the key transactions are counted under (and
    /// alerts grouped by); with no window, the default is the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<toml::Spanned<String>>,
    /// What the window must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// Matches of one key within this time of the alert's last join it
    /// instead of opening another (default: the window, else 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<toml::Spanned<String>>,
    /// Labels carried by its alerts.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Channels its alerts are sent to.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The chains (ids) whose transactions it sees; empty: every chain's,
    /// so a window spans them (a party paying on two chains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chains: Vec<String>,
    /// Whether it runs.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_severity() -> Severity {
    Severity::Medium
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// A rule that cannot be used, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: rule {}: {message}", file.display(), rule.as_deref().unwrap_or("(file)"))]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// The rule's id, when it got that far.
    pub rule: Option<String>,
    /// Line in the file, from 1.
    pub line: usize,
    /// Column in the line, from 1 (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// How a window counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// Each matching transaction.
    Each,
    /// At least this many in the window.
    Count(u64),
    /// At least this total amount in the window.
    Sum(f64),
    /// A reverse payment within this many basis points.
    RoundTrip(u64),
}

/// A rule ready to run.
#[derive(Debug, Clone)]
pub struct Rule {
    /// As written.
    pub spec: RuleSpec,
    /// The rule's text (its TOML table), kept with each version.
    pub text: String,
    /// Where it came from.
    pub source: PathBuf,
    /// The condition.
    pub condition: Arc<Program>,
    /// The group key.
    pub group_by: Option<Arc<Program>>,
    /// Window length, ms (0: none).
    pub window_ms: i64,
    /// Dedup interval, ms.
    pub dedup_ms: i64,
    /// When it fires.
    pub trigger: Trigger,
    /// The watchlists it reads.
    pub lists: BTreeSet<String>,
}

/// Parses `10m`, `3h`, `24h`, `7d`, `90s` into ms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration '{s}' has no unit (s, m, h or d)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("duration '{s}' does not start with a whole number"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("duration '{s}': unit '{unit}' is not s, m, h or d")),
    };
    if n <= 0 || n > 366 * 86_400_000 / unit_ms {
        return Err(format!(
            "duration '{s}' must be positive and at most a year"
        ));
    }
    Ok(n * unit_ms)
}

/// Line and column (from 1) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads every `*.toml` file of `dir` (sorted by name): the rules that
/// compile, and an error for each one that does not. A bad rule never stops
/// the others; two rules with one id are both refused.
pub fn load_dir(dir: &Path, known_lists: Option<&BTreeSet<String>>) -> (Vec<Rule>, Vec<RuleError>) {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            return (
                Vec::new(),
                vec![RuleError {
                    file: dir.to_path_buf(),
                    rule: None,
                    line: 1,
                    column: 1,
                    message: format!("cannot read the rules directory: {e}"),
                }],
            );
        }
    };
    files.sort();
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => {
                let (r, e) = parse_file(&f, &text, known_lists);
                rules.extend(r);
                errors.extend(e);
            }
            Err(e) => errors.push(RuleError {
                file: f,
                rule: None,
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    dedupe_ids(&mut rules, &mut errors);
    (rules, errors)
}

/// Refuses every rule whose id another rule also has.
pub fn dedupe_ids(rules: &mut Vec<Rule>, errors: &mut Vec<RuleError>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in rules.iter() {
        *seen.entry(r.spec.id.clone()).or_default() += 1;
    }
    rules.retain(|r| {
        if seen.get(&r.spec.id).copied().unwrap_or(0) > 1 {
            let (line, column) = std::fs::read_to_string(&r.source)
                .map(|t| line_col(&t, r.spec.condition.span().start))
                .unwrap_or((1, 1));
            errors.push(RuleError {
                file: r.source.clone(),
                rule: Some(r.spec.id.clone()),
                line,
                column,
                message: "another rule has the same id; ids must be unique".into(),
            });
            false
        } else {
            true
        }
    });
}

/// Parses one rules file's text.
pub fn parse_file(
    file: &Path,
    text: &str,
    known_lists: Option<&BTreeSet<String>>,
) -> (Vec<Rule>, Vec<RuleError>) {
    let err_at = |rule: Option<String>, offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        RuleError {
            file: file.to_path_buf(),
            rule,
            line,
            column,
            message,
        }
    };
    // A rule that does not fit the format is blanked out (its bytes
    // replaced by spaces, so offsets stay the file's) and the file read
    // again, so that one bad rule never hides the others.
    let sections = sections(text);
    let mut work = text.to_string();
    let mut errors = Vec::new();
    let parsed: RuleFile = loop {
        match toml::from_str::<RuleFile>(&work) {
            Ok(p) => break p,
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                let Some(&(a, b)) = sections.iter().find(|(a, b)| (*a..*b).contains(&offset))
                else {
                    errors.push(err_at(None, offset, e.message().trim().to_string()));
                    return (Vec::new(), errors);
                };
                let id = section_id(text.get(a..b).unwrap_or_default());
                errors.push(err_at(id, offset, e.message().trim().to_string()));
                let blank: String = work
                    .get(a..b)
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c == '\n' { c } else { ' ' })
                    .collect();
                work.replace_range(a..b, &blank);
            }
        }
    };
    let mut rules = Vec::new();
    for spec in parsed.rule {
        let at = spec.condition.span().start;
        let table_text = sections
            .iter()
            .find(|(a, b)| (*a..*b).contains(&at))
            .and_then(|&(a, b)| text.get(a..b))
            .unwrap_or_default()
            .trim_end()
            .to_string();
        match compile(spec, file, text, known_lists) {
            Ok(mut r) => {
                r.text = table_text;
                rules.push(r);
            }
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

/// The byte ranges of the file's `[[rule]]` sections, each from its header
/// to the next header (or the end).
fn sections(text: &str) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("[[rule]]") {
            starts.push(at);
        }
        at += line.len();
    }
    let mut out = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        out.push((s, starts.get(i + 1).copied().unwrap_or(text.len())));
    }
    out
}

/// The `id = "…"` of a section, if it has a readable one.
fn section_id(section: &str) -> Option<String> {
    section.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if k.trim() != "id" {
            return None;
        }
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// A rule's text on its own (as stored with each version), compiled.
pub fn parse_one(
    name: &Path,
    text: &str,
    known_lists: Option<&BTreeSet<String>>,
) -> Result<Rule, Vec<RuleError>> {
    let (mut rules, errors) = parse_file(name, text, known_lists);
    if !errors.is_empty() {
        return Err(errors);
    }
    match (rules.pop(), rules.is_empty()) {
        (Some(r), true) => Ok(r),
        _ => Err(vec![RuleError {
            file: name.to_path_buf(),
            rule: None,
            line: 1,
            column: 1,
            message: "expected exactly one [[rule]]".into(),
        }]),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Where expression character `chars` of a string value starting at byte
/// `value_start` of `text` is, as a byte offset of `text`.
fn offset_in_value(text: &str, value_start: usize, chars: usize) -> usize {
    let rest = text.get(value_start..).unwrap_or_default();
    let quote = if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let body = rest.get(quote..).unwrap_or_default();
    value_start
        + quote
        + body
            .char_indices()
            .nth(chars)
            .map_or(body.len(), |(i, _)| i)
}

/// Character offset in `source` of CEL line/column `(line, col)` (both
/// from 1).
fn cel_pos_to_chars(source: &str, line: isize, col: isize) -> usize {
    let line = usize::try_from(line.max(1) - 1).unwrap_or(0);
    let col = usize::try_from(col.max(1) - 1).unwrap_or(0);
    source
        .split('\n')
        .take(line)
        .map(|l| l.chars().count() + 1)
        .sum::<usize>()
        + col
}

fn compile(
    spec: RuleSpec,
    file: &Path,
    text: &str,
    known_lists: Option<&BTreeSet<String>>,
) -> Result<Rule, RuleError> {
    let id = spec.id.clone();
    let err = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        RuleError {
            file: file.to_path_buf(),
            rule: Some(id.clone()),
            line,
            column,
            message,
        }
    };
    if !valid_id(&spec.id) {
        return Err(err(
            spec.condition.span().start,
            format!(
                "id '{}' must be 1 to 64 lowercase letters, digits or '-'",
                spec.id
            ),
        ));
    }
    let (condition, lists) = compile_expr("condition", &spec.condition, text, known_lists)
        .map_err(|(o, m)| err(o, m))?;
    let group_by = match &spec.group_by {
        Some(g) => Some(
            compile_expr("group_by", g, text, known_lists)
                .map_err(|(o, m)| err(o, m))?
                .0,
        ),
        None => None,
    };
    // Types: the condition must give a bool and the key a string or a
    // number on a transaction with every field set.
    let probe_lists: BTreeSet<String> = lists.clone();
    // Decoded arguments are named by each contract's ABI: the probe's call
    // and events carry every one the rule names (as the strings they are).
    let mut names = arg_names(&condition);
    if let Some(g) = &group_by {
        names.extend(arg_names(g));
    }
    let probe = probe_with_args(&names);
    let result = evaluate(&condition, &probe_lists, &probe);
    match result {
        Ok(cel::Value::Bool(_)) => {}
        Ok(v) => {
            return Err(err(
                spec.condition.span().start,
                format!("condition: gives {}, not a bool", type_name(&v)),
            ));
        }
        Err(e) => {
            return Err(err(
                spec.condition.span().start,
                format!("condition: type error: {e}"),
            ));
        }
    }
    if let (Some(g), Some(gs)) = (&group_by, &spec.group_by) {
        match evaluate(g, &probe_lists, &probe) {
            Ok(cel::Value::String(_) | cel::Value::Int(_) | cel::Value::UInt(_)) => {}
            Ok(v) => {
                return Err(err(
                    gs.span().start,
                    format!("group_by: gives {}, not a string or an int", type_name(&v)),
                ));
            }
            Err(e) => return Err(err(gs.span().start, format!("group_by: type error: {e}"))),
        }
    }
    let window_ms = match &spec.window {
        Some(w) => parse_duration(w.get_ref()).map_err(|m| err(w.span().start, m))?,
        None => 0,
    };
    let trigger = match (&spec.threshold, window_ms) {
        (None, 0) => Trigger::Each,
        (None, _) => {
            return Err(err(
                spec.window.as_ref().map_or(0, |w| w.span().start),
                "a window needs a threshold (count, sum or round_trip)".into(),
            ));
        }
        (Some(_), 0) => {
            return Err(err(
                spec.condition.span().start,
                "a threshold needs a window".into(),
            ));
        }
        (Some(t), _) => {
            let at = spec.window.as_ref().map_or(0, |w| w.span().start);
            match (t.count, t.sum, t.round_trip) {
                (Some(n), None, None) if n >= 1 => Trigger::Count(n),
                (None, Some(s), None) if s > 0.0 && s.is_finite() => Trigger::Sum(s),
                (None, None, Some(bp)) if bp <= 10_000 => Trigger::RoundTrip(bp),
                _ => {
                    return Err(err(
                        at,
                        "threshold: give exactly one of count (≥ 1), sum (> 0) or round_trip (basis points, ≤ 10000)".into(),
                    ));
                }
            }
        }
    };
    let dedup_ms = match &spec.dedup {
        Some(d) => parse_duration(d.get_ref()).map_err(|m| err(d.span().start, m))?,
        None if window_ms > 0 => window_ms,
        None => 3_600_000,
    };
    Ok(Rule {
        text: String::new(),
        source: file.to_path_buf(),
        condition: Arc::new(condition),
        group_by: group_by.map(Arc::new),
        window_ms,
        dedup_ms,
        trigger,
        lists,
        spec,
    })
}

fn type_name(v: &cel::Value) -> &'static str {
    match v {
        cel::Value::List(_) => "a list",
        cel::Value::Map(_) => "a map",
        cel::Value::Function(..) => "a function",
        cel::Value::Int(_) => "an int",
        cel::Value::UInt(_) => "a uint",
        cel::Value::Float(_) => "a double",
        cel::Value::String(_) => "a string",
        cel::Value::Bytes(_) => "bytes",
        cel::Value::Bool(_) => "a bool",
        cel::Value::Null => "null",
        _ => "another type",
    }
}

/// The argument names an expression reads as `….args.NAME`.
fn arg_names(p: &Program) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    walk(p.expression(), &mut |node| {
        if let Expr::Select(s) = &node.expr
            && let Expr::Select(inner) = &s.operand.expr
            && inner.field == "args"
        {
            names.insert(s.field.clone());
        }
    });
    names
}

/// The probe transaction, its decoded call and events carrying an argument
/// of each of `names` (a string, as every argument is).
fn probe_with_args(names: &BTreeSet<String>) -> records::TxDoc {
    let mut d = probe();
    let add = |x: &mut records::decode::Decoded| {
        for n in names {
            if x.arg(n).is_none() {
                x.args.push(records::decode::DecodedArg {
                    name: n.clone(),
                    ty: "string".into(),
                    value: abi::Value::String("0".into()),
                    indexed: false,
                });
            }
        }
    };
    if let Some(c) = d.call.as_mut() {
        add(c);
    }
    d.events.iter_mut().for_each(add);
    d
}

fn evaluate(
    p: &Program,
    lists: &BTreeSet<String>,
    probe: &records::TxDoc,
) -> Result<cel::Value, cel::ExecutionError> {
    let mut ctx = cel::Context::default();
    ctx.add_variable_from_value("tx", tx_value(probe));
    let empty: std::collections::HashMap<String, cel::Value> = lists
        .iter()
        .map(|l| {
            (
                l.clone(),
                cel::Value::from(std::collections::HashMap::<String, cel::Value>::new()),
            )
        })
        .collect();
    ctx.add_variable_from_value("lists", empty);
    p.execute(&ctx)
}

/// Compiles one expression; checks its variables, `tx` fields and
/// watchlists. Returns the program and the lists it reads, or the byte
/// offset in `text` and the message.
fn compile_expr(
    what: &str,
    expr: &toml::Spanned<String>,
    text: &str,
    known_lists: Option<&BTreeSet<String>>,
) -> Result<(Program, BTreeSet<String>), (usize, String)> {
    let source = expr.get_ref();
    let start = expr.span().start;
    let program = Program::compile(source).map_err(|e| {
        let first = e.errors.first();
        let chars = first.map_or(0, |f| cel_pos_to_chars(source, f.pos.0, f.pos.1));
        let msg = first.map_or_else(|| e.to_string(), |f| f.msg.clone());
        (
            offset_in_value(text, start, chars),
            format!("{what}: syntax error: {msg}"),
        )
    })?;
    // Variables a macro binds (`tx.events.exists(e, ...)`) are the
    // expression's own.
    let mut bound: BTreeSet<String> = BTreeSet::new();
    walk(program.expression(), &mut |node| {
        if let Expr::Comprehension(c) = &node.expr {
            bound.insert(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.insert(c.accu_var.clone());
        }
    });
    for v in program.references().variables() {
        if v != "tx" && v != "lists" && !bound.contains(v) {
            return Err((
                start,
                format!("{what}: unknown variable '{v}' (there are tx and lists)"),
            ));
        }
    }
    let mut problems = Vec::new();
    let mut lists = BTreeSet::new();
    walk(program.expression(), &mut |node| {
        if let Expr::Select(s) = &node.expr
            && let Expr::Ident(var) = &s.operand.expr
        {
            if var == "tx" && !FIELDS.iter().any(|(f, _)| *f == s.field) {
                problems.push((node.id, format!("{what}: unknown field tx.{}", s.field)));
            }
            if var == "lists" {
                if let Some(known) = known_lists
                    && !known.contains(&s.field)
                {
                    problems.push((
                        node.id,
                        format!(
                            "{what}: unknown watchlist lists.{} (loaded: {})",
                            s.field,
                            known.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                lists.insert(s.field.clone());
            }
        }
    });
    if let Some((id, msg)) = problems.into_iter().next() {
        // The selected field's name follows the node's start.
        let chars = program
            .source_info()
            .offset_for(id)
            .map_or(0, |(s, _)| s as usize);
        return Err((offset_in_value(text, start, chars), msg));
    }
    Ok((program, lists))
}

fn walk(e: &IdedExpr, f: &mut impl FnMut(&IdedExpr)) {
    f(e);
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(t, f);
            }
            for a in &c.args {
                walk(a, f);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, f);
            walk(&c.accu_init, f);
            walk(&c.loop_cond, f);
            walk(&c.loop_step, f);
            walk(&c.result, f);
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(x, f);
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                    walk(&me.key, f);
                    walk(&me.value, f);
                }
            }
        }
        Expr::Select(s) => walk(&s.operand, f),
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let cel::common::ast::EntryExpr::StructField(sf) = &entry.expr {
                    walk(&sf.value, f);
                }
            }
        }
        _ => {}
    }
}

/// The built-in supervision rules, compiled into the binary.
pub const BUILTIN: &str = include_str!("builtin.toml");

/// The built-in rules.
pub fn builtin() -> Vec<Rule> {
    let (rules, errors) = parse_file(Path::new("(built-in)"), BUILTIN, None);
    debug_assert!(errors.is_empty(), "{errors:?}");
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[rule]]
id = "big"
condition = "tx.amount != null && tx.amount > 10.0"
"#;

    fn errors_of(text: &str) -> (Vec<String>, Vec<RuleError>) {
        let lists: BTreeSet<String> = ["sanctions".to_string()].into();
        let (rules, errors) = parse_file(Path::new("r.toml"), text, Some(&lists));
        (rules.into_iter().map(|r| r.spec.id).collect(), errors)
    }

    #[test]
    fn rules_on_decoded_calls_are_checked_like_the_others() {
        let rule = |condition: &str| format!("[[rule]]\nid = \"r\"\ncondition = '{condition}'\n");
        for good in [
            r#"tx.call.method == "pay" && tx.call.args.currency == "USD""#,
            r#"int(tx.call.args.fee) > 100"#,
            r#"tx.events.exists(e, e.name == "Transfer" && e.args.value == tx.call.args.amount)"#,
            r#"tx.call.status == "unknown-contract""#,
        ] {
            let (ids, errors) = errors_of(&rule(good));
            assert!(errors.is_empty(), "{good}: {errors:?}");
            assert_eq!(ids, ["r"]);
        }
        for (bad, needle) in [
            (r#"tx.call.metod == "pay""#, "condition"),
            (r#"tx.call.args.fee > 100"#, "type"),
            (
                r#"tx.events.exists(e, f.name == "x")"#,
                "unknown variable 'f'",
            ),
        ] {
            let (ids, errors) = errors_of(&rule(bad));
            assert!(ids.is_empty(), "{bad} compiled");
            let text = errors[0].to_string();
            assert!(text.contains(needle), "{bad}: {text}");
        }
    }

    #[test]
    fn a_good_rule_compiles_with_defaults() {
        let (rules, errors) = parse_file(Path::new("r.toml"), GOOD, None);
        assert!(errors.is_empty(), "{errors:?}");
        let r = &rules[0];
        assert_eq!(r.spec.severity, Severity::Medium);
        assert!(r.spec.enabled);
        assert_eq!(r.trigger, Trigger::Each);
        assert_eq!(r.dedup_ms, 3_600_000);
        assert!(r.text.starts_with("[[rule]]") && r.text.contains("tx.amount > 10.0"));
    }

    #[test]
    fn each_bad_rule_is_named_with_its_position_and_the_others_still_load() {
        let text = format!(
            r#"{GOOD}
[[rule]]
id = "syntax"
condition = "tx.amount >"

[[rule]]
id = "field"
condition = "tx.readable && tx.amout > 1.0"

[[rule]]
id = "types"
condition = "tx.amount + 'x' == 1.0"

[[rule]]
id = "not-bool"
condition = "tx.amount"

[[rule]]
id = "list"
condition = "tx.payee in lists.sanktions"

[[rule]]
id = "schema"
condition = "true"
severty = "high"

[[rule]]
id = "window"
condition = "true"
window = "5 minutes"
threshold = {{ count = 2 }}

[[rule]]
id = "threshold"
condition = "true"
window = "5m"

[[rule]]
id = "ok-too"
condition = "tx.payee in lists.sanctions"
group_by = "tx.payer"
window = "5m"
threshold = {{ count = 2 }}
"#
        );
        let (ok, errors) = errors_of(&text);
        assert_eq!(ok, ["big", "ok-too"]);
        let by_rule: BTreeMap<String, &RuleError> = errors
            .iter()
            .map(|e| (e.rule.clone().unwrap_or_default(), e))
            .collect();
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let check = |rule: &str, line: usize, column: Option<usize>, words: &str| {
            let e = by_rule
                .get(rule)
                .unwrap_or_else(|| panic!("{rule}: {errors:?}"));
            assert_eq!(e.line, line, "{rule}: {e}");
            if let Some(c) = column {
                assert_eq!(e.column, c, "{rule}: {e}");
            }
            assert!(e.message.contains(words), "{rule}: {e}");
            assert!(e.to_string().starts_with(&format!("r.toml:{line}:")), "{e}");
        };
        // The syntax error is at the end of the expression.
        check("syntax", line_of("tx.amount >\""), Some(25), "syntax error");
        // The unknown field is named where it is written.
        check("field", line_of("tx.amout"), None, "unknown field tx.amout");
        let e = by_rule["field"];
        let line = text.lines().nth(e.line - 1).unwrap();
        let col = line.find("amout").unwrap();
        assert!(
            (col.saturating_sub(3)..=col + 1).contains(&(e.column - 1)),
            "{e}"
        );
        check("types", line_of("'x'"), None, "type error");
        check(
            "not-bool",
            line_of("condition = \"tx.amount\""),
            None,
            "not a bool",
        );
        check(
            "list",
            line_of("sanktions"),
            None,
            "unknown watchlist lists.sanktions",
        );
        check("schema", line_of("severty"), None, "severty");
        check("window", line_of("5 minutes"), None, "duration");
        let window_line = text.lines().position(|l| l == "window = \"5m\"").unwrap() + 1;
        check("threshold", window_line, None, "needs a threshold");
        assert_eq!(errors.len(), 8, "{errors:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("24h"), Ok(86_400_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000));
        for bad in ["", "5", "m", "0h", "-1h", "5w", "400d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_builtin_rules_compile() {
        let (rules, errors) = parse_file(Path::new("(built-in)"), BUILTIN, None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rules.len(), 3);
    }
}

//! Plan text to [`Plan`], collecting every problem as a [`Diagnostic`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::catalogue::{procedure_names, Catalogue};
use super::checker::{self, suggest, Checker, Fields};
use super::diagnostic::Diagnostic;
use super::node::{self, Node};
use super::Procedure;
use super::*;
use crate::grade::vocab::{CtiaCosmetic, Marketplace, R2Cosmetic, R2Functional};

const JIG_KINDS: [&str; 4] = ["combo", "battery", "port", "screen"];

/// Longest plan id: every record carries it.
const MAX_PLAN_ID: usize = 64;

/// Parses and validates; every problem is reported.
pub fn parse(source: &str) -> Result<Plan, Vec<Diagnostic>> {
    let doc = checker::document(source)?;
    let root = node::parse(&doc);
    let mut cx = Cx::default();
    let plan = cx.plan(&root, source);
    cx.base.finish(plan, "the plan is incomplete")
}

#[derive(Default)]
struct Cx {
    /// The problems found (`err`, `fields` and `diags` through `Deref`).
    base: Checker,
    broken_steps: Vec<String>,
    /// (step id, measurement pattern) of limits that were rejected.
    broken_limits: Vec<(String, String)>,
    /// Where each limit's passing minimum is written: (step id, measurement pattern, model
    /// (`None`: every model), span of `min`, or of the table when it sets none).
    min_spans: Vec<(String, String, Option<String>, Range<usize>)>,
    /// Span of `battery` in [grading.r2_prerequisites].
    prerequisite_battery_span: Option<Range<usize>>,
}

/// What a plan awards that needs the R2 prerequisites, for the messages: what awards it,
/// what it needs, what to do instead, and where.
struct Awards {
    what: &'static str,
    need: &'static str,
    instead: &'static str,
    span: Range<usize>,
}

impl std::ops::Deref for Cx {
    type Target = Checker;
    fn deref(&self) -> &Checker {
        &self.base
    }
}

impl std::ops::DerefMut for Cx {
    fn deref_mut(&mut self) -> &mut Checker {
        &mut self.base
    }
}

impl Cx {
    fn plan(&mut self, root: &Node<'_>, source: &str) -> Option<Plan> {
        let top = self.fields(
            root,
            "the plan file",
            &["plan", "models", "step", "prompt", "grading"],
        )?;
        let head = match top.get("plan") {
            Some(n) => self.fields(
                n,
                "[plan]",
                &[
                    "id",
                    "version",
                    "description",
                    "jig_kinds",
                    "firmware",
                    "min_firmware",
                    "min_protocol",
                ],
            ),
            None => {
                self.err(
                    "missing [plan] table",
                    0..0,
                    "start the file with [plan] and its id, version and description",
                );
                None
            }
        };
        let id = head
            .as_ref()
            .and_then(|h| self.req_str(h, "id"))
            .map(|(s, span)| {
                if s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    self.err(
                        format!("plan id `{s}` is not a plain name"),
                        span,
                        "use lowercase letters, digits and '-', e.g. \"standard-refurb\"",
                    );
                } else if s.len() > MAX_PLAN_ID {
                    self.err(
                        format!("plan id `{s}` is longer than {MAX_PLAN_ID} characters"),
                        span,
                        "give the plan a short name (every record carries it), e.g. \"standard-refurb\"",
                    );
                }
                s.to_string()
            });
        let version = head
            .as_ref()
            .and_then(|h| self.req_str(h, "version"))
            .map(|(s, span)| {
                if semver(s).is_none() {
                    self.err(
                        format!("version `{s}` is not MAJOR.MINOR.PATCH"),
                        span,
                        "write e.g. \"1.0.0\"",
                    );
                }
                s.to_string()
            });
        let description = head
            .as_ref()
            .and_then(|h| self.req_str(h, "description"))
            .map(|(s, _)| s.to_string());
        let mut jig_kinds = vec!["combo".to_string()];
        if let Some(n) = head.as_ref().and_then(|h| h.get("jig_kinds")) {
            jig_kinds = self.str_list(n, "jig_kinds", Some(&JIG_KINDS));
        }
        let mut min_firmware = None;
        if let Some(n) = head.as_ref().and_then(|h| h.get("min_firmware")) {
            match n {
                Node::Str(s, span) => match semver(s) {
                    Some(v) => min_firmware = Some(v),
                    None => self.err(
                        format!("min_firmware `{s}` is not MAJOR.MINOR.PATCH"),
                        span.clone(),
                        "write e.g. \"0.1.0\"",
                    ),
                },
                other => self.err(
                    format!("min_firmware must be a string, found {}", other.kind()),
                    other.span(),
                    "write e.g. \"0.1.0\"",
                ),
            }
        }
        let firmware = head
            .as_ref()
            .and_then(|h| h.get("firmware"))
            .and_then(|n| self.firmware_range(n));
        let firmware = accepted_firmware(firmware, min_firmware);
        let mut min_protocol = 1;
        if let Some(n) = head.as_ref().and_then(|h| h.get("min_protocol")) {
            match n {
                Node::Int(v, span)
                    if *v >= 1 && *v <= i64::from(benchline_protocol::PROTOCOL_VERSION) =>
                {
                    min_protocol = *v as u16
                }
                Node::Int(v, span) => self.err(
                    format!("min_protocol {v} is not a protocol this benchctl speaks"),
                    span.clone(),
                    format!(
                        "this benchctl speaks protocol 1 to {}",
                        benchline_protocol::PROTOCOL_VERSION
                    ),
                ),
                other => self.err(
                    format!("min_protocol must be an integer, found {}", other.kind()),
                    other.span(),
                    "write e.g. 1",
                ),
            }
        }
        let models = top
            .get("models")
            .map(|n| self.models(n))
            .unwrap_or_default();
        let steps = match top.get("step") {
            Some(Node::Array(items, span)) if items.is_empty() => {
                self.err(
                    "the plan has no steps",
                    span.clone(),
                    "add at least one [[step]] with a procedure",
                );
                Vec::new()
            }
            Some(Node::Array(items, _)) => items
                .iter()
                .filter_map(|s| self.step(s, &models))
                .collect::<Vec<_>>(),
            Some(other) => {
                self.err(
                    "step must be an array of tables",
                    other.span(),
                    "write each step as [[step]]",
                );
                Vec::new()
            }
            None => {
                self.err(
                    "the plan has no steps",
                    top.span.clone(),
                    "add at least one [[step]] with a procedure",
                );
                Vec::new()
            }
        };
        if let Some(Node::Array(items, _)) = top.get("step") {
            let mut seen = BTreeSet::new();
            // The tables' own ids: a step that failed to compile still holds its place.
            for (id, span) in items.iter().filter_map(table_id) {
                if !seen.insert(id) {
                    self.err(
                        format!("step id `{id}` is used twice"),
                        span,
                        "give every step its own id; rules name measurements as step.measurement",
                    );
                }
            }
        }
        if let Some(kinds_node) = head.as_ref().and_then(|h| h.get("jig_kinds")) {
            for kind in jig_kinds.iter().filter(|k| k.as_str() != "combo") {
                if let Some(step) = steps
                    .iter()
                    .find(|s| s.procedure.channel().as_str() != kind.as_str())
                {
                    self.err(
                        format!(
                            "a {kind} jig cannot run step `{}` ({} runs on the {} channel)",
                            step.id,
                            step.procedure.name(),
                            step.procedure.channel().as_str()
                        ),
                        kinds_node.span(),
                        "list only jig kinds that have every channel the steps use, or \"combo\"",
                    );
                    break;
                }
            }
        }
        let prompts = match top.get("prompt") {
            Some(Node::Array(items, _)) => {
                let prompts: Vec<Prompt> = items.iter().filter_map(|p| self.prompt(p)).collect();
                let mut seen = BTreeSet::new();
                for (id, span) in items.iter().filter_map(table_id) {
                    if !seen.insert(id) {
                        self.err(
                            format!("prompt id `{id}` is used twice"),
                            span,
                            "give every prompt its own id",
                        );
                    }
                }
                prompts
            }
            Some(other) => {
                self.err(
                    "prompt must be an array of tables",
                    other.span(),
                    "write each prompt as [[prompt]]",
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        // Steps that failed to compile still count as named, so rules naming them raise no
        // second error.
        if let Some(Node::Array(items, _)) = top.get("step") {
            for n in items {
                if let Node::Table(entries, _) = n {
                    if let Some(Node::Str(id, _)) =
                        entries.iter().find(|e| e.key == "id").map(|e| &e.node)
                    {
                        self.broken_steps.push(id.to_string());
                    }
                }
            }
        }
        let grading = match top.get("grading") {
            Some(n) => self.grading(n, &steps, &prompts),
            None => {
                self.err("missing [grading] policy", top.span.clone(), "add [grading] with cosmetic_prompt, the R2v3 and marketplace maps and [[grading.rule]]s");
                None
            }
        };
        let hash = crate::store::hex(&Sha256::digest(source.as_bytes()).into());
        Some(Plan {
            id: id?,
            version: version?,
            description: description?,
            hash,
            jig_kinds,
            firmware,
            min_protocol,
            models,
            steps,
            prompts,
            grading: grading?,
        })
    }

    /// `[plan] firmware`: the range of jig firmware versions the plan accepts.
    fn firmware_range(&mut self, n: &Node<'_>) -> Option<semver::VersionReq> {
        const HINT: &str = "write a semver range, e.g. firmware = \">=0.1, <0.2\" (comparators >=, >, <, <=, =, ^, ~, separated by commas)";
        match n {
            Node::Str(s, span) => match semver::VersionReq::parse(s) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.err(
                        format!("firmware `{s}` is not a version range: {e}"),
                        span.clone(),
                        HINT,
                    );
                    None
                }
            },
            other => {
                self.err(
                    format!("firmware must be a string, found {}", other.kind()),
                    other.span(),
                    HINT,
                );
                None
            }
        }
    }

    fn req_str<'n, 'a>(
        &mut self,
        f: &Fields<'n, 'a>,
        key: &str,
    ) -> Option<(&'a str, Range<usize>)> {
        self.string(f, key, "...")
    }

    fn str_list(&mut self, n: &Node<'_>, key: &str, allowed: Option<&[&str]>) -> Vec<String> {
        let Node::Array(items, span) = n else {
            self.err(
                format!("`{key}` must be an array of strings, found {}", n.kind()),
                n.span(),
                format!("write {key} = [\"...\"]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                Node::Str(s, sp) => {
                    if let Some(allowed) = allowed {
                        if !allowed.contains(s) {
                            self.err(
                                format!("`{s}` is not one of the {key}"),
                                sp.clone(),
                                format!("{key} are: {}", allowed.join(", ")),
                            );
                            continue;
                        }
                    }
                    out.push(s.to_string());
                }
                other => self.err(
                    format!("`{key}` must hold strings, found {}", other.kind()),
                    other.span(),
                    "quote every item",
                ),
            }
        }
        if out.is_empty() && items.is_empty() {
            self.err(
                format!("`{key}` is empty"),
                span.clone(),
                "list at least one item",
            );
        }
        out
    }

    fn models(&mut self, n: &Node<'_>) -> BTreeMap<String, Connector> {
        let mut out = BTreeMap::new();
        let Node::Table(entries, _) = n else {
            self.err(
                "[models] must be a table",
                n.span(),
                "write [models] then MODEL = { connector = \"usb-c\" }",
            );
            return out;
        };
        for e in entries {
            let Some(f) = self.fields(&e.node, &format!("model {}", e.key), &["connector"]) else {
                continue;
            };
            match f.get("connector") {
                Some(Node::Str(s, span)) => match connector(s) {
                    Some(c) => {
                        out.insert(e.key.to_string(), c);
                    }
                    None => self.err(
                        format!("unknown connector `{s}`"),
                        span.clone(),
                        "connectors are usb-c and lightning",
                    ),
                },
                Some(other) => self.err(
                    "connector must be a string",
                    other.span(),
                    "write connector = \"usb-c\"",
                ),
                None => self.err(
                    format!("model {} has no connector", e.key),
                    e.key_span.clone(),
                    "write { connector = \"usb-c\" } or \"lightning\"",
                ),
            }
        }
        out
    }

    fn step(&mut self, n: &Node<'_>, models: &BTreeMap<String, Connector>) -> Option<Step> {
        let f = self.fields(
            n,
            "[[step]]",
            &[
                "id",
                "procedure",
                "params",
                "timeout_ms",
                "retries",
                "on_fail",
                "connectors",
                "limit",
            ],
        )?;
        let id = self.req_str(&f, "id").map(|(s, span)| {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                self.err(
                    format!("step id `{s}` is not a plain name"),
                    span,
                    "use letters, digits, '_' and '-' (rules name measurements as step_id.measurement)",
                );
            }
            s.to_string()
        });
        let procedure = match self.req_str(&f, "procedure") {
            Some((name, span)) => match Procedure::from_name(name) {
                Some(p) => Some(p),
                None => {
                    let names: Vec<&str> = Procedure::ALL.iter().map(|p| p.name()).collect();
                    let hint = format!(
                        "{}procedures are: {}",
                        suggest(name, &names).unwrap_or_default(),
                        procedure_names()
                    );
                    self.err(format!("unknown procedure `{name}`"), span, hint);
                    None
                }
            },
            None => None,
        };
        let procedure = procedure?;
        let mut params: BTreeMap<String, f64> = procedure
            .params()
            .iter()
            .map(|p| (p.name.to_string(), p.default))
            .collect();
        if let Some(pn) = f.get("params") {
            let names: Vec<&str> = procedure.params().iter().map(|p| p.name).collect();
            if let Node::Table(entries, _) = pn {
                for e in entries {
                    let Some(spec) = procedure.params().iter().find(|p| p.name == e.key) else {
                        let hint = if names.is_empty() {
                            format!("{} takes no parameters", procedure.name())
                        } else {
                            format!(
                                "{}{} takes: {}",
                                suggest(e.key, &names).unwrap_or_default(),
                                procedure.name(),
                                names.join(", ")
                            )
                        };
                        self.err(
                            format!("unknown parameter `{}` for {}", e.key, procedure.name()),
                            e.key_span.clone(),
                            hint,
                        );
                        continue;
                    };
                    match e.node.as_f64() {
                        Some(v) if v >= spec.min && v <= spec.max => {
                            params.insert(e.key.to_string(), v);
                        }
                        Some(v) => self.err(
                            format!("parameter `{}` = {v} is out of range", e.key),
                            e.node.span(),
                            format!("{} accepts {} to {}", e.key, spec.min, spec.max),
                        ),
                        None => self.err(
                            format!(
                                "parameter `{}` must be a number, found {}",
                                e.key,
                                e.node.kind()
                            ),
                            e.node.span(),
                            "write a number without quotes",
                        ),
                    }
                }
            } else {
                self.err(
                    "params must be a table",
                    pn.span(),
                    "write params = { name = value }",
                );
            }
            let get = |k: &str| params.get(k).copied().unwrap_or(0.0);
            if procedure == Procedure::BatteryDcir && get("low_c") >= get("high_c") {
                self.err(
                    "low_c must be below high_c",
                    pn.span(),
                    "IEC 61960 uses 0.2 C then 1 C",
                );
            }
            if procedure == Procedure::ScreenTouch && get("node_min") >= get("node_max") {
                self.err(
                    "node_min must be below node_max",
                    pn.span(),
                    "a healthy node reads between node_min and node_max",
                );
            }
        }
        let timeout_ms = match f.get("timeout_ms") {
            Some(Node::Int(v, _)) if *v > 0 => Some(*v as u64),
            Some(other) => {
                self.err(
                    "timeout_ms must be a positive integer (milliseconds)",
                    other.span(),
                    "write e.g. timeout_ms = 2000",
                );
                None
            }
            None => None,
        };
        let retries = match f.get("retries") {
            Some(Node::Int(v, _)) if (0..=10).contains(v) => *v as u32,
            Some(other) => {
                self.err(
                    "retries must be an integer from 0 to 10",
                    other.span(),
                    "write e.g. retries = 2",
                );
                2
            }
            None => 2,
        };
        let on_fail = match f.get("on_fail") {
            Some(Node::Str("continue", _)) | None => OnFail::Continue,
            Some(Node::Str("skip-channel", _)) => OnFail::SkipChannel,
            Some(other) => {
                self.err(
                    "on_fail must be \"continue\" or \"skip-channel\"",
                    other.span(),
                    "skip-channel skips the rest of this step's channel when a limit fails",
                );
                OnFail::Continue
            }
        };
        let connectors = f.get("connectors").map(|n| {
            self.str_list(n, "connectors", Some(&["usb-c", "lightning"]))
                .iter()
                .filter_map(|s| connector(s))
                .collect::<Vec<_>>()
        });
        let mut limits = Vec::new();
        match f.get("limit") {
            Some(Node::Array(items, _)) => {
                let mut claimed: BTreeMap<String, String> = BTreeMap::new();
                for l in items {
                    let raw = match l {
                        Node::Table(entries, _) => entries
                            .iter()
                            .find(|e| e.key == "measurement")
                            .and_then(|e| match &e.node {
                                Node::Str(p, sp) => Some((p.to_string(), sp.clone())),
                                _ => None,
                            }),
                        _ => None,
                    };
                    let mark = self.min_spans.len();
                    match self.limit(l, &procedure, models) {
                        Some(limit) => {
                            for m in &mut self.min_spans[mark..] {
                                m.0 = id.clone().unwrap_or_default();
                            }
                            for (m, _) in procedure
                                .measurement_names()
                                .iter()
                                .filter(|(m, _)| matches(&limit.pattern, m))
                            {
                                if let Some(first) =
                                    claimed.insert(m.clone(), limit.pattern.clone())
                                {
                                    let span = raw.as_ref().map_or(l.span(), |r| r.1.clone());
                                    self.err(
                                        format!("`{m}` already has a limit (`{first}`) in this step"),
                                        span,
                                        "give each measurement one limit; per-model limits go in [step.limit.models.MODEL]",
                                    );
                                    break;
                                }
                            }
                            limits.push(limit);
                        }
                        None => {
                            if let Some((p, _)) = raw {
                                self.broken_limits.push((id.clone().unwrap_or_default(), p));
                            }
                        }
                    }
                }
            }
            Some(other) => self.err(
                "limit must be an array of tables",
                other.span(),
                "write each limit as [[step.limit]]",
            ),
            None => {}
        }
        Some(Step {
            id: id?,
            procedure,
            params,
            timeout_ms,
            retries,
            on_fail,
            connectors,
            limits,
        })
    }

    fn bounds(&mut self, f: &Fields<'_, '_>, base: Option<Bounds>) -> Option<Bounds> {
        let mut b = base.unwrap_or_default();
        let mut ok = true;
        for key in ["min", "max", "marginal"] {
            if let Some(n) = f.get(key) {
                match n.as_f64() {
                    Some(v) if v.is_finite() => match key {
                        "min" => b.min = Some(v),
                        "max" => b.max = Some(v),
                        _ => b.marginal = v,
                    },
                    _ => {
                        ok = false;
                        let found = if n.as_f64().is_some() {
                            "a value that is not finite".to_string()
                        } else {
                            n.kind().to_string()
                        };
                        self.err(
                            format!("`{key}` must be a finite number, found {found}"),
                            n.span(),
                            "write the number without quotes, in the measurement's unit",
                        );
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        if b.min.is_none() && b.max.is_none() {
            self.err(
                format!("{} sets neither min nor max", f.what),
                f.span.clone(),
                "a limit needs min, max or both",
            );
            return None;
        }
        if let (Some(lo), Some(hi)) = (b.min, b.max) {
            if lo >= hi {
                let span = f.get("min").map_or(f.span.clone(), |n| n.span());
                self.err(
                    format!("min {lo} is not below max {hi}: no value can pass"),
                    span,
                    "swap them or widen the band",
                );
                return None;
            }
            if b.marginal * 2.0 >= hi - lo {
                let span = f.get("marginal").map_or(f.span.clone(), |n| n.span());
                self.err(
                    format!(
                        "marginal band {} leaves no passing value between {lo} and {hi}",
                        b.marginal
                    ),
                    span,
                    "the marginal band must be narrower than half of max - min",
                );
                return None;
            }
        }
        if b.marginal < 0.0 {
            self.err(
                "marginal must not be negative",
                f.get("marginal").map_or(f.span.clone(), |n| n.span()),
                "it is the width of the band inside the limit",
            );
            return None;
        }
        Some(b)
    }

    fn limit(
        &mut self,
        n: &Node<'_>,
        procedure: &Procedure,
        models: &BTreeMap<String, Connector>,
    ) -> Option<Limit> {
        let f = self.fields(
            n,
            "[[step.limit]]",
            &["measurement", "unit", "min", "max", "marginal", "models"],
        )?;
        let (pattern, pspan) = self.req_str(&f, "measurement")?;
        let names = procedure.measurement_names();
        let matched: Vec<&(String, &str)> =
            names.iter().filter(|(m, _)| matches(pattern, m)).collect();
        if matched.is_empty() {
            let list: Vec<&str> = names.iter().map(|(m, _)| m.as_str()).collect();
            let hint = format!(
                "{}{} measures: {}",
                suggest(pattern, &list).unwrap_or_default(),
                procedure.name(),
                list.join(", ")
            );
            self.err(
                format!("{} has no measurement `{pattern}`", procedure.name()),
                pspan,
                hint,
            );
            return None;
        }
        let unit = matched[0].1;
        if matched.iter().any(|(_, u)| *u != unit) {
            self.err(
                format!("`{pattern}` matches measurements in different units"),
                pspan,
                "write one limit per unit",
            );
            return None;
        }
        let (u, uspan) = self.req_str(&f, "unit")?;
        if u != unit {
            self.err(
                format!(
                    "wrong unit `{u}`: {} measures `{pattern}` in {unit}",
                    procedure.name()
                ),
                uspan,
                format!("write unit = \"{unit}\" and the limits in {unit}"),
            );
            return None;
        }
        let bounds = self.bounds(&f, None)?;
        let base_min = f.get("min").map_or(f.span.clone(), |n| n.span());
        self.min_spans
            .push((String::new(), pattern.to_string(), None, base_min.clone()));
        let mut per_model = BTreeMap::new();
        if let Some(other) = f.get("models").filter(|n| !matches!(n, Node::Table(..))) {
            self.err(
                format!(
                    "`models` in [[step.limit]] must be a table, found {}",
                    other.kind()
                ),
                other.span(),
                "write [step.limit.models.MODEL] with min, max or marginal",
            );
        }
        if let Some(Node::Table(entries, _)) = f.get("models") {
            for e in entries {
                if !models.contains_key(e.key) {
                    let known: Vec<&str> = models.keys().map(String::as_str).collect();
                    self.err(
                        format!("unknown model `{}`", e.key),
                        e.key_span.clone(),
                        format!(
                            "{}declare it in [models] first; models there: {}",
                            suggest(e.key, &known).unwrap_or_default(),
                            known.join(", ")
                        ),
                    );
                    continue;
                }
                if matches!(&e.node, Node::Table(entries, _) if entries.is_empty()) {
                    self.err(
                        format!("the limits for model {} are empty", e.key),
                        e.key_span.clone(),
                        "set min, max or marginal for the model, or remove the table",
                    );
                    continue;
                }
                if let Some(mf) = self.fields(
                    &e.node,
                    &format!("limits for model {}", e.key),
                    &["min", "max", "marginal"],
                ) {
                    if let Some(b) = self.bounds(&mf, Some(bounds)) {
                        let span = mf.get("min").map_or(base_min.clone(), |n| n.span());
                        self.min_spans.push((
                            String::new(),
                            pattern.to_string(),
                            Some(e.key.to_string()),
                            span,
                        ));
                        per_model.insert(e.key.to_string(), b);
                    }
                }
            }
        }
        Some(Limit {
            pattern: pattern.to_string(),
            unit,
            bounds,
            models: per_model,
        })
    }

    fn prompt(&mut self, n: &Node<'_>) -> Option<Prompt> {
        let f = self.fields(n, "[[prompt]]", &["id", "question", "choices"])?;
        let id = self.req_str(&f, "id").map(|(s, _)| s.to_string());
        let question = self.req_str(&f, "question").map(|(s, _)| s.to_string());
        let choices = match f.get("choices") {
            Some(c) => {
                let list = self.str_list(c, "choices", None);
                let unique: BTreeSet<&String> = list.iter().collect();
                if unique.len() != list.len() {
                    self.err(
                        "a choice is listed twice",
                        c.span(),
                        "every choice must be different",
                    );
                }
                list
            }
            None => {
                self.err(
                    "missing `choices` in [[prompt]]",
                    f.span.clone(),
                    "add choices = [\"pass\", \"fail\"]",
                );
                Vec::new()
            }
        };
        Some(Prompt {
            id: id?,
            question: question?,
            choices,
        })
    }

    fn grading(&mut self, n: &Node<'_>, steps: &[Step], prompts: &[Prompt]) -> Option<Policy> {
        let f = self.fields(
            n,
            "[grading]",
            &[
                "cosmetic_prompt",
                "parts_when_repairs",
                "r2_functional",
                "r2_cosmetic",
                "r2_cosmetic_max",
                "r2_prerequisites",
                "marketplace",
                "rule",
            ],
        )?;
        let cosmetic = self.req_str(&f, "cosmetic_prompt").and_then(|(s, span)| match prompts.iter().find(|p| p.id == s) {
            Some(p) => {
                if p.choices.iter().any(|c| CtiaCosmetic::from_name(c).is_none()) {
                    self.err(format!("prompt `{s}` has choices other than the CTIA grades A-E"), span, "give the cosmetic prompt choices = [\"A\", \"B\", \"C\", \"D\", \"E\"]");
                }
                Some(p.clone())
            }
            None => {
                let ids: Vec<&str> = prompts.iter().map(|p| p.id.as_str()).collect();
                self.err(format!("cosmetic_prompt names no prompt `{s}`"), span, format!("prompts are: {}", ids.join(", ")));
                None
            }
        });
        let parts_when_repairs = match f.get("parts_when_repairs") {
            Some(Node::Int(v, _)) if (1..=3).contains(v) => *v as usize,
            Some(other) => {
                self.err(
                    "parts_when_repairs must be 1, 2 or 3",
                    other.span(),
                    "the number of parts to repair from which a phone goes to parts harvest",
                );
                3
            }
            None => 3,
        };
        let r2_functional = self.r2_functional(&f);
        let r2_key_span = f
            .entry("r2_functional")
            .map_or(f.span.clone(), |e| e.key_span.clone());
        let cosmetic_choices: Vec<String> = cosmetic
            .as_ref()
            .map(|p| p.choices.clone())
            .unwrap_or_default();
        let r2_cosmetic = self.grade_map(
            &f,
            "r2_cosmetic",
            &cosmetic_choices,
            R2Cosmetic::from_name,
            "R2v3 cosmetic categories are C0 to C9 (C9 new open box ... C1 damaged, C0 not categorized)",
            true,
        );
        let marketplace = self.grade_map(
            &f,
            "marketplace",
            &cosmetic_choices,
            Marketplace::from_name,
            "marketplace grades are Premium, Excellent, Good, Fair",
            false,
        );
        let r2_cosmetic_max = self.r2_cosmetic_max(&f);
        let r2_prerequisites = f
            .get("r2_prerequisites")
            .and_then(|n| self.prerequisites(n, steps, prompts));
        let functioning = r2_functional
            .as_ref()
            .is_some_and(|(map, _)| map.iter().any(|c| c.is_functioning()));
        let marketplace_span = f
            .entry("marketplace")
            .map_or(f.span.clone(), |e| e.key_span.clone());
        // Marketplace grades and functioning categories both go only to a phone that meets
        // every R2 prerequisite, battery health of at least 80 % among them.
        let awards = if functioning {
            Some(Awards {
                what: "[grading.r2_functional] awards functioning categories",
                need: "functioning categories (F1-F6) need battery health of at least 80 %",
                instead: "map every grade to \"controlled\"",
                span: r2_key_span,
            })
        } else if !marketplace.is_empty() {
            Some(Awards {
                what: "[grading.marketplace] awards marketplace grades",
                need: "marketplace grades need battery health of at least 80 %",
                instead: "remove [grading.marketplace]",
                span: marketplace_span.clone(),
            })
        } else {
            None
        };
        if let Some(awards) = &awards {
            self.check_prerequisites(&f, r2_prerequisites.as_ref(), awards);
        }
        if !marketplace.is_empty() {
            let awards = Awards {
                what: "[grading.marketplace] awards marketplace grades",
                need: "marketplace grades need battery health of at least 80 %",
                instead: "remove [grading.marketplace]",
                span: marketplace_span,
            };
            self.check_battery_health(r2_prerequisites.as_ref(), steps, &awards);
        } else if let Some(awards) = &awards {
            self.check_battery_health(r2_prerequisites.as_ref(), steps, awards);
        }
        let mut rules = Vec::new();
        match f.get("rule") {
            Some(Node::Array(items, _)) => {
                for r in items {
                    if let Some(rule) = self.rule(r, steps, prompts) {
                        rules.push(rule);
                    }
                }
            }
            Some(other) => self.err(
                "rule must be an array of tables",
                other.span(),
                "write each rule as [[grading.rule]]",
            ),
            None => {}
        }
        Some(Policy {
            cosmetic_prompt: cosmetic?.id,
            parts_when_repairs,
            r2_functional: r2_functional?.0,
            r2_cosmetic,
            r2_cosmetic_max,
            marketplace,
            r2_prerequisites,
            rules,
        })
    }

    /// `[grading.r2_functional]`: every CTIA functional grade 0-9 to an R2v3 category or
    /// `controlled`, never a better grade to a worse category. The map and its table's span.
    fn r2_functional(&mut self, f: &Fields<'_, '_>) -> Option<(Vec<R2Functional>, Range<usize>)> {
        let (entries, span) = match f.get("r2_functional") {
            Some(Node::Table(entries, span)) => (entries, span.clone()),
            Some(other) => {
                self.err(
                    "[grading.r2_functional] must be a table",
                    other.span(),
                    "write 0 = \"F6\" per CTIA functional grade",
                );
                return None;
            }
            None => {
                self.err(
                    "missing [grading.r2_functional]",
                    f.span.clone(),
                    "map CTIA functional grades 0-9 to R2v3 F1-F6 or \"controlled\" (SERI: 0 F6, 1 F5, 2 F3, 3-9 controlled)",
                );
                return None;
            }
        };
        let mut map: [Option<(R2Functional, Range<usize>)>; 10] = Default::default();
        let errors_before = self.diags.len();
        for e in entries {
            match (e.key.parse::<usize>(), &e.node) {
                (Ok(i), Node::Str(v, vs)) if i <= 9 => match R2Functional::from_name(v) {
                    Some(c) => map[i] = Some((c, vs.clone())),
                    None => self.err(
                        format!("`{v}` is not an R2v3 functional category"),
                        vs.clone(),
                        format!(
                            "{}R2v3 functional categories are F1 to F6 (F6 like new ... F1 collectible/specialty), or \"controlled\" for an R2 controlled stream",
                            suggest(v, &R2Functional::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()).unwrap_or_default()
                        ),
                    ),
                },
                _ => self.err(
                    format!(
                        "r2_functional key `{}` is not a CTIA functional grade 0-9 with a string value",
                        e.key
                    ),
                    e.key_span.clone(),
                    "write e.g. 0 = \"F6\"",
                ),
            }
        }
        if self.diags.len() > errors_before {
            return None;
        }
        let missing: Vec<String> = (0..10)
            .filter(|i| map[*i].is_none())
            .map(|i| i.to_string())
            .collect();
        if !missing.is_empty() {
            self.err(
                "r2_functional must map every CTIA functional grade 0 to 9",
                span,
                format!("add grade {}", missing.join(", ")),
            );
            return None;
        }
        let map: Vec<(R2Functional, Range<usize>)> = map.into_iter().flatten().collect();
        let ordered: Vec<(String, R2Functional, Range<usize>)> = map
            .iter()
            .enumerate()
            .map(|(i, (c, s))| (i.to_string(), *c, s.clone()))
            .collect();
        self.check_direction(
            "r2_functional",
            "CTIA functional grade",
            &ordered,
            "R2v3 categories rise with condition (F6 like new ... F1 collectible/specialty, below them controlled): map better CTIA grades to the same or a higher category; SERI's cross-reference is 0 F6, 1 F5, 2 F3, 3-9 controlled",
        );
        Some((map.into_iter().map(|(c, _)| c).collect(), span))
    }

    /// Refuses a map that gives a better grade (earlier in `ordered`, best first) a worse value
    /// than a worse grade gets; reports the first such pair at the better grade's value.
    fn check_direction<V: Copy + Ord + std::fmt::Display>(
        &mut self,
        key: &str,
        what: &str,
        ordered: &[(String, V, Range<usize>)],
        hint: &str,
    ) {
        for (i, (better, v, span)) in ordered.iter().enumerate() {
            if let Some((worse, w, _)) = ordered[i + 1..].iter().find(|(_, w, _)| w > v) {
                self.err(
                    format!(
                        "[grading.{key}] maps {what} {better} to {v}, but the worse grade {worse} to the better {w}"
                    ),
                    span.clone(),
                    hint.to_string(),
                );
                return;
            }
        }
    }

    /// `[grading.r2_cosmetic_max]`: R2v3 functional category to the best cosmetic category it
    /// may go with.
    fn r2_cosmetic_max(&mut self, f: &Fields<'_, '_>) -> BTreeMap<R2Functional, R2Cosmetic> {
        let mut out = BTreeMap::new();
        match f.get("r2_cosmetic_max") {
            Some(Node::Table(entries, _)) => {
                for e in entries {
                    let Some(functional) = R2Functional::from_name(e.key) else {
                        self.err(
                            format!("`{}` is not an R2v3 functional category", e.key),
                            e.key_span.clone(),
                            "keys are F1 to F6 or controlled, e.g. F5 = \"C6\"",
                        );
                        continue;
                    };
                    match &e.node {
                        Node::Str(v, _) if R2Cosmetic::from_name(v).is_some() => {
                            if let Some(c) = R2Cosmetic::from_name(v) {
                                out.insert(functional, c);
                            }
                        }
                        other => self.err(
                            format!("bad value for `{}` in [grading.r2_cosmetic_max]", e.key),
                            other.span(),
                            "give the best R2v3 cosmetic category C0 to C9 this functional category may go with, e.g. F5 = \"C6\"",
                        ),
                    }
                }
            }
            Some(other) => self.err(
                "[grading.r2_cosmetic_max] must be a table",
                other.span(),
                "write F5 = \"C6\" per functional category",
            ),
            None => {}
        }
        out
    }

    /// `[grading.r2_prerequisites]`.
    fn prerequisites(
        &mut self,
        n: &Node<'_>,
        steps: &[Step],
        prompts: &[Prompt],
    ) -> Option<Prerequisites> {
        let f = self.fields(
            n,
            "[grading.r2_prerequisites]",
            &["sanitized", "unlocked", "battery"],
        )?;
        let mut out = Prerequisites::default();
        for key in ["sanitized", "unlocked"] {
            if let Some(node) = f.get(key) {
                let example = if key == "sanitized" {
                    "sanitized = { sanitized = [\"verified\"] }"
                } else {
                    "unlocked = { lock = [\"unlocked\"] }"
                };
                let answers = self.answer_table(
                    node,
                    prompts,
                    (
                        &format!("`{key}`"),
                        &format!("`{key}` in [grading.r2_prerequisites]"),
                    ),
                    example,
                );
                if answers.is_empty()
                    && matches!(node, Node::Table(entries, _) if entries.is_empty())
                {
                    self.err(
                        format!("`{key}` in [grading.r2_prerequisites] names no prompt"),
                        node.span(),
                        format!("write {key} = {{ prompt_id = [\"answer that means met\"] }}"),
                    );
                }
                if let Node::Table(entries, _) = node {
                    for (prompt, listed) in &answers {
                        let Some(p) = prompts.iter().find(|p| &p.id == prompt) else {
                            continue;
                        };
                        if !p.choices.is_empty() && p.choices.iter().all(|c| listed.contains(c)) {
                            let span = entries
                                .iter()
                                .find(|e| e.key == prompt)
                                .map_or(node.span(), |e| e.node.span());
                            self.err(
                                format!(
                                    "`{key}` in [grading.r2_prerequisites] accepts every answer of prompt `{prompt}` ({}): it can never fail",
                                    p.choices.join(", ")
                                ),
                                span,
                                format!("list only the answers that mean the prerequisite is met, e.g. {example}"),
                            );
                        }
                    }
                }
                if key == "sanitized" {
                    out.sanitized = answers;
                } else {
                    out.unlocked = answers;
                }
            }
        }
        if let Some(list) = f.get("battery") {
            self.prerequisite_battery_span = Some(list.span());
            let patterns = self.str_list(list, "battery", None);
            let spans: Vec<Range<usize>> = match list {
                Node::Array(items, _) => items.iter().map(|i| i.span()).collect(),
                _ => Vec::new(),
            };
            for (p, span) in patterns.iter().zip(spans) {
                let errors_before = self.diags.len();
                self.check_measurement_ref(p, span.clone(), steps, "battery");
                if self.diags.len() > errors_before {
                    continue;
                }
                let step = p
                    .split_once('.')
                    .and_then(|(s, _)| steps.iter().find(|st| st.id == s));
                if let Some(step) =
                    step.filter(|s| s.procedure.channel() != benchline_protocol::Channel::Battery)
                {
                    self.err(
                        format!(
                            "`{p}` is not a battery measurement ({} runs on the {} channel)",
                            step.procedure.name(),
                            step.procedure.channel().as_str()
                        ),
                        span,
                        "battery names battery.gauge or battery.dcir measurements, e.g. gauge.state_of_health",
                    );
                }
            }
            out.battery = patterns;
        }
        Some(out)
    }

    /// A plan that awards functioning categories or marketplace grades must state every R2
    /// prerequisite.
    fn check_prerequisites(
        &mut self,
        f: &Fields<'_, '_>,
        pre: Option<&Prerequisites>,
        awards: &Awards,
    ) {
        const WHY: &str = "R2v3 allows a functioning category (F1-F6), and so a marketplace grade, only after logical data sanitization, with no lock or encumbrance and enough battery life";
        let Some(pre) = pre else {
            if f.get("r2_prerequisites").is_none() {
                self.err(
                    format!("{}, but the plan states no [grading.r2_prerequisites]", awards.what),
                    awards.span.clone(),
                    format!("{WHY}: add [grading.r2_prerequisites] with sanitized, unlocked and battery, or {}", awards.instead),
                );
            }
            return;
        };
        let span = f
            .entry("r2_prerequisites")
            .map_or(f.span.clone(), |e| e.key_span.clone());
        let missing = [
            (
                "sanitized",
                pre.sanitized.is_empty(),
                "sanitized = { sanitized = [\"verified\"] }",
            ),
            (
                "unlocked",
                pre.unlocked.is_empty(),
                "unlocked = { lock = [\"unlocked\"] }",
            ),
            (
                "battery",
                pre.battery.is_empty(),
                "battery = [\"gauge.state_of_health\"]",
            ),
        ];
        for (key, absent, example) in missing {
            if absent
                && f.get("r2_prerequisites").is_some_and(|n| match n {
                    Node::Table(entries, _) => !entries.iter().any(|e| e.key == key),
                    _ => false,
                })
            {
                self.err(
                    format!("[grading.r2_prerequisites] has no `{key}`"),
                    span.clone(),
                    format!("{WHY}: add e.g. {example}"),
                );
            }
        }
    }

    /// Every marketplace grade, and a functioning category, requires battery health of at
    /// least 80 %: the plan must limit `state_of_health` from 80 % (for every model) and
    /// require it among the R2 battery prerequisites, which a phone must meet first.
    fn check_battery_health(
        &mut self,
        pre: Option<&Prerequisites>,
        steps: &[Step],
        awards: &Awards,
    ) {
        let need = awards.need;
        let instead = awards.instead;
        // Steps that measure state_of_health with a limit, and the lowest passing minimum:
        // (model, or `None` for every model; the minimum, `None` if it sets none; its span).
        type Lowest = (Option<String>, Option<f64>, Range<usize>);
        let limited: Vec<(&Step, Lowest)> = steps
            .iter()
            .filter(|s| s.procedure == Procedure::BatteryGauge)
            .filter_map(|s| {
                let l = s
                    .limits
                    .iter()
                    .find(|l| matches(&l.pattern, "state_of_health"))?;
                let span_of = |model: Option<&str>| {
                    self.min_spans
                        .iter()
                        .find(|(id, p, m, _)| {
                            id == &s.id && p == &l.pattern && m.as_deref() == model
                        })
                        .map_or(awards.span.clone(), |e| e.3.clone())
                };
                let entries = std::iter::once((None, l.bounds.min))
                    .chain(l.models.iter().map(|(m, b)| (Some(m.as_str()), b.min)));
                // No minimum is the worst; else the lowest.
                let worst = entries
                    .min_by(|a, b| match (a.1, b.1) {
                        (None, None) => std::cmp::Ordering::Equal,
                        (None, Some(_)) => std::cmp::Ordering::Less,
                        (Some(_), None) => std::cmp::Ordering::Greater,
                        (Some(x), Some(y)) => x.total_cmp(&y),
                    })
                    .map(|(m, min)| (m.map(str::to_string), min, span_of(m)))?;
                Some((s, worst))
            })
            .collect();
        // A state_of_health limit or a step that is already refused is not missing twice.
        let refused = self.broken_limits.iter().any(|(id, _)| {
            steps
                .iter()
                .any(|s| &s.id == id && s.procedure == Procedure::BatteryGauge)
        }) || self
            .broken_steps
            .iter()
            .any(|id| !steps.iter().any(|s| &s.id == id));
        if limited.is_empty() && refused {
            return;
        }
        if limited.is_empty() {
            self.err(
                format!("{need}, but no step limits `state_of_health`"),
                awards.span.clone(),
                format!("add a battery.gauge step with a [[step.limit]] measurement = \"state_of_health\", unit = \"%\", min = 80.0, and require it in [grading.r2_prerequisites] battery; or {instead}"),
            );
            return;
        }
        let high_enough = |w: &Lowest| w.1.is_some_and(|m| m >= 80.0);
        if let Some((s, (model, lowest, span))) = limited.iter().find(|(_, w)| !high_enough(w)) {
            let from = match lowest {
                Some(m) => format!("passes state_of_health from {m} %"),
                None => "sets no minimum for state_of_health".to_string(),
            };
            let whose = match model {
                Some(m) => format!(" for model {m}"),
                None => String::new(),
            };
            let hint = match model {
                Some(m) => format!("set min = 80.0 or more in [step.limit.models.{m}], or {instead}"),
                None => format!("set min = 80.0 on the state_of_health limit and on every per-model limit, or {instead}"),
            };
            self.err(
                format!("{need}, but step `{}` {from}{whose}", s.id),
                span.clone(),
                hint,
            );
            return;
        }
        // A missing or empty battery prerequisite is reported by check_prerequisites.
        let Some(pre) = pre.filter(|p| !p.battery.is_empty()) else {
            return;
        };
        let required = |s: &Step| {
            pre.battery.iter().any(|r| {
                r.split_once('.')
                    .is_some_and(|(id, m)| id == s.id && matches(m, "state_of_health"))
            })
        };
        if limited.iter().any(|(s, _)| required(s)) {
            return;
        }
        let id = limited.first().map_or("gauge", |(s, _)| s.id.as_str());
        let span = self
            .prerequisite_battery_span
            .clone()
            .unwrap_or(awards.span.clone());
        self.err(
            format!("{need}, but [grading.r2_prerequisites] battery does not require `{id}.state_of_health`"),
            span,
            format!("add \"{id}.state_of_health\" to battery in [grading.r2_prerequisites]: a phone gets a functioning category or a marketplace grade only when the prerequisites are met"),
        );
    }

    /// `prompt = [choices]` entries (a rule's `answer`, a prerequisite), each checked against
    /// the prompt's choices.
    fn answer_table(
        &mut self,
        a: &Node<'_>,
        prompts: &[Prompt],
        (who, owner): (&str, &str),
        example: &str,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Node::Table(entries, _) = a else {
            self.err(
                format!("{who} must be a table of prompt = [choices]"),
                a.span(),
                format!("write {example}"),
            );
            return out;
        };
        for e in entries {
            let Some(prompt) = prompts.iter().find(|p| p.id == e.key) else {
                let ids: Vec<&str> = prompts.iter().map(|p| p.id.as_str()).collect();
                self.err(
                    format!("{owner} names no prompt `{}`", e.key),
                    e.key_span.clone(),
                    format!(
                        "{}prompts are: {}",
                        suggest(e.key, &ids).unwrap_or_default(),
                        ids.join(", ")
                    ),
                );
                continue;
            };
            let choices = self.str_list(&e.node, "answers", None);
            for c in &choices {
                if !prompt.choices.contains(c) {
                    self.err(
                        format!("`{c}` is not a choice of prompt `{}`", prompt.id),
                        e.node.span(),
                        format!("choices are: {}", prompt.choices.join(", ")),
                    );
                }
            }
            out.insert(e.key.to_string(), choices);
        }
        out
    }

    /// A map from the cosmetic prompt's CTIA grades to a vocabulary (`r2_cosmetic`,
    /// `marketplace`), never mapping a better grade to a worse value.
    fn grade_map<V: Copy + Ord + std::fmt::Display>(
        &mut self,
        f: &Fields<'_, '_>,
        key: &str,
        grades: &[String],
        valid: impl Fn(&str) -> Option<V>,
        hint: &str,
        complete: bool,
    ) -> BTreeMap<CtiaCosmetic, V> {
        let mut out = BTreeMap::new();
        let mut spans = BTreeMap::new();
        match f.get(key) {
            Some(Node::Table(entries, span)) => {
                for e in entries {
                    let ctia = CtiaCosmetic::from_name(e.key);
                    if (!grades.is_empty() && !grades.iter().any(|g| g == e.key))
                        || (grades.is_empty() && ctia.is_none())
                    {
                        self.err(
                            format!("`{}` is not a cosmetic grade", e.key),
                            e.key_span.clone(),
                            if grades.is_empty() {
                                format!("cosmetic grades are {}", CtiaCosmetic::names())
                            } else {
                                format!("cosmetic grades are {}", grades.join(", "))
                            },
                        );
                        continue;
                    }
                    match &e.node {
                        Node::Str(v, vs) if valid(v).is_some() => {
                            if let (Some(g), Some(v)) = (ctia, valid(v)) {
                                out.insert(g, v);
                                spans.insert(g, vs.clone());
                            }
                        }
                        other => self.err(
                            format!("bad value for `{}` in [grading.{key}]", e.key),
                            other.span(),
                            hint.to_string(),
                        ),
                    }
                }
                if complete
                    && !grades.is_empty()
                    && grades
                        .iter()
                        .any(|g| CtiaCosmetic::from_name(g).is_some_and(|g| !out.contains_key(&g)))
                {
                    self.err(
                        format!("[grading.{key}] must map every cosmetic grade"),
                        span.clone(),
                        format!("map each of {}", grades.join(", ")),
                    );
                }
            }
            Some(other) => self.err(
                format!("[grading.{key}] must be a table"),
                other.span(),
                "write A = \"...\" per grade",
            ),
            None if complete => self.err(
                format!("missing [grading.{key}]"),
                f.span.clone(),
                hint.to_string(),
            ),
            None => {}
        }
        let ordered: Vec<(String, V, Range<usize>)> = out
            .iter()
            .filter_map(|(g, v)| Some((g.to_string(), *v, spans.get(g)?.clone())))
            .collect();
        self.check_direction(
            key,
            "CTIA cosmetic grade",
            &ordered,
            &format!("{hint}; the better the CTIA grade (A best), the same or a better value"),
        );
        out
    }

    fn rule(&mut self, n: &Node<'_>, steps: &[Step], prompts: &[Prompt]) -> Option<Rule> {
        let f = self.fields(
            n,
            "[[grading.rule]]",
            &["name", "when", "functional", "repair", "disposition"],
        )?;
        let name = self.req_str(&f, "name").map(|(s, _)| s.to_string());
        let mut when = Condition::default();
        match f.get("when") {
            Some(w) => {
                let wf = self.fields(w, "when", &["fail", "marginal", "answer", "any_fail"])?;
                let errors_before = self.diags.len();
                for key in ["fail", "marginal"] {
                    if let Some(list) = wf.get(key) {
                        let patterns = self.str_list(list, key, None);
                        let spans = match list {
                            Node::Array(items, _) => items.iter().map(|i| i.span()).collect(),
                            _ => Vec::new(),
                        };
                        for (p, span) in patterns.iter().zip(spans) {
                            self.check_measurement_ref(p, span, steps, "the rule");
                        }
                        if key == "fail" {
                            when.fail = patterns
                        } else {
                            when.marginal = patterns
                        }
                    }
                }
                if let Some(a) = wf.get("answer") {
                    when.answer = self.answer_table(
                        a,
                        prompts,
                        ("answer", "rule"),
                        "answer = { cosmetic = [\"D\", \"E\"] }",
                    );
                }
                match wf.get("any_fail") {
                    Some(Node::Bool(b, _)) => when.any_fail = *b,
                    Some(other) => self.err(
                        "any_fail must be true or false",
                        other.span(),
                        "write any_fail = true",
                    ),
                    None => {}
                }
                if self.diags.len() == errors_before
                    && when.fail.is_empty()
                    && when.marginal.is_empty()
                    && when.answer.is_empty()
                    && !when.any_fail
                {
                    self.err(
                        "the rule's condition is empty",
                        wf.span.clone(),
                        "give fail, marginal, answer or any_fail",
                    );
                }
            }
            None => self.err(
                "missing `when` in [[grading.rule]]",
                f.span.clone(),
                "add when = { fail = [\"step.measurement\"] }",
            ),
        }
        let errors_before_effect = self.diags.len();
        let functional = match f.get("functional") {
            Some(Node::Int(v, _)) if (0..=9).contains(v) => *v as u8,
            Some(other) => {
                self.err(
                    "functional must be a CTIA functional grade 0-9",
                    other.span(),
                    "0 is fully functional, 9 the worst",
                );
                0
            }
            None => 0,
        };
        let repair = match f.get("repair") {
            Some(Node::Str(s, span)) => match *s {
                "battery" => Some(Part::Battery),
                "port" => Some(Part::Port),
                "screen" => Some(Part::Screen),
                other => {
                    self.err(
                        format!("unknown part `{other}`"),
                        span.clone(),
                        "parts are battery, port and screen",
                    );
                    None
                }
            },
            Some(other) => {
                self.err(
                    "repair must be a string",
                    other.span(),
                    "write repair = \"battery\"",
                );
                None
            }
            None => None,
        };
        let disposition = match f.get("disposition") {
            Some(Node::Str("recycle", _)) => Some(RuleDisposition::Recycle),
            Some(Node::Str("parts", _)) => Some(RuleDisposition::Parts),
            Some(other) => {
                self.err("a rule's disposition can only be \"recycle\" or \"parts\"", other.span(), "repair comes from `repair`, retest from an incomplete test, resale when nothing fires");
                None
            }
            None => None,
        };
        // `functional = 0` alone changes nothing; an effect already reported is not repeated.
        let effect_reported = self.diags.len() > errors_before_effect;
        if functional == 0 && repair.is_none() && disposition.is_none() && !effect_reported {
            self.err(
                "the rule has no effect",
                f.span.clone(),
                "give it functional above 0, repair or disposition",
            );
        }
        Some(Rule {
            name: name?,
            when,
            functional,
            repair,
            disposition,
        })
    }

    /// Checks a `step.measurement` reference; `owner` names what holds it in hints ("the
    /// rule", "battery").
    fn check_measurement_ref(
        &mut self,
        reference: &str,
        span: Range<usize>,
        steps: &[Step],
        owner: &str,
    ) {
        let Some((step_id, pattern)) = reference.split_once('.') else {
            self.err(
                format!("`{reference}` does not name a measurement"),
                span,
                "write step_id.measurement, e.g. gauge.state_of_health",
            );
            return;
        };
        let Some(step) = steps.iter().find(|s| s.id == step_id) else {
            if self.broken_steps.iter().any(|s| s == step_id) && !self.diags.is_empty() {
                return;
            }
            let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
            self.err(
                format!("rule names no step `{step_id}`"),
                span,
                format!(
                    "{}steps are: {}",
                    suggest(step_id, &ids).unwrap_or_default(),
                    ids.join(", ")
                ),
            );
            return;
        };
        let names = step.procedure.measurement_names();
        let measured: Vec<&String> = names
            .iter()
            .map(|(m, _)| m)
            .filter(|m| matches(pattern, m))
            .collect();
        if measured.is_empty() {
            let list: Vec<&str> = names.iter().map(|(m, _)| m.as_str()).collect();
            self.err(
                format!("step `{step_id}` has no measurement `{pattern}`"),
                span,
                format!(
                    "{}{} measures: {}",
                    suggest(pattern, &list).unwrap_or_default(),
                    step.procedure.name(),
                    list.join(", ")
                ),
            );
            return;
        }
        let broken = self
            .broken_limits
            .iter()
            .any(|(s, p)| s == step_id && measured.iter().any(|m| matches(p, m)));
        if !broken
            && !measured
                .iter()
                .any(|m| step.limits.iter().any(|l| matches(&l.pattern, m)))
        {
            self.err(
                format!("`{reference}` has no limit in step `{step_id}`, so it can never fail"),
                span,
                format!("add a [[step.limit]] for it or remove it from {owner}"),
            );
        }
    }
}

/// The `id` string of a table and where it stands.
fn table_id<'a>(n: &Node<'a>) -> Option<(&'a str, Range<usize>)> {
    match n {
        Node::Table(entries, _) => {
            entries
                .iter()
                .find(|e| e.key == "id")
                .and_then(|e| match &e.node {
                    Node::Str(id, span) => Some((*id, span.clone())),
                    _ => None,
                })
        }
        _ => None,
    }
}

fn connector(s: &str) -> Option<Connector> {
    Connector::from_name(s)
}

/// The one range of firmware versions a plan accepts: its `firmware` range, and `>=X.Y.Z` for
/// its `min_firmware` (the older form), both when both are given; `None` when neither is.
fn accepted_firmware(
    range: Option<semver::VersionReq>,
    min: Option<(u64, u64, u64)>,
) -> Option<semver::VersionReq> {
    let Some((major, minor, patch)) = min else {
        return range;
    };
    let at_least = semver::Comparator {
        op: semver::Op::GreaterEq,
        major,
        minor: Some(minor),
        patch: Some(patch),
        pre: semver::Prerelease::EMPTY,
    };
    let mut req = range.unwrap_or(semver::VersionReq {
        comparators: Vec::new(),
    });
    req.comparators.push(at_least);
    Some(req)
}

/// `MAJOR.MINOR.PATCH`.
pub fn semver(s: &str) -> Option<(u64, u64, u64)> {
    let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
    let v = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(v)
}

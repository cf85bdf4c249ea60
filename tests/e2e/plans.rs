//! Test plans: every malformed plan is refused with the place (file:line:col), the offending
//! text and a hint, all errors at once; the standard plan and every example plan are valid.
//!
//! Data-driven (rust-analyzer style): each case is a small mutation of one minimal valid plan,
//! checked by [`check`], whose rendered errors are an insta snapshot in `snapshots/`. Review a
//! changed message by eye before accepting it (`INSTA_UPDATE=always`).

use std::path::{Path, PathBuf};

use benchctl::plan::Plan;

/// A minimal valid plan that uses every part of the format the cases mutate.
const MINIMAL: &str = r#"[plan]
id = "mini"
version = "1.0.0"
description = "Minimal plan for the validator tests"
jig_kinds = ["combo"]
min_firmware = "0.1.0"
min_protocol = 1

[models]
PX7 = { connector = "usb-c" }
IP12 = { connector = "lightning" }

[[step]]
id = "gauge"
procedure = "battery.gauge"

[[step.limit]]
measurement = "state_of_health"
unit = "%"
min = 80.0
marginal = 5.0

[[step]]
id = "dcir"
procedure = "battery.dcir"
params = { low_c = 0.2, high_c = 1.0 }
timeout_ms = 15000
retries = 1
on_fail = "skip-channel"

[[step.limit]]
measurement = "resistance"
unit = "ohm"
max = 0.350

[[step]]
id = "charge"
procedure = "port.charge"
connectors = ["usb-c", "lightning"]

[[step.limit]]
measurement = "current"
unit = "A"
min = 0.50
max = 3.0
marginal = 0.10

[step.limit.models.PX7]
min = 0.40

[[prompt]]
id = "cosmetic"
question = "Cosmetic condition (CTIA A-E)?"
choices = ["A", "B", "C", "D", "E"]

[[prompt]]
id = "pixels"
question = "Pixel check passed?"
choices = ["pass", "fail"]

[grading]
cosmetic_prompt = "cosmetic"
parts_when_repairs = 2

[grading.r2_functional]
0 = "F6"
1 = "F5"
2 = "F3"
3 = "controlled"
4 = "controlled"
5 = "controlled"
6 = "controlled"
7 = "controlled"
8 = "controlled"
9 = "controlled"

[grading.r2_cosmetic]
A = "C7"
B = "C6"
C = "C4"
D = "C3"
E = "C2"

[grading.marketplace]
A = "Premium"
B = "Excellent"
C = "Good"
D = "Fair"

[[grading.rule]]
name = "worn battery"
when = { fail = ["gauge.state_of_health"] }
functional = 1
repair = "battery"

[[grading.rule]]
name = "weak charging"
when = { marginal = ["charge.current"] }
functional = 2
repair = "port"

[[grading.rule]]
name = "dead pixels"
when = { answer = { pixels = ["fail"] } }
functional = 3
repair = "screen"

[[grading.rule]]
name = "wrecked"
when = { answer = { cosmetic = ["E"] }, any_fail = true }
disposition = "recycle"

[[prompt]]
id = "lock"
question = "Activation lock on?"
choices = ["unlocked", "locked"]

[[prompt]]
id = "sanitized"
question = "Data erasure verified?"
choices = ["verified", "failed"]

[grading.r2_prerequisites]
sanitized = { sanitized = ["verified"] }
unlocked = { lock = ["unlocked"] }
battery = ["gauge.state_of_health"]
"#;

/// The minimal plan with each `(from, to)` replaced; every `from` must occur exactly once, so a
/// case cannot silently stop mutating anything when the minimal plan changes.
fn mutate(edits: &[(&str, &str)]) -> String {
    let mut text = MINIMAL.to_string();
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur exactly once in the plan"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

/// Whether `rendered` points into `file` at a line and column (`file:LINE:COL`).
pub fn located(rendered: &str, file: &str) -> bool {
    rendered.match_indices(&format!("{file}:")).any(|(i, m)| {
        let mut parts = rendered[i + m.len()..].splitn(3, ':');
        let digits = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        digits(parts.next()) && digits(parts.next())
    })
}

/// The plan must be refused; its rendered errors are the snapshot `name`.
fn check(name: &str, text: &str) {
    let err = match Plan::parse(text, "plan.toml") {
        Ok(plan) => panic!(
            "case {name}: the plan was accepted (id {}), expected errors",
            plan.id
        ),
        Err(e) => e,
    };
    assert!(!err.diagnostics.is_empty(), "case {name}: no diagnostics");
    let rendered = err.to_string();
    assert!(
        located(&rendered, "plan.toml"),
        "case {name}: no file:line:col in\n{rendered}"
    );
    insta::assert_snapshot!(name, rendered);
}

#[test]
fn the_minimal_plan_is_valid() {
    let plan = Plan::parse(MINIMAL, "plan.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.id, "mini");
    assert_eq!(plan.steps.len(), 3);
    assert_eq!(plan.grading.rules.len(), 4);
}

// ---- syntax ------------------------------------------------------------------------------------

#[test]
fn invalid_toml_syntax() {
    check(
        "invalid_toml_syntax",
        &mutate(&[(r#"id = "gauge""#, r#"id = "gauge"#)]),
    );
}

#[test]
fn invalid_toml_duplicate_key() {
    check(
        "invalid_toml_duplicate_key",
        &mutate(&[(
            r#"version = "1.0.0""#,
            "version = \"1.0.0\"\nid = \"again\"",
        )]),
    );
}

// ---- [plan] -------------------------------------------------------------------------------------

#[test]
fn missing_plan_table() {
    let text = mutate(&[(
        "[plan]\nid = \"mini\"\nversion = \"1.0.0\"\ndescription = \"Minimal plan for the validator tests\"\njig_kinds = [\"combo\"]\nmin_firmware = \"0.1.0\"\nmin_protocol = 1\n\n",
        "",
    )]);
    check("missing_plan_table", &text);
}

#[test]
fn missing_plan_id() {
    check("missing_plan_id", &mutate(&[("id = \"mini\"\n", "")]));
}

#[test]
fn typo_in_plan_key() {
    check(
        "typo_in_plan_key",
        &mutate(&[("description =", "descripton =")]),
    );
}

#[test]
fn plan_id_not_a_plain_name() {
    check(
        "plan_id_not_a_plain_name",
        &mutate(&[(r#"id = "mini""#, r#"id = "Mini Plan""#)]),
    );
}

#[test]
fn version_not_semver() {
    check(
        "version_not_semver",
        &mutate(&[(r#"version = "1.0.0""#, r#"version = "1.0""#)]),
    );
}

#[test]
fn version_not_a_string() {
    check(
        "version_not_a_string",
        &mutate(&[(r#"version = "1.0.0""#, "version = 1.0")]),
    );
}

#[test]
fn min_firmware_not_semver() {
    check(
        "min_firmware_not_semver",
        &mutate(&[(r#"min_firmware = "0.1.0""#, r#"min_firmware = "latest""#)]),
    );
}

#[test]
fn min_protocol_too_high() {
    check(
        "min_protocol_too_high",
        &mutate(&[("min_protocol = 1", "min_protocol = 9")]),
    );
}

#[test]
fn unknown_jig_kind() {
    check(
        "unknown_jig_kind",
        &mutate(&[(
            r#"jig_kinds = ["combo"]"#,
            r#"jig_kinds = ["combo", "tablet"]"#,
        )]),
    );
}

// ---- [models] -----------------------------------------------------------------------------------

#[test]
fn unknown_connector() {
    check(
        "unknown_connector",
        &mutate(&[(
            r#"IP12 = { connector = "lightning" }"#,
            r#"IP12 = { connector = "micro-usb" }"#,
        )]),
    );
}

#[test]
fn model_without_connector() {
    check(
        "model_without_connector",
        &mutate(&[(
            r#"IP12 = { connector = "lightning" }"#,
            r#"IP12 = { port = "lightning" }"#,
        )]),
    );
}

// ---- [[step]] -----------------------------------------------------------------------------------

#[test]
fn unknown_key_in_step_with_typo() {
    check(
        "unknown_key_in_step_with_typo",
        &mutate(&[("timeout_ms = 15000", "timeout = 15000")]),
    );
}

#[test]
fn limit_written_on_the_step() {
    check(
        "limit_written_on_the_step",
        &mutate(&[(
            "on_fail = \"skip-channel\"\n",
            "on_fail = \"skip-channel\"\nmax = 0.350\n",
        )]),
    );
}

#[test]
fn missing_procedure() {
    check(
        "missing_procedure",
        &mutate(&[("procedure = \"port.charge\"\n", "")]),
    );
}

#[test]
fn unknown_procedure() {
    check(
        "unknown_procedure",
        &mutate(&[(
            r#"procedure = "battery.gauge""#,
            r#"procedure = "battery.gage""#,
        )]),
    );
}

#[test]
fn duplicate_step_id() {
    check(
        "duplicate_step_id",
        &mutate(&[(r#"id = "dcir""#, r#"id = "gauge""#)]),
    );
}

#[test]
fn unknown_param() {
    check(
        "unknown_param",
        &mutate(&[(
            "params = { low_c = 0.2, high_c = 1.0 }",
            "params = { low_c = 0.2, high_c = 1.0, hi_ms = 500 }",
        )]),
    );
}

#[test]
fn param_on_a_procedure_without_params() {
    check(
        "param_on_a_procedure_without_params",
        &mutate(&[(
            "procedure = \"battery.gauge\"\n",
            "procedure = \"battery.gauge\"\nparams = { settle_ms = 100 }\n",
        )]),
    );
}

#[test]
fn param_out_of_range() {
    check(
        "param_out_of_range",
        &mutate(&[(
            "params = { low_c = 0.2, high_c = 1.0 }",
            "params = { low_c = 0.2, high_c = 5.0 }",
        )]),
    );
}

#[test]
fn param_not_a_number() {
    check(
        "param_not_a_number",
        &mutate(&[(
            "params = { low_c = 0.2, high_c = 1.0 }",
            "params = { low_c = \"0.2\", high_c = 1.0 }",
        )]),
    );
}

#[test]
fn dcir_low_c_not_below_high_c() {
    check(
        "dcir_low_c_not_below_high_c",
        &mutate(&[(
            "params = { low_c = 0.2, high_c = 1.0 }",
            "params = { low_c = 1.0, high_c = 0.5 }",
        )]),
    );
}

#[test]
fn touch_node_min_not_below_node_max() {
    let text = mutate(&[(
        "[[prompt]]\nid = \"cosmetic\"",
        "[[step]]\nid = \"touch\"\nprocedure = \"screen.touch\"\nparams = { node_min = 9000, node_max = 2000 }\n\n[[prompt]]\nid = \"cosmetic\"",
    )]);
    check("touch_node_min_not_below_node_max", &text);
}

#[test]
fn timeout_not_positive() {
    check(
        "timeout_not_positive",
        &mutate(&[("timeout_ms = 15000", "timeout_ms = 0")]),
    );
}

#[test]
fn retries_out_of_range() {
    check(
        "retries_out_of_range",
        &mutate(&[("retries = 1", "retries = 20")]),
    );
}

#[test]
fn on_fail_unknown() {
    check(
        "on_fail_unknown",
        &mutate(&[(r#"on_fail = "skip-channel""#, r#"on_fail = "stop""#)]),
    );
}

#[test]
fn step_connector_unknown() {
    check(
        "step_connector_unknown",
        &mutate(&[(
            r#"connectors = ["usb-c", "lightning"]"#,
            r#"connectors = ["usb-c", "lightening"]"#,
        )]),
    );
}

// ---- [[step.limit]] -----------------------------------------------------------------------------

#[test]
fn wrong_unit() {
    check(
        "wrong_unit",
        &mutate(&[("unit = \"ohm\"", "unit = \"mOhm\"")]),
    );
}

#[test]
fn missing_unit() {
    check("missing_unit", &mutate(&[("unit = \"ohm\"\n", "")]));
}

#[test]
fn unknown_measurement() {
    check(
        "unknown_measurement",
        &mutate(&[(
            r#"measurement = "state_of_health""#,
            r#"measurement = "state_of_heath""#,
        )]),
    );
}

#[test]
fn glob_matching_no_measurement() {
    check(
        "glob_matching_no_measurement",
        &mutate(&[(r#"measurement = "current""#, r#"measurement = "cc*""#)]),
    );
}

#[test]
fn glob_matching_measurements_in_different_units() {
    check(
        "glob_matching_measurements_in_different_units",
        &mutate(&[(r#"measurement = "state_of_health""#, r#"measurement = "*""#)]),
    );
}

#[test]
fn unknown_key_in_limit() {
    check(
        "unknown_key_in_limit",
        &mutate(&[("max = 0.350", "maximum = 0.350")]),
    );
}

#[test]
fn limit_with_neither_min_nor_max() {
    check(
        "limit_with_neither_min_nor_max",
        &mutate(&[("min = 80.0\n", "")]),
    );
}

#[test]
fn limit_not_a_number() {
    check(
        "limit_not_a_number",
        &mutate(&[("min = 80.0", "min = \"80\"")]),
    );
}

#[test]
fn limit_not_finite() {
    check("limit_not_finite", &mutate(&[("min = 80.0", "min = nan")]));
}

#[test]
fn min_not_below_max() {
    check(
        "min_not_below_max",
        &mutate(&[("min = 0.50\nmax = 3.0", "min = 3.0\nmax = 0.50")]),
    );
}

#[test]
fn marginal_too_wide() {
    check(
        "marginal_too_wide",
        &mutate(&[("marginal = 0.10", "marginal = 1.5")]),
    );
}

#[test]
fn negative_marginal() {
    check(
        "negative_marginal",
        &mutate(&[("marginal = 5.0", "marginal = -5.0")]),
    );
}

#[test]
fn unknown_model_in_limit_override() {
    check(
        "unknown_model_in_limit_override",
        &mutate(&[("[step.limit.models.PX7]", "[step.limit.models.PX8]")]),
    );
}

#[test]
fn model_override_contradicts_the_limit() {
    check(
        "model_override_contradicts_the_limit",
        &mutate(&[("min = 0.40", "min = 4.0")]),
    );
}

#[test]
fn unknown_key_in_model_override() {
    check(
        "unknown_key_in_model_override",
        &mutate(&[("min = 0.40", "minimum = 0.40")]),
    );
}

// ---- [[prompt]] ---------------------------------------------------------------------------------

#[test]
fn prompt_without_choices() {
    check(
        "prompt_without_choices",
        &mutate(&[("choices = [\"pass\", \"fail\"]\n", "")]),
    );
}

#[test]
fn prompt_with_a_choice_twice() {
    check(
        "prompt_with_a_choice_twice",
        &mutate(&[(
            r#"choices = ["pass", "fail"]"#,
            r#"choices = ["pass", "pass"]"#,
        )]),
    );
}

// ---- [grading] ----------------------------------------------------------------------------------

#[test]
fn missing_grading() {
    let at = MINIMAL.find("[grading]").unwrap();
    check("missing_grading", &MINIMAL[..at]);
}

#[test]
fn cosmetic_prompt_names_missing_prompt() {
    check(
        "cosmetic_prompt_names_missing_prompt",
        &mutate(&[(
            r#"cosmetic_prompt = "cosmetic""#,
            r#"cosmetic_prompt = "cosmetics""#,
        )]),
    );
}

#[test]
fn cosmetic_prompt_with_non_ctia_choices() {
    check(
        "cosmetic_prompt_with_non_ctia_choices",
        &mutate(&[(
            r#"choices = ["A", "B", "C", "D", "E"]"#,
            r#"choices = ["A", "B", "C", "D", "F"]"#,
        )]),
    );
}

#[test]
fn parts_when_repairs_out_of_range() {
    check(
        "parts_when_repairs_out_of_range",
        &mutate(&[("parts_when_repairs = 2", "parts_when_repairs = 4")]),
    );
}

#[test]
fn r2_functional_incomplete() {
    check(
        "r2_functional_incomplete",
        &mutate(&[("9 = \"controlled\"\n", "")]),
    );
}

#[test]
fn r2_functional_invalid_category() {
    check(
        "r2_functional_invalid_category",
        &mutate(&[(r#"2 = "F3""#, r#"2 = "F7""#)]),
    );
}

#[test]
fn r2_functional_grade_out_of_range() {
    check(
        "r2_functional_grade_out_of_range",
        &mutate(&[(
            "9 = \"controlled\"\n",
            "9 = \"controlled\"\n10 = \"controlled\"\n",
        )]),
    );
}

#[test]
fn r2_cosmetic_invalid_category() {
    check(
        "r2_cosmetic_invalid_category",
        &mutate(&[(r#"C = "C4""#, r#"C = "C10""#)]),
    );
}

#[test]
fn r2_cosmetic_incomplete() {
    check("r2_cosmetic_incomplete", &mutate(&[("E = \"C2\"\n", "")]));
}

#[test]
fn marketplace_invalid_grade() {
    check(
        "marketplace_invalid_grade",
        &mutate(&[(r#"A = "Premium""#, r#"A = "Mint""#)]),
    );
}

// ---- R2v3 (REC v1.2: higher is better), its prerequisites, marketplace needs battery -------------

#[test]
fn r2_functional_inverted() {
    // The former standard mapping: fully functional (CTIA 0) as F1, the worst as F6.
    check(
        "r2_functional_inverted",
        &mutate(&[
            (r#"0 = "F6""#, r#"0 = "F1""#),
            (r#"9 = "controlled""#, r#"9 = "F6""#),
        ]),
    );
}

#[test]
fn r2_functional_unknown_category_with_suggestion() {
    check(
        "r2_functional_unknown_category_with_suggestion",
        &mutate(&[(r#"5 = "controlled""#, r#"5 = "Controlled""#)]),
    );
}

#[test]
fn r2_cosmetic_inverted() {
    check(
        "r2_cosmetic_inverted",
        &mutate(&[(r#"A = "C7""#, r#"A = "C1""#)]),
    );
}

#[test]
fn r2_cosmetic_max_names_unknown_category() {
    check(
        "r2_cosmetic_max_names_unknown_category",
        &mutate(&[(
            "[grading.marketplace]",
            "[grading.r2_cosmetic_max]\nF7 = \"C6\"\nF5 = \"C11\"\n\n[grading.marketplace]",
        )]),
    );
}

#[test]
fn marketplace_inverted() {
    check(
        "marketplace_inverted",
        &mutate(&[(r#"A = "Premium""#, r#"A = "Fair""#)]),
    );
}

#[test]
fn functioning_categories_without_prerequisites() {
    check(
        "functioning_categories_without_prerequisites",
        &mutate(&[(
            "[grading.r2_prerequisites]\nsanitized = { sanitized = [\"verified\"] }\nunlocked = { lock = [\"unlocked\"] }\nbattery = [\"gauge.state_of_health\"]\n",
            "",
        )]),
    );
}

#[test]
fn prerequisites_without_lock() {
    check(
        "prerequisites_without_lock",
        &mutate(&[("unlocked = { lock = [\"unlocked\"] }\n", "")]),
    );
}

#[test]
fn prerequisite_names_unknown_prompt_and_choice() {
    check(
        "prerequisite_names_unknown_prompt_and_choice",
        &mutate(&[
            (
                r#"unlocked = { lock = ["unlocked"] }"#,
                r#"unlocked = { lok = ["unlocked"] }"#,
            ),
            (
                r#"{ sanitized = ["verified"] }"#,
                r#"{ sanitized = ["yes"] }"#,
            ),
        ]),
    );
}

#[test]
fn prerequisite_battery_names_a_port_measurement() {
    check(
        "prerequisite_battery_names_a_port_measurement",
        &mutate(&[(
            r#"battery = ["gauge.state_of_health"]"#,
            r#"battery = ["gauge.state_of_health", "charge.current"]"#,
        )]),
    );
}

#[test]
fn marketplace_with_battery_health_below_80() {
    check(
        "marketplace_with_battery_health_below_80",
        &mutate(&[("min = 80.0", "min = 75.0")]),
    );
}

#[test]
fn marketplace_without_battery_prerequisite() {
    check(
        "marketplace_without_battery_prerequisite",
        &mutate(&[(
            r#"battery = ["gauge.state_of_health"]"#,
            r#"battery = ["dcir.resistance"]"#,
        )]),
    );
}

/// MINIMAL with every CTIA grade mapped to "controlled": only the marketplace needs the
/// prerequisites.
fn controlled_only(edits: &[(&str, &str)]) -> String {
    let mut all = vec![
        (r#"0 = "F6""#, r#"0 = "controlled""#),
        (r#"1 = "F5""#, r#"1 = "controlled""#),
        (r#"2 = "F3""#, r#"2 = "controlled""#),
    ];
    all.extend_from_slice(edits);
    mutate(&all)
}

#[test]
fn marketplace_without_any_prerequisites() {
    check(
        "marketplace_without_any_prerequisites",
        &controlled_only(&[(
            "[grading.r2_prerequisites]\nsanitized = { sanitized = [\"verified\"] }\nunlocked = { lock = [\"unlocked\"] }\nbattery = [\"gauge.state_of_health\"]\n",
            "",
        )]),
    );
}

#[test]
fn marketplace_without_lock_or_sanitization_prerequisites() {
    check(
        "marketplace_without_lock_or_sanitization_prerequisites",
        &controlled_only(&[
            ("unlocked = { lock = [\"unlocked\"] }\n", ""),
            ("sanitized = { sanitized = [\"verified\"] }\n", ""),
        ]),
    );
}

#[test]
fn marketplace_with_one_model_below_80() {
    check(
        "marketplace_with_one_model_below_80",
        &mutate(&[(
            "min = 80.0\nmarginal = 5.0\n",
            "min = 80.0\nmarginal = 5.0\n\n[step.limit.models.IP12]\nmin = 70.0\n",
        )]),
    );
}

#[test]
fn functioning_categories_without_battery_health() {
    check(
        "functioning_categories_without_battery_health",
        &mutate(&[
            (
                "[grading.marketplace]\nA = \"Premium\"\nB = \"Excellent\"\nC = \"Good\"\nD = \"Fair\"\n",
                "",
            ),
            (
                r#"battery = ["gauge.state_of_health"]"#,
                r#"battery = ["dcir.resistance"]"#,
            ),
        ]),
    );
}

#[test]
fn functioning_categories_with_battery_health_below_80() {
    check(
        "functioning_categories_with_battery_health_below_80",
        &mutate(&[
            (
                "[grading.marketplace]\nA = \"Premium\"\nB = \"Excellent\"\nC = \"Good\"\nD = \"Fair\"\n",
                "",
            ),
            ("min = 80.0", "min = 60.0"),
        ]),
    );
}

#[test]
fn prerequisite_that_accepts_every_answer() {
    check(
        "prerequisite_that_accepts_every_answer",
        &mutate(&[(
            r#"{ sanitized = ["verified"] }"#,
            r#"{ sanitized = ["verified", "failed"] }"#,
        )]),
    );
}

#[test]
fn marketplace_in_a_plan_that_never_measures_the_battery() {
    let text = r#"[plan]
id = "port-check"
version = "1.0.0"
description = "Port check that sells phones"

[[step]]
id = "charge"
procedure = "port.charge"

[[step.limit]]
measurement = "current"
unit = "A"
min = 0.50

[[prompt]]
id = "cosmetic"
question = "Cosmetic condition (CTIA A-E)?"
choices = ["A", "B", "C", "D", "E"]

[grading]
cosmetic_prompt = "cosmetic"
r2_functional = { 0 = "controlled", 1 = "controlled", 2 = "controlled", 3 = "controlled", 4 = "controlled", 5 = "controlled", 6 = "controlled", 7 = "controlled", 8 = "controlled", 9 = "controlled" }
r2_cosmetic = { A = "C7", B = "C6", C = "C4", D = "C3", E = "C2" }
marketplace = { A = "Premium", B = "Excellent", C = "Good", D = "Fair" }

[[grading.rule]]
name = "does not charge"
when = { fail = ["charge.current"] }
functional = 4
repair = "port"
"#;
    check(
        "marketplace_in_a_plan_that_never_measures_the_battery",
        text,
    );
}

#[test]
fn rule_disposition_parts_is_accepted() {
    let text = mutate(&[(
        "name = \"wrecked\"\nwhen = { answer = { cosmetic = [\"E\"] }, any_fail = true }\ndisposition = \"recycle\"",
        "name = \"locked\"\nwhen = { answer = { lock = [\"locked\"] } }\ndisposition = \"parts\"",
    )]);
    let plan = Plan::parse(&text, "plan.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.grading.rules.len(), 4);
}

// ---- [[grading.rule]] ---------------------------------------------------------------------------

#[test]
fn rule_names_missing_step() {
    check(
        "rule_names_missing_step",
        &mutate(&[(
            r#"fail = ["gauge.state_of_health"]"#,
            r#"fail = ["gage.state_of_health"]"#,
        )]),
    );
}

#[test]
fn rule_names_missing_measurement() {
    check(
        "rule_names_missing_measurement",
        &mutate(&[(
            r#"fail = ["gauge.state_of_health"]"#,
            r#"fail = ["gauge.state_of_heath"]"#,
        )]),
    );
}

#[test]
fn rule_names_measurement_without_limit() {
    check(
        "rule_names_measurement_without_limit",
        &mutate(&[(
            r#"fail = ["gauge.state_of_health"]"#,
            r#"fail = ["gauge.cycle_count"]"#,
        )]),
    );
}

#[test]
fn rule_names_no_measurement_at_all() {
    check(
        "rule_names_no_measurement_at_all",
        &mutate(&[(
            r#"fail = ["gauge.state_of_health"]"#,
            r#"fail = ["state_of_health"]"#,
        )]),
    );
}

#[test]
fn rule_names_unknown_prompt() {
    check(
        "rule_names_unknown_prompt",
        &mutate(&[(
            "answer = { pixels = [\"fail\"] }",
            "answer = { pixel = [\"fail\"] }",
        )]),
    );
}

#[test]
fn rule_with_invalid_answer_choice() {
    check(
        "rule_with_invalid_answer_choice",
        &mutate(&[(
            "answer = { pixels = [\"fail\"] }",
            "answer = { pixels = [\"broken\"] }",
        )]),
    );
}

#[test]
fn rule_with_empty_condition() {
    check(
        "rule_with_empty_condition",
        &mutate(&[("when = { marginal = [\"charge.current\"] }", "when = { }")]),
    );
}

#[test]
fn rule_with_only_any_fail_false() {
    check(
        "rule_with_only_any_fail_false",
        &mutate(&[(
            "when = { marginal = [\"charge.current\"] }",
            "when = { any_fail = false }",
        )]),
    );
}

#[test]
fn rule_without_when() {
    check(
        "rule_without_when",
        &mutate(&[("when = { marginal = [\"charge.current\"] }\n", "")]),
    );
}

#[test]
fn rule_without_effect() {
    check(
        "rule_without_effect",
        &mutate(&[("functional = 1\nrepair = \"battery\"\n", "")]),
    );
}

#[test]
fn rule_whose_only_effect_is_functional_zero() {
    check(
        "rule_whose_only_effect_is_functional_zero",
        &mutate(&[("functional = 1\nrepair = \"battery\"\n", "functional = 0\n")]),
    );
}

#[test]
fn rule_disposition_other_than_recycle_or_parts() {
    check(
        "rule_disposition_other_than_recycle_or_parts",
        &mutate(&[(r#"disposition = "recycle""#, r#"disposition = "resale""#)]),
    );
}

#[test]
fn rule_repairs_unknown_part() {
    check(
        "rule_repairs_unknown_part",
        &mutate(&[(r#"repair = "screen""#, r#"repair = "camera""#)]),
    );
}

#[test]
fn rule_functional_out_of_range() {
    check(
        "rule_functional_out_of_range",
        &mutate(&[("functional = 3", "functional = 10")]),
    );
}

#[test]
fn rule_condition_not_a_list() {
    check(
        "rule_condition_not_a_list",
        &mutate(&[(
            r#"fail = ["gauge.state_of_health"]"#,
            r#"fail = "gauge.state_of_health""#,
        )]),
    );
}

// ---- several at once ----------------------------------------------------------------------------

#[test]
fn several_errors_are_reported_together() {
    let text = mutate(&[
        (r#"version = "1.0.0""#, r#"version = "one""#),
        (
            r#"procedure = "battery.dcir""#,
            r#"procedure = "battery.dcr""#,
        ),
        ("unit = \"A\"", "unit = \"mA\""),
        ("min = 80.0", "min = 90.0\nmax = 85.0"),
        (r#"repair = "screen""#, r#"repair = "display""#),
        (
            r#"cosmetic_prompt = "cosmetic""#,
            r#"cosmetic_prompt = "looks""#,
        ),
    ]);
    check("several_errors_are_reported_together", &text);
}

// ---- the shipped plans ------------------------------------------------------------------------

fn test_plans() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-plans")
}

#[test]
fn the_standard_plan_and_every_example_plan_are_valid() {
    Plan::standard().unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(test_plans())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "standard-refurb.toml",
        "battery-only.toml",
        "port-only.toml",
        "screen-only.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "test-plans/{expected} is missing: {names:?}"
        );
    }
    for file in &files {
        let plan = Plan::load(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.hash.len(), 64, "{}", file.display());
        assert!(
            !plan.steps.is_empty() && !plan.grading.rules.is_empty(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_plan_identity_is_the_hash_of_the_file_bytes() {
    let a = Plan::parse(MINIMAL, "a.toml").unwrap();
    let b = Plan::parse(
        &format!("{MINIMAL}# a comment changes the identity\n"),
        "b.toml",
    )
    .unwrap();
    assert_eq!(a.hash.len(), 64);
    assert_ne!(a.hash, b.hash);
    assert_eq!(
        (a.id.as_str(), a.version.as_str()),
        (b.id.as_str(), b.version.as_str())
    );
}

#[test]
fn duplicate_prompt_id() {
    check(
        "duplicate_prompt_id",
        &mutate(&[(r#"id = "pixels""#, r#"id = "cosmetic""#)]),
    );
}

#[test]
fn step_id_with_a_dot() {
    check(
        "step_id_with_a_dot",
        &mutate(&[(r#"id = "charge""#, r#"id = "port.charge""#)]),
    );
}

#[test]
fn jig_kind_without_the_channels_the_steps_use() {
    check(
        "jig_kind_without_the_channels_the_steps_use",
        &mutate(&[(r#"jig_kinds = ["combo"]"#, r#"jig_kinds = ["battery"]"#)]),
    );
}

#[test]
fn two_limits_on_one_measurement() {
    check(
        "two_limits_on_one_measurement",
        &mutate(&[(
            "max = 0.350\n",
            "max = 0.350\n\n[[step.limit]]\nmeasurement = \"resist*\"\nunit = \"ohm\"\nmax = 0.5\n",
        )]),
    );
}

#[test]
fn model_override_not_a_table() {
    check(
        "model_override_not_a_table",
        &mutate(&[("marginal = 5.0\n", "marginal = 5.0\nmodels = \"PX7\"\n")]),
    );
}

#[test]
fn empty_model_override() {
    check(
        "empty_model_override",
        &mutate(&[(
            "[step.limit.models.PX7]\nmin = 0.40",
            "[step.limit.models.PX7]",
        )]),
    );
}

/// `benchctl plan check <path>`, killed if it runs too long.
fn plan_check(path: &Path) -> std::process::Output {
    let mut c = crate::harness::benchctl();
    c.args(["plan", "check"]).arg(path);
    crate::harness::finish(c)
}

#[test]
fn plan_check_on_a_fifo_exits_2_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plan.toml");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let out = plan_check(&fifo);
    let err = crate::harness::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is a FIFO (named pipe), not a regular file"),
        "{err}"
    );
    assert!(err.contains("give the path of a plan file"), "{err}");
}

#[test]
fn plan_check_on_a_device_exits_2_without_reading_it() {
    let out = plan_check(Path::new("/dev/zero"));
    let err = crate::harness::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is a character device"), "{err}");
}

#[test]
fn plan_check_on_an_oversized_plan_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    let mut text = MINIMAL.to_string();
    text.push_str(&"# padding\n".repeat(120_000));
    std::fs::write(&big, text).unwrap();
    let out = plan_check(&big);
    let err = crate::harness::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a plan may hold"), "{err}");
}

#[test]
fn the_readme_documents_every_procedure() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-plans/README.md"
    ))
    .unwrap();
    let table = benchctl::plan::catalogue::markdown();
    assert!(
        readme.contains(&table),
        "test-plans/README.md must carry the procedure catalogue exactly as:\n{table}"
    );
}

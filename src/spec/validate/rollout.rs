//! `[rollout]`: the canary's steps.

use toml::Spanned;

use super::{Checker, span_or};
use crate::spec::{RolloutSpec, Strategy};

/// What a valid list looks like, for every error's help.
const STEPS_HELP: &str =
    "give increasing percentages from 1 to 100 that end at 100, e.g. `steps = [5, 25, 100]`";

/// A canary's steps increase within 1..=100 and end at 100; `all-at-once` takes none.
pub(super) fn check(c: &mut Checker, rollout: &RolloutSpec) {
    let steps = &rollout.steps;
    let written = !(steps.span().is_empty() && steps.span().start == 0);
    match *rollout.strategy.get_ref() {
        Strategy::AllAtOnce if written => c.err(
            "rollout.steps",
            steps.span(),
            "steps apply to the canary strategy only".to_string(),
            "set `strategy = \"canary\"` to roll out in steps, or remove `steps`",
        ),
        Strategy::AllAtOnce => {}
        Strategy::Canary => check_steps(c, steps),
    }
}

fn check_steps(c: &mut Checker, steps: &Spanned<Vec<Spanned<i64>>>) {
    let Some(last) = steps.get_ref().last() else {
        let message = "a canary needs at least one step".to_string();
        c.err("rollout.steps", steps.span(), message, STEPS_HELP);
        return;
    };
    let mut before = 0;
    for step in steps.get_ref() {
        let v = *step.get_ref();
        let problem = if !(1..=100).contains(&v) {
            Some(format!("step {v} is not a percentage from 1 to 100"))
        } else if v <= before {
            Some(format!(
                "step {v} does not increase on the step before it ({before})"
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            c.err(
                "rollout.steps",
                span_or(step.span(), steps.span()),
                message,
                STEPS_HELP,
            );
        }
        before = before.max(v);
    }
    // A last step out of range has its own error already.
    if (1..100).contains(last.get_ref()) {
        let message = format!("the last step is {}, not 100", last.get_ref());
        c.err(
            "rollout.steps",
            span_or(last.span(), steps.span()),
            message,
            STEPS_HELP,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;
    use crate::spec::{SourceFile, load};

    /// (message, the text the error points at) of each problem `[rollout]` has.
    fn problems(rollout: &str) -> Vec<(String, String)> {
        let base = include_str!("../../../examples/iris-sklearn/mlgen.toml");
        let text = format!("{base}\n[rollout]\n{rollout}\n");
        let file = SourceFile {
            path: "mlgen.toml".into(),
            text: text.clone(),
        };
        let s = load::parse(&file).expect("the spec parses");
        run(|c| check(c, &s.rollout))
            .into_iter()
            .map(|d| (d.message, text[d.span].to_string()))
            .collect()
    }

    #[test]
    fn canary_steps_increase_to_100() {
        assert!(problems("strategy = \"canary\"").is_empty());
        assert!(problems("strategy = \"canary\"\nsteps = [5, 25, 100]").is_empty());
        assert!(problems("strategy = \"canary\"\nsteps = [100]").is_empty());
        assert!(problems("strategy = \"all-at-once\"").is_empty());
    }

    #[test]
    fn bad_steps_are_each_located() {
        let cases = [
            ("[]", "a canary needs at least one step", "[]"),
            (
                "[5, 0, 100]",
                "step 0 is not a percentage from 1 to 100",
                "0",
            ),
            (
                "[5, 101]",
                "step 101 is not a percentage from 1 to 100",
                "101",
            ),
            (
                "[25, 5, 100]",
                "step 5 does not increase on the step before it (25)",
                "5",
            ),
            (
                "[5, 5, 100]",
                "step 5 does not increase on the step before it (5)",
                "5",
            ),
            ("[5, 25]", "the last step is 25, not 100", "25"),
        ];
        for (steps, message, at) in cases {
            let found = problems(&format!("strategy = \"canary\"\nsteps = {steps}"));
            assert_eq!(found.len(), 1, "{steps}: {found:?}");
            assert_eq!(found[0].0, message, "{steps}");
            assert_eq!(found[0].1, at, "{steps}: the error points at the value");
        }
    }

    #[test]
    fn all_at_once_takes_no_steps() {
        let found = problems("steps = [5, 100]");
        assert_eq!(found[0].0, "steps apply to the canary strategy only");
    }
}

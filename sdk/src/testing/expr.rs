//! A small evaluator for the CEL subset that Inngest `if` and `expression` strings use
//! (docs/protocol.md §1.4), so the fake executor can match `waitForEvent`, `cancel` and triggers.
//!
//! Supported: variables and member paths (`event.data.id`, `event.data["key"]`), string
//! literals in single or double quotes, integers and floats (compared numerically, so
//! `1 == 1.0`), `true`, `false`, `null`, list literals, `== != < <= > >= in`, `&& || !`,
//! `+` (numbers, strings, lists), `-`, parentheses and `a ? b : c`.
//!
//! It is deliberately more lenient than CEL where the executor is lenient in practice: a
//! missing field evaluates to `null`, an ordering comparison between values of different
//! types is `false` rather than an error, and `&&`, `||`, `!` and `?:` treat only `true` as
//! true.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use self::ast::Node;
use self::eval::{eval, is_true};
use self::lexer::Lexer;
use self::parser::Parser;

pub use self::error::{ExprError, MAX_DEPTH, MAX_EXPRESSION_LEN};

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;

/// A parsed expression, ready to be evaluated any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    /// The original text, kept for `Display` and error reports.
    source: String,
    /// The syntax tree; its height is at most [`MAX_DEPTH`].
    root: Node,
}

impl Expression {
    /// Parses `src`.
    ///
    /// # Errors
    ///
    /// [`ExprError::TooLong`], [`ExprError::TooDeep`] or [`ExprError::Syntax`].
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(ExprError::TooLong { len: src.len() });
        }
        let tokens = Lexer::new(src).tokenize()?;
        let root = Parser::new(tokens).parse()?;
        Ok(Self {
            source: src.to_owned(),
            root,
        })
    }

    /// Evaluates the expression with the given variables, e.g. `[("event", &e), ("async", &a)]`.
    ///
    /// # Errors
    ///
    /// [`ExprError::UnknownVariable`] for an unbound name, [`ExprError::TypeMismatch`] or
    /// [`ExprError::Overflow`] for unsupported arithmetic or `in` operands.
    pub fn eval(&self, vars: &[(&str, &Value)]) -> Result<Value, ExprError> {
        eval(&self.root, vars).map(Cow::into_owned)
    }

    /// Evaluates the expression and reports whether the result is exactly `true`.
    ///
    /// # Errors
    ///
    /// As [`Expression::eval`].
    pub fn matches(&self, vars: &[(&str, &Value)]) -> Result<bool, ExprError> {
        eval(&self.root, vars).map(|value| is_true(&value))
    }

    /// The source text this expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl FromStr for Expression {
    type Err = ExprError;

    fn from_str(src: &str) -> Result<Self, Self::Err> {
        Self::parse(src)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval_with(src: &str, event: &Value, async_event: &Value) -> Value {
        Expression::parse(src)
            .expect("test expression parses")
            .eval(&[("event", event), ("async", async_event)])
            .expect("test expression evaluates")
    }

    fn eval_plain(src: &str) -> Value {
        eval_with(src, &Value::Null, &Value::Null)
    }

    fn matches_with(src: &str, event: &Value, async_event: &Value) -> bool {
        Expression::parse(src)
            .expect("test expression parses")
            .matches(&[("event", event), ("async", async_event)])
            .expect("test expression evaluates")
    }

    #[test]
    fn wait_for_event_resume_expression_matches_same_id_only() {
        let src = "async.data.resume == true && async.data.id == event.data.id";
        let event = json!({"data": {"id": "42"}});
        let resume = json!({"data": {"resume": true, "id": "42"}});
        let other = json!({"data": {"resume": true, "id": "43"}});
        let not_resume = json!({"data": {"resume": false, "id": "42"}});
        assert!(matches_with(src, &event, &resume));
        assert!(!matches_with(src, &event, &other));
        assert!(!matches_with(src, &event, &not_resume));
    }

    #[test]
    fn request_id_and_clerk_user_id_correlations_match() {
        let event = json!({"data": {"request_id": "r1", "clerk_user_id": "user_1"}});
        let same = json!({"data": {"request_id": "r1", "clerk_user_id": "user_1"}});
        let different = json!({"data": {"request_id": "r2", "clerk_user_id": "user_2"}});
        for src in [
            "async.data.request_id == event.data.request_id",
            "async.data.clerk_user_id == event.data.clerk_user_id",
        ] {
            assert!(matches_with(src, &event, &same), "{src}");
            assert!(!matches_with(src, &event, &different), "{src}");
        }
    }

    #[test]
    fn failure_handler_trigger_matches_the_function_id() {
        let src = "event.data.function_id == 'app-fn'";
        let failed = json!({"data": {"function_id": "app-fn"}});
        let other = json!({"data": {"function_id": "app-other"}});
        assert!(matches_with(src, &failed, &Value::Null));
        assert!(!matches_with(src, &other, &Value::Null));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(eval_plain("true || false && false"), json!(true));
        assert_eq!(eval_plain("false && true || true"), json!(true));
        assert_eq!(eval_plain("1 + 2 == 3 && 'a' < 'b'"), json!(true));
        assert_eq!(eval_plain("!false && !(1 == 2)"), json!(true));
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(eval_plain("(true || false) && false"), json!(false));
        assert_eq!(eval_plain("1 - (2 - 3)"), json!(2));
        assert_eq!(eval_plain("1 - 2 - 3"), json!(-4));
    }

    #[test]
    fn ternary_picks_a_branch_and_nests_to_the_right() {
        assert_eq!(eval_plain("1 < 2 ? 'yes' : 'no'"), json!("yes"));
        assert_eq!(eval_plain("false ? 1 : true ? 2 : 3"), json!(2));
        assert_eq!(eval_plain("null ? 1 : 2"), json!(2));
    }

    #[test]
    fn in_tests_list_membership_and_map_keys() {
        let event = json!({"data": {"plan": "pro", "tags": ["a", 2]}});
        assert!(matches_with(
            "event.data.plan in ['free', \"pro\"]",
            &event,
            &Value::Null
        ));
        assert!(!matches_with(
            "event.data.plan in ['free']",
            &event,
            &Value::Null
        ));
        assert!(matches_with("2.0 in event.data.tags", &event, &Value::Null));
        assert!(matches_with("'plan' in event.data", &event, &Value::Null));
        assert!(!matches_with(
            "'x' in event.data.missing",
            &event,
            &Value::Null
        ));
        assert!(matches_with("1 in [1,]", &event, &Value::Null));
        assert!(!matches_with("1 in []", &event, &Value::Null));
    }

    #[test]
    fn missing_fields_are_null_and_compare_false() {
        let event = json!({"data": {"n": 5}});
        let async_event = json!({"data": {}});
        assert!(matches_with(
            "async.data.missing == null",
            &event,
            &async_event
        ));
        assert!(matches_with(
            "async.data.a.b.c == null",
            &event,
            &async_event
        ));
        assert!(!matches_with(
            "async.data.missing == event.data.n",
            &event,
            &async_event
        ));
        assert!(!matches_with(
            "async.data.missing < 1",
            &event,
            &async_event
        ));
        assert!(!matches_with(
            "async.data.missing >= 1",
            &event,
            &async_event
        ));
        assert!(!matches_with(
            "event.data.n.deeper == 5",
            &event,
            &async_event
        ));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(eval_plain("1 == 1.0"), json!(true));
        assert_eq!(eval_plain("1 != 1.5"), json!(true));
        assert_eq!(eval_plain("2 > 1.5 && 1e2 == 100"), json!(true));
        assert_eq!(eval_plain("-1 < 0"), json!(true));
        assert_eq!(eval_plain("[1, 'a'] == [1.0, \"a\"]"), json!(true));
    }

    #[test]
    fn plus_adds_numbers_and_concatenates_strings_and_lists() {
        assert_eq!(eval_plain("1 + 2"), json!(3));
        assert_eq!(eval_plain("1 + 0.5"), json!(1.5));
        assert_eq!(eval_plain("'app' + '-' + \"fn\""), json!("app-fn"));
        assert_eq!(eval_plain("[1] + [2]"), json!([1, 2]));
        assert_eq!(
            eval_plain("9223372036854775807 + 1"),
            json!(9_223_372_036_854_775_808.0)
        );
    }

    #[test]
    fn plus_on_mismatched_types_is_an_error() {
        let err = Expression::parse("'a' + 1")
            .expect("parses")
            .eval(&[])
            .expect_err("string + number is a type error");
        assert_eq!(
            err,
            ExprError::TypeMismatch {
                op: "+",
                left: "string",
                right: "number"
            }
        );
    }

    #[test]
    fn bracket_access_reads_map_keys_and_list_elements() {
        let event = json!({"data": {"odd key": "v", "items": [10, 20]}});
        assert_eq!(
            eval_with("event.data[\"odd key\"]", &event, &Value::Null),
            json!("v")
        );
        assert_eq!(
            eval_with("event['data']['items'][1]", &event, &Value::Null),
            json!(20)
        );
        assert_eq!(
            eval_with("event.data.items[5]", &event, &Value::Null),
            Value::Null
        );
        assert_eq!(eval_with("[1, 2][0]", &event, &Value::Null), json!(1));
    }

    #[test]
    fn string_escapes_are_decoded() {
        assert_eq!(eval_plain(r#"'it\'s'"#), json!("it's"));
        assert_eq!(eval_plain(r#""say \"hi\"\n""#), json!("say \"hi\"\n"));
        assert_eq!(eval_plain(r"'\u00e9\\'"), json!("é\\"));
        assert_eq!(eval_plain("'héllo' == \"héllo\""), json!(true));
    }

    #[test]
    fn only_true_is_truthy() {
        let event = json!({"data": {"flag": "true", "one": 1}});
        assert!(!matches_with("event.data.flag", &event, &Value::Null));
        assert!(!matches_with("event.data.one", &event, &Value::Null));
        assert!(!matches_with("event.data.missing", &event, &Value::Null));
        assert!(matches_with("!event.data.missing", &event, &Value::Null));
    }

    #[test]
    fn and_or_short_circuit_past_errors() {
        assert_eq!(eval_plain("false && ('a' + 1 == 2)"), json!(false));
        assert_eq!(eval_plain("true || ('a' + 1 == 2)"), json!(true));
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let err = Expression::parse("evnt.data.id == 1")
            .expect("parses")
            .matches(&[])
            .expect_err("unbound variable");
        assert_eq!(err, ExprError::UnknownVariable("evnt".into()));
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflowing_the_stack() {
        let parens = format!("{}1{}", "(".repeat(2_000), ")".repeat(2_000));
        let nots = format!("{}true", "!".repeat(2_000));
        let chain = vec!["a"; 1_000].join("+");
        let members = format!("event{}", ".x".repeat(1_000));
        for src in [parens, nots, chain, members] {
            assert_eq!(Expression::parse(&src), Err(ExprError::TooDeep));
        }
    }

    #[test]
    fn moderate_nesting_is_accepted() {
        let src = format!("{}1{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(eval_plain(&src), json!(1));
    }

    #[test]
    fn overlong_source_is_rejected() {
        let src = format!("'{}'", "a".repeat(MAX_EXPRESSION_LEN));
        assert_eq!(
            Expression::parse(&src),
            Err(ExprError::TooLong {
                len: MAX_EXPRESSION_LEN + 2
            })
        );
    }

    #[test]
    fn unterminated_string_is_rejected() {
        for src in ["event.data.id == 'abc", "\"abc", "'abc\\"] {
            assert!(
                matches!(
                    Expression::parse(src),
                    Err(ExprError::Syntax {
                        message: "unterminated string literal",
                        ..
                    })
                ),
                "{src}"
            );
        }
    }

    #[test]
    fn malformed_expressions_are_syntax_errors() {
        for src in [
            "", "a ==", "a b", "(a", "[1, 2", "a ? b", "a.", "a.1", "#", "1e", "'\\q'", "'\\u12'",
        ] {
            assert!(
                matches!(Expression::parse(src), Err(ExprError::Syntax { .. })),
                "{src:?}"
            );
        }
    }

    #[test]
    fn expression_displays_its_source_and_parses_from_str() {
        let expr: Expression = "event.data.id == 1".parse().expect("parses");
        assert_eq!(expr.to_string(), "event.data.id == 1");
        assert_eq!(expr.source(), "event.data.id == 1");
    }
}

//! Evaluates a syntax tree against JSON variables.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ast::{BinaryOp, Node};
use super::error::ExprError;

/// Shared `null` for missing fields, so lookups can borrow instead of allocating.
static NULL: Value = Value::Null;

/// Evaluates `node`, borrowing from the variables and literals wherever possible.
pub(super) fn eval<'a>(
    node: &'a Node,
    vars: &[(&str, &'a Value)],
) -> Result<Cow<'a, Value>, ExprError> {
    Ok(match node {
        Node::Literal(value) => Cow::Borrowed(value),
        Node::Variable(name) => Cow::Borrowed(lookup(name, vars)?),
        Node::Member(object, field) => {
            let object = eval(object, vars)?;
            project(object, |v| v.get(field.as_str()))
        }
        Node::Index(container, key) => {
            let container = eval(container, vars)?;
            let key = eval(key, vars)?;
            project(container, |v| index(v, &key))
        }
        Node::List(items) => Cow::Owned(Value::Array(
            items
                .iter()
                .map(|item| eval(item, vars).map(Cow::into_owned))
                .collect::<Result<_, _>>()?,
        )),
        Node::Not(operand) => Cow::Owned(Value::Bool(!is_true(&*eval(operand, vars)?))),
        Node::Negate(operand) => Cow::Owned(negate(&*eval(operand, vars)?)?),
        Node::Binary(op, left, right) => binary(*op, left, right, vars)?,
        Node::Conditional(condition, then, otherwise) => {
            if is_true(&*eval(condition, vars)?) {
                eval(then, vars)?
            } else {
                eval(otherwise, vars)?
            }
        }
    })
}

fn lookup<'a>(name: &str, vars: &[(&str, &'a Value)]) -> Result<&'a Value, ExprError> {
    vars.iter()
        .find(|(var, _)| *var == name)
        .map(|(_, value)| *value)
        .ok_or_else(|| ExprError::UnknownVariable(name.to_owned()))
}

/// Applies a field or element lookup to a borrowed or owned value; a miss is `null`.
fn project<'a>(value: Cow<'a, Value>, get: impl Fn(&Value) -> Option<&Value>) -> Cow<'a, Value> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(get(v).unwrap_or(&NULL)),
        Cow::Owned(v) => Cow::Owned(get(&v).cloned().unwrap_or(Value::Null)),
    }
}

/// `container[key]`: a string key on a map, a non-negative integer on a list.
fn index<'v>(container: &'v Value, key: &Value) -> Option<&'v Value> {
    match key {
        Value::String(field) => container.get(field.as_str()),
        Value::Number(n) => container.get(usize::try_from(n.as_u64()?).ok()?),
        _ => None,
    }
}

fn binary<'a>(
    op: BinaryOp,
    left: &'a Node,
    right: &'a Node,
    vars: &[(&str, &'a Value)],
) -> Result<Cow<'a, Value>, ExprError> {
    let left = eval(left, vars)?;
    // `&&` and `||` short-circuit, so the right side may refer to things the left ruled out.
    match op {
        BinaryOp::And if !is_true(&left) => return Ok(Cow::Owned(Value::Bool(false))),
        BinaryOp::Or if is_true(&left) => return Ok(Cow::Owned(Value::Bool(true))),
        _ => {}
    }
    let right = eval(right, vars)?;
    let ordering = || compare(&left, &right);
    let value = match op {
        BinaryOp::And | BinaryOp::Or => Value::Bool(is_true(&right)),
        BinaryOp::Eq => Value::Bool(equal(&left, &right)),
        BinaryOp::Ne => Value::Bool(!equal(&left, &right)),
        BinaryOp::Lt => Value::Bool(ordering() == Some(Ordering::Less)),
        BinaryOp::Le => Value::Bool(matches!(ordering(), Some(Ordering::Less | Ordering::Equal))),
        BinaryOp::Gt => Value::Bool(ordering() == Some(Ordering::Greater)),
        BinaryOp::Ge => Value::Bool(matches!(
            ordering(),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        BinaryOp::In => Value::Bool(contains(&right, &left)?),
        BinaryOp::Add => add(&left, &right)?,
        BinaryOp::Sub => subtract(&left, &right)?,
    };
    Ok(Cow::Owned(value))
}

/// Truthiness: only the boolean `true` is true.
pub(super) fn is_true(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

/// Structural equality where numbers compare by value, so `1 == 1.0`.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| equal(x, y)))
        }
        _ => left == right,
    }
}

/// Ordering of two numbers or two strings; `None` for anything else (so `<` is `false`).
fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// `needle in haystack`: list membership, or key membership for a map; a missing (`null`)
/// haystack contains nothing.
fn contains(haystack: &Value, needle: &Value) -> Result<bool, ExprError> {
    match haystack {
        Value::Array(items) => Ok(items.iter().any(|item| equal(item, needle))),
        Value::Object(map) => Ok(needle.as_str().is_some_and(|key| map.contains_key(key))),
        Value::Null => Ok(false),
        _ => Err(mismatch("in", needle, haystack)),
    }
}

fn add(left: &Value, right: &Value) -> Result<Value, ExprError> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => {
            arithmetic("+", a, b, i64::checked_add, |x, y| x + y)
        }
        (Value::String(a), Value::String(b)) => Ok(Value::String(format!("{a}{b}"))),
        (Value::Array(a), Value::Array(b)) => {
            Ok(Value::Array(a.iter().chain(b).cloned().collect()))
        }
        _ => Err(mismatch("+", left, right)),
    }
}

fn subtract(left: &Value, right: &Value) -> Result<Value, ExprError> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => {
            arithmetic("-", a, b, i64::checked_sub, |x, y| x - y)
        }
        _ => Err(mismatch("-", left, right)),
    }
}

fn negate(value: &Value) -> Result<Value, ExprError> {
    let Value::Number(n) = value else {
        return Err(mismatch("-", value, value));
    };
    arithmetic("-", &Number::from(0), n, i64::checked_sub, |x, y| x - y)
}

/// Integer arithmetic when both sides are integers and the result fits, float otherwise.
fn arithmetic(
    op: &'static str,
    a: &Number,
    b: &Number,
    int_op: fn(i64, i64) -> Option<i64>,
    float_op: fn(f64, f64) -> f64,
) -> Result<Value, ExprError> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(result) = int_op(x, y) {
            return Ok(Value::from(result));
        }
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Err(ExprError::Overflow { op });
    };
    Number::from_f64(float_op(x, y))
        .map(Value::Number)
        .ok_or(ExprError::Overflow { op })
}

fn mismatch(op: &'static str, left: &Value, right: &Value) -> ExprError {
    ExprError::TypeMismatch {
        op,
        left: type_name(left),
        right: type_name(right),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

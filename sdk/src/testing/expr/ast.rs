//! The syntax tree that the parser builds and the evaluator walks.

use serde_json::Value;

/// A node of the parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Literal(Value),
    Variable(String),
    Member(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    List(Vec<Node>),
    Not(Box<Node>),
    Negate(Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    Conditional(Box<Node>, Box<Node>, Box<Node>),
}

/// Binary operators, by precedence level from loosest to tightest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
}

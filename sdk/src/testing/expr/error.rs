//! The limits of an expression and why one cannot be parsed or evaluated: shared by the
//! lexer, the parser and the evaluator, below all three.

/// Longest accepted expression source, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 4 * 1024;

/// Deepest accepted nesting of the parsed expression.
///
/// Parsing and evaluation recurse over the tree, so this bound is what keeps a hostile
/// expression such as `((((…))))` or `a+a+a+…` from overflowing the stack.
pub const MAX_DEPTH: usize = 64;

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The source is longer than [`MAX_EXPRESSION_LEN`].
    #[error("expression is {len} bytes long; the limit is {MAX_EXPRESSION_LEN}")]
    TooLong {
        /// Length of the rejected source in bytes.
        len: usize,
    },
    /// The expression nests deeper than [`MAX_DEPTH`].
    #[error("expression nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The source is not a valid expression.
    #[error("syntax error at byte {offset}: {message}")]
    Syntax {
        /// Byte offset of the offending token.
        offset: usize,
        /// What was wrong there.
        message: &'static str,
    },
    /// The expression names a variable that was not supplied.
    #[error("unknown variable `{0}`")]
    UnknownVariable(String),
    /// An operator was applied to values it does not support.
    #[error("cannot apply `{op}` to {left} and {right}")]
    TypeMismatch {
        /// The operator.
        op: &'static str,
        /// Type of the left (or only) operand.
        left: &'static str,
        /// Type of the right operand.
        right: &'static str,
    },
    /// Arithmetic produced a number JSON cannot hold.
    #[error("numeric overflow in `{op}`")]
    Overflow {
        /// The operator.
        op: &'static str,
    },
}

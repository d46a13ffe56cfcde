//! A small evaluator for the CEL subset that Inngest `if` and `expression` strings use
//! (Protocol §1.4), so the fake executor can match `waitForEvent`, `cancel` and triggers.
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
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::{Number, Value};

/// Longest accepted expression source, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 4 * 1024;

/// Deepest accepted nesting of the parsed expression.
///
/// Parsing and evaluation recurse over the tree, so this bound is what keeps a hostile
/// expression such as `((((…))))` or `a+a+a+…` from overflowing the stack.
pub const MAX_DEPTH: usize = 64;

/// A parsed expression, ready to be evaluated any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    /// The original text, kept for `Display` and error reports.
    source: String,
    /// The syntax tree; its height is at most [`MAX_DEPTH`].
    root: Node,
}

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

// ---------------------------------------------------------------------------------------
// Syntax tree

/// A node of the parsed expression.
#[derive(Debug, Clone, PartialEq)]
enum Node {
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
enum BinaryOp {
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

// ---------------------------------------------------------------------------------------
// Lexer

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Question,
    Colon,
    Not,
    Op(BinaryOp),
    End,
}

/// A token and the byte offset where it starts, for error messages.
#[derive(Debug)]
struct Token {
    tok: Tok,
    offset: usize,
}

/// Splits source text into tokens.
struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str) -> Self {
        Self { src, pos: 0 }
    }

    fn tokenize(mut self) -> Result<Vec<Token>, ExprError> {
        let mut tokens = Vec::new();
        loop {
            self.skip_whitespace();
            let offset = self.pos;
            let tok = self.next_token()?;
            let end = tok == Tok::End;
            tokens.push(Token { tok, offset });
            if end {
                return Ok(tokens);
            }
        }
    }

    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn error(&self, message: &'static str) -> ExprError {
        ExprError::Syntax {
            offset: self.pos,
            message,
        }
    }

    fn next_token(&mut self) -> Result<Tok, ExprError> {
        let Some(c) = self.peek() else {
            return Ok(Tok::End);
        };
        if c == '\'' || c == '"' {
            return self.string(c);
        }
        if c.is_ascii_digit() {
            return self.number();
        }
        if c.is_ascii_alphabetic() || c == '_' {
            return Ok(self.identifier());
        }
        self.punctuation()
    }

    fn punctuation(&mut self) -> Result<Tok, ExprError> {
        const TWO: [(&str, Tok); 6] = [
            ("==", Tok::Op(BinaryOp::Eq)),
            ("!=", Tok::Op(BinaryOp::Ne)),
            ("<=", Tok::Op(BinaryOp::Le)),
            (">=", Tok::Op(BinaryOp::Ge)),
            ("&&", Tok::Op(BinaryOp::And)),
            ("||", Tok::Op(BinaryOp::Or)),
        ];
        if let Some((text, tok)) = TWO.iter().find(|(text, _)| self.rest().starts_with(text)) {
            self.pos += text.len();
            return Ok(tok.clone());
        }
        let tok = match self.rest().as_bytes()[0] {
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'.' => Tok::Dot,
            b',' => Tok::Comma,
            b'?' => Tok::Question,
            b':' => Tok::Colon,
            b'!' => Tok::Not,
            b'<' => Tok::Op(BinaryOp::Lt),
            b'>' => Tok::Op(BinaryOp::Gt),
            b'+' => Tok::Op(BinaryOp::Add),
            b'-' => Tok::Op(BinaryOp::Sub),
            _ => return Err(self.error("unexpected character")),
        };
        self.pos += 1;
        Ok(tok)
    }

    fn identifier(&mut self) -> Tok {
        let len = self
            .rest()
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &self.rest()[..len];
        self.pos += len;
        Tok::Ident(name.to_owned())
    }

    fn number(&mut self) -> Result<Tok, ExprError> {
        let start = self.pos;
        self.skip_digits();
        let mut is_float = false;
        let after_int = self.rest().as_bytes();
        if after_int.first() == Some(&b'.') && after_int.get(1).is_some_and(u8::is_ascii_digit) {
            is_float = true;
            self.pos += 1;
            self.skip_digits();
        }
        if matches!(self.rest().as_bytes().first(), Some(b'e' | b'E')) {
            is_float = true;
            self.pos += 1;
            if matches!(self.rest().as_bytes().first(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.rest().starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.error("malformed exponent"));
            }
            self.skip_digits();
        }
        let text = &self.src[start..self.pos];
        let number = if is_float {
            text.parse::<f64>().ok().and_then(Number::from_f64)
        } else {
            text.parse::<i64>().ok().map(Number::from)
        };
        number.map(Tok::Num).ok_or(ExprError::Syntax {
            offset: start,
            message: "number out of range",
        })
    }

    fn skip_digits(&mut self) {
        self.pos += self.rest().bytes().take_while(u8::is_ascii_digit).count();
    }

    fn string(&mut self, quote: char) -> Result<Tok, ExprError> {
        let start = self.pos;
        self.pos += quote.len_utf8();
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(ExprError::Syntax {
                    offset: start,
                    message: "unterminated string literal",
                });
            };
            self.pos += c.len_utf8();
            match c {
                _ if c == quote => return Ok(Tok::Str(value)),
                '\\' => value.push(self.escape()?),
                _ => value.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, ExprError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated string literal"));
        };
        self.pos += c.len_utf8();
        Ok(match c {
            '\\' | '\'' | '"' | '`' | '?' => c,
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'a' => '\u{07}',
            'b' => '\u{08}',
            'f' => '\u{0C}',
            'v' => '\u{0B}',
            'u' => self.unicode_escape()?,
            _ => return Err(self.error("unknown escape sequence")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, ExprError> {
        let hex = self
            .rest()
            .get(..4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let c = hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(c)
    }
}

// ---------------------------------------------------------------------------------------
// Parser

/// Recursive-descent parser; precedence from loosest to tightest:
/// `?:`, `||`, `&&`, relations (`== != < <= > >= in`), `+ -`, unary `! -`, member/index.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Height of the tree above the node being parsed; bounded by [`MAX_DEPTH`].
    depth: usize,
}

type ParseResult = Result<Node, ExprError>;

impl Parser {
    fn new(tokens: Vec<Token>) -> Self {
        Self {
            tokens,
            pos: 0,
            depth: 0,
        }
    }

    fn parse(mut self) -> ParseResult {
        let root = self.conditional()?;
        match self.peek() {
            Tok::End => Ok(root),
            _ => Err(self.error("unexpected token after expression")),
        }
    }

    fn peek(&self) -> &Tok {
        // The lexer always ends the stream with `End`, and nothing advances past it.
        self.tokens.get(self.pos).map_or(&Tok::End, |t| &t.tok)
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if tok != Tok::End {
            self.pos += 1;
        }
        tok
    }

    fn eat(&mut self, expected: &Tok) -> bool {
        let found = self.peek() == expected;
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, expected: &Tok, message: &'static str) -> Result<(), ExprError> {
        if self.eat(expected) {
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn error(&self, message: &'static str) -> ExprError {
        let offset = self.tokens.get(self.pos).map_or(0, |t| t.offset);
        ExprError::Syntax { offset, message }
    }

    /// Records one more level of tree height, failing past [`MAX_DEPTH`].
    fn deepen(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::TooDeep);
        }
        Ok(())
    }

    /// Runs `f` one level deeper, restoring the depth afterwards.
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> ParseResult) -> ParseResult {
        let saved = self.depth;
        self.deepen()?;
        let node = f(self)?;
        self.depth = saved;
        Ok(node)
    }

    fn conditional(&mut self) -> ParseResult {
        self.nested(|p| {
            let condition = p.or()?;
            if !p.eat(&Tok::Question) {
                return Ok(condition);
            }
            let then = p.conditional()?;
            p.expect(&Tok::Colon, "expected `:` in conditional")?;
            let otherwise = p.conditional()?;
            Ok(Node::Conditional(
                Box::new(condition),
                Box::new(then),
                Box::new(otherwise),
            ))
        })
    }

    fn or(&mut self) -> ParseResult {
        self.left_assoc(&[BinaryOp::Or], Self::and)
    }

    fn and(&mut self) -> ParseResult {
        self.left_assoc(&[BinaryOp::And], Self::relation)
    }

    fn relation(&mut self) -> ParseResult {
        use BinaryOp::{Eq, Ge, Gt, In, Le, Lt, Ne};
        self.left_assoc(&[Eq, Ne, Lt, Le, Gt, Ge, In], Self::additive)
    }

    fn additive(&mut self) -> ParseResult {
        self.left_assoc(&[BinaryOp::Add, BinaryOp::Sub], Self::unary)
    }

    /// Parses `operand (op operand)*` into a left-leaning tree; each `op` adds a level.
    fn left_assoc(
        &mut self,
        ops: &[BinaryOp],
        operand: fn(&mut Self) -> ParseResult,
    ) -> ParseResult {
        let saved = self.depth;
        let mut left = operand(self)?;
        while let Some(op) = self.binary_op(ops) {
            self.advance();
            self.deepen()?;
            let right = operand(self)?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        self.depth = saved;
        Ok(left)
    }

    /// The next token as one of `ops`, if it is one; `in` is an identifier token.
    fn binary_op(&self, ops: &[BinaryOp]) -> Option<BinaryOp> {
        let op = match self.peek() {
            Tok::Op(op) => *op,
            Tok::Ident(name) if name == "in" => BinaryOp::In,
            _ => return None,
        };
        ops.contains(&op).then_some(op)
    }

    fn unary(&mut self) -> ParseResult {
        if self.eat(&Tok::Not) {
            return self.nested(|p| Ok(Node::Not(Box::new(p.unary()?))));
        }
        if self.eat(&Tok::Op(BinaryOp::Sub)) {
            return self.nested(|p| Ok(Node::Negate(Box::new(p.unary()?))));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> ParseResult {
        let saved = self.depth;
        let mut node = self.primary()?;
        loop {
            if self.eat(&Tok::Dot) {
                self.deepen()?;
                let Tok::Ident(field) = self.advance() else {
                    return Err(self.error("expected a field name after `.`"));
                };
                node = Node::Member(Box::new(node), field);
            } else if self.eat(&Tok::LBracket) {
                self.deepen()?;
                let key = self.conditional()?;
                self.expect(&Tok::RBracket, "expected `]`")?;
                node = Node::Index(Box::new(node), Box::new(key));
            } else {
                self.depth = saved;
                return Ok(node);
            }
        }
    }

    fn primary(&mut self) -> ParseResult {
        let offset_error = self.error("expected a value");
        match self.advance() {
            Tok::Num(n) => Ok(Node::Literal(Value::Number(n))),
            Tok::Str(s) => Ok(Node::Literal(Value::String(s))),
            Tok::Ident(name) => Ok(match name.as_str() {
                "true" => Node::Literal(Value::Bool(true)),
                "false" => Node::Literal(Value::Bool(false)),
                "null" => Node::Literal(Value::Null),
                _ => Node::Variable(name),
            }),
            Tok::LParen => {
                let inner = self.conditional()?;
                self.expect(&Tok::RParen, "expected `)`")?;
                Ok(inner)
            }
            Tok::LBracket => self.nested(Self::list_items),
            _ => Err(offset_error),
        }
    }

    /// Parses the items of a list literal after its `[`.
    fn list_items(&mut self) -> ParseResult {
        let mut items = Vec::new();
        if self.eat(&Tok::RBracket) {
            return Ok(Node::List(items));
        }
        loop {
            items.push(self.conditional()?);
            if self.eat(&Tok::RBracket) {
                return Ok(Node::List(items));
            }
            self.expect(&Tok::Comma, "expected `,` or `]` in list")?;
            // CEL allows a trailing comma.
            if self.eat(&Tok::RBracket) {
                return Ok(Node::List(items));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// Shared `null` for missing fields, so lookups can borrow instead of allocating.
static NULL: Value = Value::Null;

/// Evaluates `node`, borrowing from the variables and literals wherever possible.
fn eval<'a>(node: &'a Node, vars: &[(&str, &'a Value)]) -> Result<Cow<'a, Value>, ExprError> {
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
fn is_true(value: &Value) -> bool {
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

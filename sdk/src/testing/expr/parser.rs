//! Recursive-descent parser from tokens to a depth-bounded syntax tree.

use serde_json::Value;

use super::ast::{BinaryOp, Node};
use super::error::{ExprError, MAX_DEPTH};
use super::lexer::{Tok, Token};

/// Recursive-descent parser; precedence from loosest to tightest:
/// `?:`, `||`, `&&`, relations (`== != < <= > >= in`), `+ -`, unary `! -`, member/index.
pub(super) struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Height of the tree above the node being parsed; bounded by [`MAX_DEPTH`].
    depth: usize,
}

type ParseResult = Result<Node, ExprError>;

impl Parser {
    pub(super) fn new(tokens: Vec<Token>) -> Self {
        Self {
            tokens,
            pos: 0,
            depth: 0,
        }
    }

    pub(super) fn parse(mut self) -> ParseResult {
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

//! Splits expression source into tokens.

use serde_json::Number;

use super::ast::BinaryOp;
use super::error::ExprError;

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) offset: usize,
}

/// Splits source text into tokens.
pub(super) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    pub(super) fn new(src: &'s str) -> Self {
        Self { src, pos: 0 }
    }

    pub(super) fn tokenize(mut self) -> Result<Vec<Token>, ExprError> {
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

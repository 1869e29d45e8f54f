//! Prisma 7's `prisma.config.ts`: where the schema, the migrations, the seed command and the
//! views folder are. devdb never runs the file (it is TypeScript that may import anything); it
//! reads the default export's object literal with a small tokenizer and understands string
//! literals and `path.join(...)`/`path.resolve(...)` of literals (and `__dirname`,
//! `import.meta.dirname`). A setting written any other way is kept as `Unreadable` with its line,
//! and becomes an error naming file:line and the x-devdb setting to write instead only when
//! devdb needs it. A full TS parser (oxc, swc: dozens of crates and minutes of build on this
//! project's 2-core machines) would still leave anything computed unevaluated, so it would
//! reject exactly what this rejects.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The names Prisma 7 looks for in the project root, in its order.
pub const FILE_NAMES: &[&str] = &[
    "prisma.config.ts",
    "prisma.config.mts",
    "prisma.config.cts",
    "prisma.config.js",
    "prisma.config.mjs",
    "prisma.config.cjs",
];

/// One setting as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting<T> {
    Value(T),
    /// Written as something devdb does not evaluate (a variable, a call, a template with `${}`).
    Unreadable {
        line: usize,
        text: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrismaConfig {
    pub file: PathBuf,
    /// `schema`, relative paths resolved against the config file's folder (as Prisma does).
    pub schema: Option<Setting<PathBuf>>,
    /// `migrations.path`.
    pub migrations: Option<Setting<PathBuf>>,
    /// `migrations.seed`: a shell command line, run from the config file's folder.
    pub seed: Option<Setting<String>>,
    /// `views.path`.
    pub views: Option<Setting<PathBuf>>,
}

impl PrismaConfig {
    /// The value of `setting`, or an error naming where it is written and `instead`, the
    /// next step (usually the x-devdb setting that replaces it).
    pub fn require<'a, T>(
        &self,
        setting: &'a Option<Setting<T>>,
        name: &str,
        instead: &str,
    ) -> Result<Option<&'a T>, ConfigError> {
        match setting {
            None => Ok(None),
            Some(Setting::Value(value)) => Ok(Some(value)),
            Some(Setting::Unreadable { line, text }) => Err(ConfigError::Syntax {
                path: self.file.clone(),
                line: *line,
                column: 1,
                message: format!(
                    "`{name}` is `{text}`, which devdb does not evaluate (it reads string literals \
                     and path.join(...) of literals)"
                ),
                hint: Some(format!("write it as a literal, or {instead}")),
            }),
        }
    }

    /// The schema path when it is readable; an unreadable one is an error naming the fix.
    pub fn schema_path(&self) -> Result<Option<PathBuf>, ConfigError> {
        self.require(
            &self.schema,
            "schema",
            "pass --schema PATH, or set the `schema:` of x-devdb.generate's `prisma` generator",
        )
        .map(|p| p.cloned())
    }
}

/// The project's prisma.config.* in `dir`, parsed; None when there is none.
pub fn find(dir: &Path) -> Result<Option<PrismaConfig>, ConfigError> {
    for name in FILE_NAMES {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
    }
    Ok(None)
}

/// Reads the default export of `text` (the file at `path`).
pub fn parse(path: &Path, text: &str) -> Result<PrismaConfig, ConfigError> {
    let tokens = tokenize(text).map_err(|(line, message)| syntax(path, line, message))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut reader = Reader {
        tokens: &tokens,
        at: 0,
        dir,
    };
    let object = reader
        .default_export()
        .map_err(|(line, message)| syntax(path, line, message))?;
    let mut config = PrismaConfig {
        file: path.to_path_buf(),
        ..PrismaConfig::default()
    };
    for (key, value) in object {
        match (key.as_str(), value) {
            ("schema", value) => config.schema = Some(as_path(value, dir)),
            ("migrations", Value::Object(fields)) => {
                for (key, value) in fields {
                    match key.as_str() {
                        "path" => config.migrations = Some(as_path(value, dir)),
                        "seed" => config.seed = Some(as_text(value)),
                        _ => {}
                    }
                }
            }
            ("views", Value::Object(fields)) => {
                for (key, value) in fields {
                    if key == "path" {
                        config.views = Some(as_path(value, dir));
                    }
                }
            }
            ("migrations" | "views", Value::Other { line, text }) => {
                let setting = Setting::Unreadable { line, text };
                match key.as_str() {
                    "migrations" => config.migrations = Some(setting),
                    _ => config.views = Some(setting),
                }
            }
            _ => {}
        }
    }
    Ok(config)
}

fn syntax(path: &Path, line: usize, message: String) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column: 1,
        message,
        hint: Some(
            "devdb reads `export default defineConfig({ ... })` (or `export default { ... }`) \
             with literal values; set the paths in x-devdb instead (`migrations:`, `seed:`)"
                .into(),
        ),
    }
}

fn as_path(value: Value, dir: &Path) -> Setting<PathBuf> {
    match value {
        Value::Text(text) => Setting::Value(super::clean_path(&dir.join(text))),
        Value::Path(path) => Setting::Value(super::clean_path(&dir.join(path))),
        Value::Object(_) => Setting::Unreadable {
            line: 0,
            text: "{ ... }".into(),
        },
        Value::Other { line, text } => Setting::Unreadable { line, text },
    }
}

fn as_text(value: Value) -> Setting<String> {
    match value {
        Value::Text(text) => Setting::Value(text),
        Value::Path(path) => Setting::Value(path.display().to_string()),
        Value::Object(_) => Setting::Unreadable {
            line: 0,
            text: "{ ... }".into(),
        },
        Value::Other { line, text } => Setting::Unreadable { line, text },
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    /// A template literal with `${...}` in it: not a literal.
    Template(String),
    Punct(char),
    Other(String),
}

/// Tokens with their 1-based line; an unterminated string or comment is (line, message).
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, (usize, String)> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
    };
    let mut tokens = Vec::new();
    while let Some(c) = lexer.at(0) {
        let start_line = lexer.line;
        match c {
            '\n' => {
                lexer.line += 1;
                lexer.i += 1;
            }
            c if c.is_whitespace() => lexer.i += 1,
            '/' if lexer.at(1) == Some('/') => {
                while lexer.at(0).is_some_and(|c| c != '\n') {
                    lexer.i += 1;
                }
            }
            '/' if lexer.at(1) == Some('*') => lexer.block_comment(start_line)?,
            '"' | '\'' | '`' => tokens.push((lexer.string(c, start_line)?, start_line)),
            c if is_word_char(c) => tokens.push((lexer.word(), start_line)),
            '{' | '}' | '(' | ')' | '[' | ']' | ',' | ':' | '.' | ';' => {
                tokens.push((Token::Punct(c), start_line));
                lexer.i += 1;
            }
            other => {
                tokens.push((Token::Other(other.to_string()), start_line));
                lexer.i += 1;
            }
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The text being tokenized, the position in it and the line there.
struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
}

impl Lexer {
    /// The character `offset` after the position.
    fn at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.i + offset).copied()
    }

    /// Past a `/* ... */` comment starting at the position.
    fn block_comment(&mut self, start_line: usize) -> Result<(), (usize, String)> {
        self.i += 2;
        loop {
            match self.at(0) {
                None => return Err((start_line, "a /* comment is not closed".into())),
                Some('*') if self.at(1) == Some('/') => break,
                Some('\n') => self.line += 1,
                _ => {}
            }
            self.i += 1;
        }
        self.i += 2;
        Ok(())
    }

    /// A string opened with `quote` at the position: its value with escapes read, a template
    /// literal when it interpolates `${...}`.
    fn string(&mut self, quote: char, start_line: usize) -> Result<Token, (usize, String)> {
        let unclosed = || {
            (
                start_line,
                format!("a string opened with {quote} is not closed"),
            )
        };
        let mut value = String::new();
        let mut interpolated = false;
        self.i += 1;
        loop {
            let ch = self.at(0).ok_or_else(unclosed)?;
            self.i += 1;
            match ch {
                ch if ch == quote => break,
                '\\' => {
                    let escaped = self.at(0).unwrap_or('\\');
                    self.i += 1;
                    value.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                '\n' if quote != '`' => return Err(unclosed()),
                '$' if quote == '`' && self.at(0) == Some('{') => {
                    interpolated = true;
                    value.push('$');
                }
                ch => {
                    if ch == '\n' {
                        self.line += 1;
                    }
                    value.push(ch);
                }
            }
        }
        Ok(match interpolated {
            true => Token::Template(value),
            false => Token::Text(value),
        })
    }

    fn word(&mut self) -> Token {
        let mut word = String::new();
        while let Some(ch) = self.at(0).filter(|&c| is_word_char(c)) {
            word.push(ch);
            self.i += 1;
        }
        Token::Word(word)
    }
}

/// A value of the default export's object.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    /// `path.join(...)` of literals.
    Path(PathBuf),
    Object(Vec<(String, Value)>),
    /// Anything else, as written (one line), and where.
    Other {
        line: usize,
        text: String,
    },
}

struct Reader<'a> {
    tokens: &'a [(Token, usize)],
    at: usize,
    dir: &'a Path,
}

type Parsed<T> = Result<T, (usize, String)>;

impl Reader<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.at + ahead).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map_or(1, |(_, l)| *l)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(t, _)| t.clone());
        self.at += 1;
        token
    }

    fn expect(&mut self, punct: char) -> Parsed<()> {
        match self.next() {
            Some(Token::Punct(p)) if p == punct => Ok(()),
            other => Err((
                self.line(),
                format!("expected `{punct}`, found {}", show(other.as_ref())),
            )),
        }
    }

    /// The object after `export default` (through `defineConfig(...)` when it is called).
    fn default_export(&mut self) -> Parsed<Vec<(String, Value)>> {
        while self.at < self.tokens.len() {
            if self.peek() == Some(&word("export")) && self.peek_at(1) == Some(&word("default")) {
                self.at += 2;
                let line = self.line();
                return match self.next() {
                    Some(Token::Punct('{')) => self.object(),
                    Some(Token::Word(call)) if self.peek() == Some(&Token::Punct('(')) => {
                        self.expect('(')?;
                        match self.next() {
                            Some(Token::Punct('{')) => self.object(),
                            other => Err((line, format!("`{call}(` is followed by {}, not an object literal", show(other.as_ref())))),
                        }
                    }
                    other => Err((line, format!("the default export is {}, not an object literal or defineConfig({{ ... }})", show(other.as_ref())))),
                };
            }
            self.at += 1;
        }
        Err((1, "no `export default` found".into()))
    }

    /// The fields of an object whose `{` was just read, through its `}`.
    fn object(&mut self) -> Parsed<Vec<(String, Value)>> {
        let mut fields = Vec::new();
        loop {
            let line = self.line();
            let key = match self.next() {
                Some(Token::Punct('}')) => return Ok(fields),
                Some(Token::Word(key)) | Some(Token::Text(key)) => key,
                Some(Token::Punct('.')) => {
                    // `...spread`: skipped whole; its keys cannot be known.
                    self.skip_value();
                    self.comma_or_end()?;
                    if self.peek() == Some(&Token::Punct('}')) {
                        self.at += 1;
                        return Ok(fields);
                    }
                    continue;
                }
                other => {
                    return Err((
                        line,
                        format!("expected a key, found {}", show(other.as_ref())),
                    ))
                }
            };
            let value = match self.peek() {
                Some(Token::Punct(':')) => {
                    self.at += 1;
                    self.value()?
                }
                // `{ schema }`: shorthand for a variable.
                _ => Value::Other {
                    line,
                    text: key.clone(),
                },
            };
            fields.push((key, value));
            if self.comma_or_end()? {
                return Ok(fields);
            }
        }
    }

    /// Reads `,` (false) or `}` (true).
    fn comma_or_end(&mut self) -> Parsed<bool> {
        match self.peek() {
            Some(Token::Punct(',')) => {
                self.at += 1;
                Ok(false)
            }
            Some(Token::Punct('}')) => {
                self.at += 1;
                Ok(true)
            }
            other => Err((
                self.line(),
                format!("expected `,` or `}}`, found {}", show(other)),
            )),
        }
    }

    fn value(&mut self) -> Parsed<Value> {
        let line = self.line();
        let start = self.at;
        if let Some(Token::Text(text)) = self.peek() {
            let text = text.clone();
            if matches!(self.peek_at(1), Some(Token::Punct(',' | '}'))) {
                self.at += 1;
                return Ok(Value::Text(text));
            }
        }
        if self.peek() == Some(&Token::Punct('{')) {
            self.at += 1;
            return self.object().map(Value::Object);
        }
        if let Some(path) = self.path_call() {
            return Ok(Value::Path(path));
        }
        self.at = start;
        self.skip_value();
        Ok(Value::Other {
            line,
            text: tidy(
                &self.tokens[start..self.at]
                    .iter()
                    .map(|(t, _)| render(t))
                    .collect::<String>(),
            ),
        })
    }

    /// `path.join(...)`, `path.resolve(...)` or `join(...)` of literals, `__dirname` and
    /// `import.meta.dirname`, ended by `,` or `}`; None (position unchanged) otherwise.
    fn path_call(&mut self) -> Option<PathBuf> {
        let start = self.at;
        let result = self.path_call_inner();
        if result.is_none() {
            self.at = start;
        }
        result
    }

    fn path_call_inner(&mut self) -> Option<PathBuf> {
        match self.next()? {
            Token::Word(w) if w == "path" => {
                self.expect('.').ok()?;
                match self.next()? {
                    Token::Word(f) if f == "join" || f == "resolve" => {}
                    _ => return None,
                }
            }
            Token::Word(w) if w == "join" || w == "resolve" => {}
            _ => return None,
        }
        self.expect('(').ok()?;
        let mut path = PathBuf::new();
        loop {
            match self.next()? {
                Token::Text(part) => path.push(part),
                Token::Word(w) if w == "__dirname" => path.push(self.dir),
                Token::Word(w) if w == "import" => {
                    self.expect('.').ok()?;
                    (self.next()? == word("meta")).then_some(())?;
                    self.expect('.').ok()?;
                    (self.next()? == word("dirname")).then_some(())?;
                    path.push(self.dir);
                }
                _ => return None,
            }
            match self.next()? {
                Token::Punct(',') if self.peek() == Some(&Token::Punct(')')) => {
                    self.at += 1;
                    break;
                }
                Token::Punct(',') => {}
                Token::Punct(')') => break,
                _ => return None,
            }
        }
        matches!(self.peek(), Some(Token::Punct(',' | '}'))).then_some(path)
    }

    /// Skips one value: balanced brackets up to a `,` or `}` at depth 0.
    fn skip_value(&mut self) {
        let mut depth = 0usize;
        while let Some(token) = self.peek() {
            match token {
                Token::Punct('{' | '(' | '[') => depth += 1,
                Token::Punct('}' | ')' | ']') if depth == 0 => return,
                Token::Punct('}' | ')' | ']') => depth -= 1,
                Token::Punct(',') if depth == 0 => return,
                _ => {}
            }
            self.at += 1;
        }
    }
}

fn word(text: &str) -> Token {
    Token::Word(text.to_string())
}

fn render(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("{w} "),
        Token::Text(t) => format!("{t:?}"),
        Token::Template(t) => format!("`{t}`"),
        Token::Punct(p) => p.to_string(),
        Token::Other(o) => o.clone(),
    }
}

/// Rendered tokens as one would write them: no space before `.`, `(`, `)` or `,`.
fn tidy(text: &str) -> String {
    let mut text = text.to_string();
    for (from, to) in [(" .", "."), (" (", "("), (" )", ")"), (" ,", ",")] {
        text = text.replace(from, to);
    }
    text.trim().to_string()
}

fn show(token: Option<&Token>) -> String {
    match token {
        None => "the end of the file".into(),
        Some(token) => format!("`{}`", tidy(&render(token))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> PrismaConfig {
        parse(Path::new("/repo/prisma.config.ts"), text).unwrap()
    }

    #[test]
    fn prisma_7s_usual_file() {
        let config = read(
            "import 'dotenv/config';\nimport { defineConfig, env } from \"prisma/config\";\nimport path from 'node:path';\n\n\
             // where things are\nexport default defineConfig({\n  schema: 'prisma/schema.prisma',\n  \
             migrations: {\n    path: path.join(\"db\", 'migrations'),\n    seed: `tsx prisma/seed.ts`,\n  },\n  \
             views: { path: path.join(__dirname, 'prisma', 'views') },\n  /* the URL */\n  datasource: { url: env('DATABASE_URL') },\n});\n",
        );
        assert_eq!(
            config.schema,
            Some(Setting::Value("/repo/prisma/schema.prisma".into()))
        );
        assert_eq!(
            config.migrations,
            Some(Setting::Value("/repo/db/migrations".into()))
        );
        assert_eq!(
            config.seed,
            Some(Setting::Value("tsx prisma/seed.ts".into()))
        );
        assert_eq!(
            config.views,
            Some(Setting::Value("/repo/prisma/views".into()))
        );
    }

    #[test]
    fn a_plain_object_with_satisfies_and_relative_parents() {
        let config = read(
            "export default {\n  \"schema\": \"../shared/schema.prisma\",\n} satisfies PrismaConfig;\n",
        );
        assert_eq!(
            config.schema,
            Some(Setting::Value("/shared/schema.prisma".into()))
        );
        assert_eq!(config.migrations, None);
    }

    #[test]
    fn a_computed_setting_is_kept_with_its_line_and_fails_only_when_needed() {
        let config = read(
            "const dir = process.env.DIR;\nexport default defineConfig({\n  schema: 'schema.prisma',\n  \
             migrations: { path: `${dir}/migrations`, seed: process.env.SEED },\n});\n",
        );
        assert!(config.schema_path().is_ok());
        match &config.migrations {
            Some(Setting::Unreadable { line, text }) => {
                assert_eq!(*line, 4);
                assert!(text.contains("${dir}"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        let err = config
            .require(
                &config.migrations,
                "migrations.path",
                "set x-devdb.migrations",
            )
            .unwrap_err();
        let hint = err.hint().unwrap_or_default();
        let err = err.to_string();
        assert!(
            err.starts_with("/repo/prisma.config.ts:4:1:") && hint.contains("x-devdb.migrations"),
            "{err}"
        );
        assert!(matches!(
            config.seed,
            Some(Setting::Unreadable { line: 4, .. })
        ));
    }

    #[test]
    fn a_shorthand_or_a_spread_is_not_guessed() {
        let config = read(
            "const schema = 'x';\nexport default { schema, ...base, views: { path: 'v' } };\n",
        );
        assert!(matches!(
            config.schema,
            Some(Setting::Unreadable { line: 2, .. })
        ));
        assert_eq!(config.views, Some(Setting::Value("/repo/v".into())));
    }

    #[test]
    fn a_file_devdb_cannot_read_names_its_line() {
        for (text, line) in [
            ("const config = {};\n\nexport default config;\n", 3),
            ("import { defineConfig } from 'prisma/config';\nexport default defineConfig(config);\n", 2),
            ("export default {\n  schema: 'open\n};\n", 2),
            ("import x from 'y';\n", 1),
        ] {
            let err = parse(Path::new("/repo/prisma.config.ts"), text).unwrap_err();
            let hint = err.hint().unwrap_or_default();
            let err = err.to_string();
            assert!(
                err.starts_with(&format!("/repo/prisma.config.ts:{line}:")) && hint.contains("x-devdb"),
                "{text:?}: {err}"
            );
        }
    }
}

//! What a user's existing schema.prisma says, as far as `prisma db pull` keeps it on
//! re-introspection: the generator/datasource blocks, names given with `@@map`/`@map`, `///`
//! comments, `@@ignore`/`@ignore`, relation field names and the order of blocks.
//! A line-based reader of the PSL that `prisma format` writes; anything it does not understand
//! is simply not carried over (as if the block were new).

/// A `generator` or `datasource` block: its kind, name and `key = value` lines, in order.
#[derive(Debug, Clone, Default)]
pub struct ConfigBlock {
    pub kind: String,
    pub name: String,
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct PreviousModel {
    pub name: String,
    /// `@@map`, when given.
    pub mapped: Option<String>,
    pub is_view: bool,
    pub docs: Vec<String>,
    pub ignored: bool,
    pub fields: Vec<PreviousField>,
    /// `@@unique(...)`/`@@index(...)` lines as written (a view's indexes live only in the file).
    pub indexes: Vec<String>,
}

impl PreviousModel {
    pub fn database_name(&self) -> &str {
        self.mapped.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PreviousField {
    pub name: String,
    pub mapped: Option<String>,
    /// The type without `?`/`[]`.
    pub type_name: String,
    /// The type as written (`String?`, `Post[]`).
    pub field_type: String,
    /// The attributes as written, after the type.
    pub attributes: String,
    pub docs: Vec<String>,
    pub ignored: bool,
    pub updated_at: bool,
    /// The argument of `@default(...)`, as written.
    pub default: Option<String>,
    /// `@unique` or `@unique(...)` as written (a view's unique fields live only in the file).
    pub unique: Option<String>,
    pub relation: Option<PreviousRelation>,
}

impl PreviousField {
    pub fn database_name(&self) -> &str {
        self.mapped.as_deref().unwrap_or(&self.name)
    }

    pub fn required(&self) -> bool {
        !self.field_type.ends_with('?') && !self.field_type.ends_with("[]")
    }

    pub fn list(&self) -> bool {
        self.field_type.ends_with("[]")
    }

    /// A default Prisma's client generates (`uuid()`, `cuid(2)`, `nanoid(8)`...), which the
    /// database cannot show, so `db pull` keeps it from the file on text columns.
    pub fn client_generated_default(&self) -> Option<&str> {
        let default = self.default.as_deref()?.trim();
        ["uuid(", "cuid(", "nanoid("]
            .iter()
            .any(|f| default.starts_with(f))
            .then_some(default)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PreviousRelation {
    pub name: Option<String>,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PreviousEnum {
    pub name: String,
    pub mapped: Option<String>,
    pub docs: Vec<String>,
    /// (name, `@map` value).
    pub values: Vec<(String, Option<String>)>,
}

impl PreviousEnum {
    pub fn database_name(&self) -> &str {
        self.mapped.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub config: Vec<ConfigBlock>,
    pub models: Vec<PreviousModel>,
    pub enums: Vec<PreviousEnum>,
}

impl Previous {
    pub fn parse(text: &str) -> Previous {
        let mut previous = Previous::default();
        let mut docs: Vec<String> = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let trimmed = line.trim();
            if let Some(doc) = trimmed.strip_prefix("///") {
                docs.push(doc.strip_prefix(' ').unwrap_or(doc).to_string());
                continue;
            }
            let Some((kind, name)) = block_start(trimmed) else {
                if !trimmed.is_empty() {
                    docs.clear();
                }
                continue;
            };
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "}").collect();
            let block_docs = std::mem::take(&mut docs);
            match kind {
                "generator" | "datasource" => previous.config.push(config_block(kind, name, &body)),
                "model" | "view" => {
                    previous
                        .models
                        .push(model_block(name, kind == "view", block_docs, &body))
                }
                "enum" => previous.enums.push(enum_block(name, block_docs, &body)),
                _ => {}
            }
        }
        previous
    }

    pub fn model(&self, database_name: &str, is_view: bool) -> Option<&PreviousModel> {
        self.models
            .iter()
            .find(|m| m.is_view == is_view && m.database_name() == database_name)
    }

    pub fn model_position(&self, database_name: &str, is_view: bool) -> Option<usize> {
        self.models
            .iter()
            .position(|m| m.is_view == is_view && m.database_name() == database_name)
    }

    pub fn enum_type(&self, database_name: &str) -> Option<&PreviousEnum> {
        self.enums
            .iter()
            .find(|e| e.database_name() == database_name)
    }

    pub fn enum_position(&self, database_name: &str) -> Option<usize> {
        self.enums
            .iter()
            .position(|e| e.database_name() == database_name)
    }
}

fn block_start(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_suffix('{')?.trim_end();
    let (kind, name) = rest.split_once(char::is_whitespace)?;
    matches!(
        kind,
        "generator" | "datasource" | "model" | "view" | "enum" | "type"
    )
    .then(|| (kind, name.trim()))
}

fn config_block(kind: &str, name: &str, body: &[&str]) -> ConfigBlock {
    ConfigBlock {
        kind: kind.to_string(),
        name: name.to_string(),
        properties: body
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    }
}

fn model_block(name: &str, is_view: bool, docs: Vec<String>, body: &[&str]) -> PreviousModel {
    let mut model = PreviousModel {
        name: name.to_string(),
        is_view,
        docs,
        ..PreviousModel::default()
    };
    let mut field_docs = Vec::new();
    for line in body {
        let line = line.trim();
        if let Some(doc) = line.strip_prefix("///") {
            field_docs.push(doc.strip_prefix(' ').unwrap_or(doc).to_string());
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            field_docs.clear();
            continue;
        }
        if let Some(attribute) = line.strip_prefix("@@") {
            if let Some(mapped) = attribute.strip_prefix("map(").and_then(first_string) {
                model.mapped = Some(mapped);
            } else if attribute.trim() == "ignore" {
                model.ignored = true;
            } else if attribute.starts_with("unique(") || attribute.starts_with("index(") {
                model.indexes.push(line.to_string());
            }
            continue;
        }
        let Some((field, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        let (field_type, attributes) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        model.fields.push(PreviousField {
            name: field.to_string(),
            mapped: attribute_argument(attributes, "@map(").and_then(|a| first_string(&a)),
            type_name: field_type.trim_end_matches(['?', ']', '[']).to_string(),
            field_type: field_type.to_string(),
            attributes: attributes.trim().to_string(),
            docs: std::mem::take(&mut field_docs),
            ignored: has_attribute(attributes, "@ignore"),
            updated_at: has_attribute(attributes, "@updatedAt"),
            default: attribute_argument(attributes, "@default("),
            unique: unique_attribute(attributes),
            relation: attribute_argument(attributes, "@relation(").map(|a| relation(&a)),
        });
    }
    model
}

fn enum_block(name: &str, docs: Vec<String>, body: &[&str]) -> PreviousEnum {
    let mut enum_type = PreviousEnum {
        name: name.to_string(),
        docs,
        ..PreviousEnum::default()
    };
    for line in body {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if let Some(attribute) = line.strip_prefix("@@") {
            if let Some(mapped) = attribute.strip_prefix("map(").and_then(first_string) {
                enum_type.mapped = Some(mapped);
            }
            continue;
        }
        let (value, attributes) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        enum_type.values.push((
            value.to_string(),
            attribute_argument(attributes, "@map(").and_then(|a| first_string(&a)),
        ));
    }
    enum_type
}

/// `@unique` or `@unique(...)`, as written.
fn unique_attribute(attributes: &str) -> Option<String> {
    if let Some(arguments) = attribute_argument(attributes, "@unique(") {
        return Some(format!("@unique({arguments})"));
    }
    has_attribute(attributes, "@unique").then(|| "@unique".to_string())
}

fn has_attribute(attributes: &str, name: &str) -> bool {
    attributes
        .split_whitespace()
        .any(|word| word == name || word.starts_with(&format!("{name}(")))
}

/// The text between the parentheses of `name(...)`, balancing nested brackets and strings.
fn attribute_argument(attributes: &str, name: &str) -> Option<String> {
    let start = attributes.find(name)? + name.len();
    let mut depth = 1;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, c) in attributes[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' | '[' if !in_string => depth += 1,
            ')' | ']' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(attributes[start..start + offset].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// The first string literal of an argument list, unescaped.
fn first_string(arguments: &str) -> Option<String> {
    let start = arguments.find('"')? + 1;
    let mut value = String::new();
    let mut chars = arguments[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            '"' => return Some(value),
            c => value.push(c),
        }
    }
    None
}

fn relation(arguments: &str) -> PreviousRelation {
    let list = |key: &str| -> Vec<String> {
        arguments
            .find(&format!("{key}: ["))
            .and_then(|i| {
                let rest = &arguments[i + key.len() + 3..];
                rest.find(']').map(|end| &rest[..end])
            })
            .map(|inner| {
                inner
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let trimmed = arguments.trim_start();
    let name = if trimmed.starts_with('"') {
        first_string(trimmed)
    } else {
        arguments
            .find("name:")
            .and_then(|i| first_string(&arguments[i..]))
    };
    PreviousRelation {
        name,
        fields: list("fields"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_maps_docs_and_relations() {
        let text = "generator client {\n  provider = \"prisma-client\"\n  // x\n  output   = \"../gen\"\n}\n\n\
            /// People\nmodel User {\n  id        BigInt @id\n  /// when\n  createdAt DateTime @default(now()) @map(\"created_at\") @db.Timestamptz(6)\n  \
            author    users  @relation(\"posts_author\", fields: [author_id], references: [id], onDelete: Cascade)\n\n  @@map(\"users\")\n  @@ignore\n}\n\n\
            enum Mood {\n  happy\n  in_progress @map(\"in progress\")\n\n  @@map(\"mood\")\n}\n";
        let previous = Previous::parse(text);
        assert_eq!(previous.config[0].properties.len(), 2);
        let user = previous.model("users", false).unwrap();
        assert_eq!(user.name, "User");
        assert_eq!(user.docs, ["People"]);
        assert!(user.ignored);
        assert_eq!(user.fields[1].database_name(), "created_at");
        assert_eq!(user.fields[1].docs, ["when"]);
        let relation = user.fields[2].relation.as_ref().unwrap();
        assert_eq!(relation.name.as_deref(), Some("posts_author"));
        assert_eq!(relation.fields, ["author_id"]);
        let mood = previous.enum_type("mood").unwrap();
        assert_eq!(
            mood.values[1],
            ("in_progress".into(), Some("in progress".into()))
        );
    }
}

//! `prisma`: rewrites the models of a `schema.prisma` from introspection, the way
//! `prisma db pull` does, keeping its `generator` and `datasource` blocks. Covers tables,
//! columns with native types, defaults, primary and unique keys, relations from foreign keys
//! (with back-relations), indexes on plain columns, enums and views, for the `public` schema.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::introspect::{ColumnInfo, Constraint, Relation, RelationKind, Schema};

const NO_UNIQUE: &str = "/// The underlying table does not contain a valid unique identifier and can therefore currently not be handled by Prisma Client.";
const DEFAULT_HEADER: &str = "generator client {\n  provider = \"prisma-client-js\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n";

/// The new schema file: the kept blocks of `existing` (or a default header), then the models.
pub fn render(schema: &Schema, existing: Option<&str>, ignore: &[String]) -> String {
    let header = existing
        .map(kept_blocks)
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HEADER.to_string());
    let mut out = header.trim_end().to_string();
    out.push('\n');
    let relations: Vec<&Relation> = schema
        .relations
        .iter()
        .filter(|r| r.schema == "public" && r.partition_of.is_none())
        .collect();
    let back_relations = back_relations(&relations);
    // As `prisma db pull` orders them: models, then views, then enums, each by name.
    let is_view =
        |r: &&&Relation| matches!(r.kind, RelationKind::View | RelationKind::MaterializedView);
    for relation in relations
        .iter()
        .filter(|r| !is_view(r))
        .chain(relations.iter().filter(|r| is_view(r)))
    {
        out.push('\n');
        out.push_str(&model(relation, schema, &back_relations, ignore));
    }
    for enum_type in schema.enums.iter().filter(|e| e.schema == "public") {
        let _ = write!(out, "\nenum {} {{\n", enum_type.name);
        for label in &enum_type.labels {
            if is_identifier(label) {
                let _ = writeln!(out, "  {label}");
            } else {
                let _ = writeln!(
                    out,
                    "  {} @map(\"{}\")",
                    sanitize(label),
                    label.replace('"', "\\\"")
                );
            }
        }
        out.push_str("}\n");
    }
    out
}

/// `generator` and `datasource` blocks, verbatim, in their order.
fn kept_blocks(text: &str) -> String {
    let mut out = String::new();
    let mut keeping = false;
    let mut depth = 0i32;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if depth == 0 && (trimmed.starts_with("generator ") || trimmed.starts_with("datasource ")) {
            keeping = true;
            if !out.is_empty() {
                out.push('\n');
            }
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if keeping {
            out.push_str(line);
            out.push('\n');
            if depth <= 0 {
                keeping = false;
                depth = 0;
            }
        }
    }
    out
}

struct BackRelation {
    /// The model holding the foreign key.
    from: String,
    field: String,
    relation_name: Option<String>,
    one_to_one: bool,
}

fn relation_name(
    relation: &Relation,
    fk: &Constraint,
    target: &str,
    ambiguous: bool,
) -> Option<String> {
    ambiguous.then(|| format!("{}_{}To{target}", relation.name, fk.columns.join("_")))
}

fn foreign_keys(relation: &Relation) -> Vec<&Constraint> {
    relation
        .constraints
        .iter()
        .filter(|c| {
            c.kind == 'f'
                && c.references
                    .as_ref()
                    .is_some_and(|(schema, _, _)| schema == "public")
        })
        .collect()
}

fn is_ambiguous(relation: &Relation, target: &str) -> bool {
    relation.name == target
        || foreign_keys(relation)
            .iter()
            .filter(|c| c.references.as_ref().is_some_and(|r| r.1 == target))
            .count()
            > 1
}

fn back_relations(relations: &[&Relation]) -> BTreeMap<String, Vec<BackRelation>> {
    let mut map: BTreeMap<String, Vec<BackRelation>> = BTreeMap::new();
    for relation in relations {
        for fk in foreign_keys(relation) {
            let Some((_, target, _)) = &fk.references else {
                continue;
            };
            let ambiguous = is_ambiguous(relation, target);
            let name = relation_name(relation, fk, target, ambiguous);
            let field = match &name {
                Some(n) => format!("{}_{n}", relation.name),
                None => relation.name.clone(),
            };
            let one_to_one = relation
                .constraints
                .iter()
                .any(|c| matches!(c.kind, 'p' | 'u') && c.columns == fk.columns);
            map.entry(target.clone()).or_default().push(BackRelation {
                from: relation.name.clone(),
                field,
                relation_name: name,
                one_to_one,
            });
        }
    }
    map
}

fn model(
    relation: &Relation,
    schema: &Schema,
    back: &BTreeMap<String, Vec<BackRelation>>,
    ignore: &[String],
) -> String {
    let is_view = matches!(
        relation.kind,
        RelationKind::View | RelationKind::MaterializedView
    );
    let primary = relation.constraints.iter().find(|c| c.kind == 'p');
    let uniques: Vec<&Constraint> = relation
        .constraints
        .iter()
        .filter(|c| c.kind == 'u')
        .collect();
    let has_identifier = primary.is_some() || !uniques.is_empty();
    let ignored = ignore.iter().any(|i| i == &relation.name) || !has_identifier;
    let mut out = String::new();
    if !has_identifier {
        out.push_str(&NO_UNIQUE.replace("table", if is_view { "view" } else { "table" }));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} {} {{",
        if is_view { "view" } else { "model" },
        relation.name
    );
    let mut lines: Vec<(String, String, String)> = Vec::new();
    for column in &relation.columns {
        let (mut field_type, native) = prisma_type(column, schema);
        let is_list = field_type.ends_with("[]");
        if !column.not_null && !is_list {
            field_type.push('?');
        }
        let mut attributes = Vec::new();
        if let Some(pk) = primary.filter(|pk| pk.columns == [column.name.clone()]) {
            attributes.push(with_map(
                "@id",
                &pk.name,
                &format!("{}_pkey", relation.name),
            ));
        }
        if let Some(default) = default_attribute(column) {
            attributes.push(default);
        }
        if let Some(unique) = uniques.iter().find(|u| u.columns == [column.name.clone()]) {
            attributes.push(with_map(
                "@unique",
                &unique.name,
                &format!("{}_{}_key", relation.name, column.name),
            ));
        }
        if let Some(native) = native {
            attributes.push(native);
        }
        lines.push((field_name(&column.name), field_type, attributes.join(" ")));
    }
    for fk in foreign_keys(relation) {
        let Some((_, target, referenced)) = &fk.references else {
            continue;
        };
        let optional = fk.columns.iter().any(|c| {
            relation
                .columns
                .iter()
                .any(|col| &col.name == c && !col.not_null)
        });
        let name = relation_name(relation, fk, target, is_ambiguous(relation, target));
        let field = match &name {
            Some(n) => format!("{target}_{n}"),
            None => target.clone(),
        };
        let mut arguments = Vec::new();
        if let Some(n) = &name {
            arguments.push(format!("\"{n}\""));
        }
        arguments.push(format!("fields: [{}]", fk.columns.join(", ")));
        arguments.push(format!("references: [{}]", referenced.join(", ")));
        let default_delete = if optional { 'n' } else { 'r' };
        if fk.on_delete != default_delete {
            arguments.push(format!("onDelete: {}", action(fk.on_delete)));
        }
        if fk.on_update != 'c' {
            arguments.push(format!("onUpdate: {}", action(fk.on_update)));
        }
        let default_name = format!("{}_{}_fkey", relation.name, fk.columns.join("_"));
        if fk.name != default_name {
            arguments.push(format!("map: \"{}\"", fk.name));
        }
        lines.push((
            field,
            format!("{target}{}", if optional { "?" } else { "" }),
            format!("@relation({})", arguments.join(", ")),
        ));
    }
    for back_relation in back.get(&relation.name).into_iter().flatten() {
        let field_type = if back_relation.one_to_one {
            format!("{}?", back_relation.from)
        } else {
            format!("{}[]", back_relation.from)
        };
        let attribute = back_relation
            .relation_name
            .as_ref()
            .map(|n| format!("@relation(\"{n}\")"))
            .unwrap_or_default();
        lines.push((back_relation.field.clone(), field_type, attribute));
    }
    let name_width = lines.iter().map(|l| l.0.len()).max().unwrap_or(0);
    let type_width = lines.iter().map(|l| l.1.len()).max().unwrap_or(0);
    for (name, field_type, attributes) in &lines {
        let line = format!("  {name:<name_width$} {field_type:<type_width$} {attributes}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let mut block = Vec::new();
    if let Some(pk) = primary.filter(|pk| pk.columns.len() > 1) {
        block.push(format!(
            "@@id([{}]{})",
            pk.columns.join(", "),
            map_argument(&pk.name, &format!("{}_pkey", relation.name))
        ));
    }
    for unique in uniques.iter().filter(|u| u.columns.len() > 1) {
        let default = format!("{}_{}_key", relation.name, unique.columns.join("_"));
        block.push(format!(
            "@@unique([{}]{})",
            unique.columns.join(", "),
            map_argument(&unique.name, &default)
        ));
    }
    for (index_name, definition) in &relation.indexes {
        if let Some(columns) = plain_btree_columns(definition) {
            let default = format!("{}_{}_idx", relation.name, columns.join("_"));
            block.push(format!(
                "@@index([{}]{})",
                columns.join(", "),
                map_argument(index_name, &default)
            ));
        }
    }
    if ignored {
        block.push("@@ignore".to_string());
    }
    if !block.is_empty() {
        out.push('\n');
        for line in block {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("}\n");
    out
}

fn with_map(attribute: &str, actual: &str, default: &str) -> String {
    if actual == default {
        attribute.to_string()
    } else {
        format!("{attribute}(map: \"{actual}\")")
    }
}

fn map_argument(actual: &str, default: &str) -> String {
    if actual == default {
        String::new()
    } else {
        format!(", map: \"{actual}\"")
    }
}

fn action(code: char) -> &'static str {
    match code {
        'r' => "Restrict",
        'c' => "Cascade",
        'n' => "SetNull",
        'd' => "SetDefault",
        _ => "NoAction",
    }
}

/// Columns of `CREATE INDEX name ON t USING btree (a, b)`; None for expressions or predicates.
fn plain_btree_columns(definition: &str) -> Option<Vec<String>> {
    let (_, rest) = definition.split_once(" USING btree (")?;
    let columns = rest.strip_suffix(')')?;
    let parts: Vec<String> = columns.split(", ").map(str::to_string).collect();
    parts.iter().all(|p| is_identifier(p)).then_some(parts)
}

/// The Prisma scalar type and the native-type attribute Prisma writes for it.
fn prisma_type(column: &ColumnInfo, schema: &Schema) -> (String, Option<String>) {
    if let Some(element) = &column.element_name {
        let element_column = ColumnInfo {
            udt_name: element.clone(),
            type_kind: column.element_kind.clone().unwrap_or_default(),
            type_name: column.type_name.trim_end_matches("[]").to_string(),
            element_name: None,
            element_kind: None,
            ..column.clone()
        };
        let (scalar, native) = prisma_type(&element_column, schema);
        if scalar.starts_with("Unsupported") {
            return (format!("Unsupported(\"{}\")", column.type_name), None);
        }
        return (format!("{scalar}[]"), native);
    }
    if column.type_kind == "e"
        && schema
            .enums
            .iter()
            .any(|e| e.name == column.udt_name && e.schema == "public")
    {
        return (column.udt_name.clone(), None);
    }
    let modifier = column
        .type_name
        .split_once('(')
        .map(|(_, m)| m.trim_end_matches([')', ']', '[']).to_string());
    let native = |name: &str| Some(format!("@db.{name}"));
    let with_modifier = |name: &str, default: &str| {
        Some(format!(
            "@db.{name}({})",
            modifier.clone().unwrap_or_else(|| default.to_string())
        ))
    };
    match column.udt_name.as_str() {
        "int2" => ("Int".into(), native("SmallInt")),
        "int4" => ("Int".into(), None),
        "int8" => ("BigInt".into(), None),
        "float4" => ("Float".into(), native("Real")),
        "float8" => ("Float".into(), None),
        "numeric" => (
            "Decimal".into(),
            modifier
                .as_ref()
                .map(|m| format!("@db.Decimal({})", m.replace(',', ", "))),
        ),
        "money" => ("Decimal".into(), native("Money")),
        "bool" => ("Boolean".into(), None),
        "text" => ("String".into(), None),
        "varchar" => (
            "String".into(),
            Some(
                modifier
                    .as_ref()
                    .map_or("@db.VarChar".to_string(), |m| format!("@db.VarChar({m})")),
            ),
        ),
        "bpchar" => ("String".into(), with_modifier("Char", "1")),
        "uuid" => ("String".into(), native("Uuid")),
        "inet" => ("String".into(), native("Inet")),
        "citext" => ("String".into(), native("Citext")),
        "xml" => ("String".into(), native("Xml")),
        "bit" => ("String".into(), with_modifier("Bit", "1")),
        "varbit" => ("String".into(), native("VarBit")),
        "timestamptz" => ("DateTime".into(), with_modifier("Timestamptz", "6")),
        "timestamp" => ("DateTime".into(), with_modifier("Timestamp", "6")),
        "date" => ("DateTime".into(), native("Date")),
        "time" => ("DateTime".into(), with_modifier("Time", "6")),
        "timetz" => ("DateTime".into(), with_modifier("Timetz", "6")),
        "json" => ("Json".into(), native("Json")),
        "jsonb" => ("Json".into(), None),
        "bytea" => ("Bytes".into(), None),
        _ => (format!("Unsupported(\"{}\")", column.type_name), None),
    }
}

fn default_attribute(column: &ColumnInfo) -> Option<String> {
    if column.identity == "a" || column.identity == "d" {
        return Some("@default(autoincrement())".to_string());
    }
    if column.generated {
        return None;
    }
    let default = column.default.as_deref()?;
    if default.starts_with("nextval(") {
        return Some("@default(autoincrement())".to_string());
    }
    if default == "now()" || default == "CURRENT_TIMESTAMP" {
        return Some("@default(now())".to_string());
    }
    if default == "true" || default == "false" || default.parse::<f64>().is_ok() {
        return Some(format!("@default({default})"));
    }
    if let Some(number) = default
        .strip_prefix('(')
        .and_then(|d| d.strip_suffix(')'))
        .filter(|d| d.parse::<f64>().is_ok())
    {
        return Some(format!("@default({number})"));
    }
    if column.element_name.is_some() && default.starts_with("'{}'::") {
        return Some("@default([])".to_string());
    }
    if let Some(rest) = default.strip_prefix('\'') {
        if let Some((literal, cast)) = rest.rsplit_once("'::") {
            let literal = literal.replace("''", "'");
            if column.type_kind == "e" && is_identifier(&literal) && !cast.ends_with("[]") {
                return Some(format!("@default({literal})"));
            }
            if column.element_name.is_none() {
                return Some(format!(
                    "@default(\"{}\")",
                    literal.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
        }
    }
    Some(format!(
        "@default(dbgenerated(\"{}\"))",
        default.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !text.starts_with(|c: char| c.is_ascii_digit())
}

fn sanitize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if cleaned.starts_with(|c: char| c.is_ascii_digit()) || cleaned.is_empty() {
        format!("_{cleaned}")
    } else {
        cleaned
    }
}

fn field_name(name: &str) -> String {
    if is_identifier(name) {
        name.to_string()
    } else {
        sanitize(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_generator_and_datasource_blocks() {
        let existing = "// comment\ngenerator client {\n  provider = \"prisma-client-js\"\n  previewFeatures = [\"views\"]\n}\n\ndatasource db {\n  provider = \"postgresql\"\n  url = env(\"DB\")\n}\n\nmodel old {\n  id Int @id\n}\n";
        let kept = kept_blocks(existing);
        assert!(
            kept.contains("previewFeatures") && kept.contains("env(\"DB\")"),
            "{kept}"
        );
        assert!(!kept.contains("model old"), "{kept}");
    }

    #[test]
    fn plain_index_columns() {
        assert_eq!(
            plain_btree_columns("CREATE INDEX a_b_idx ON public.a USING btree (b, c)"),
            Some(vec!["b".into(), "c".into()])
        );
        assert_eq!(
            plain_btree_columns("CREATE INDEX x ON public.a USING btree (lower(b))"),
            None
        );
        assert_eq!(
            plain_btree_columns("CREATE INDEX x ON public.a USING gin (b)"),
            None
        );
    }
}
